"""Running the intake service as a child process on a free loopback port (tests and ``bench intake``)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(db_url: str, photo_dir: Path | str, *, workers: int = 1, timeout: float = 60,
          **env_extra) -> tuple[subprocess.Popen, str]:
    """uvicorn serving ``intake.app:create_app`` against ``db_url``; returns (process, base URL) once
    ``/healthz`` answers. Rate limits are off unless ``env_extra`` sets them."""
    import httpx

    port = free_port()
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_PHOTO_DIR": str(photo_dir),
           "INTAKE_RATE_PER_KEY": "0", "INTAKE_RATE_PER_ADDRESS": "0", **{k: str(v) for k, v in env_extra.items()}}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "intake.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the intake service did not start")
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
