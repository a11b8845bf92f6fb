"""Running the intake service as a child process on a free loopback port (tests and ``bench intake``)."""
from __future__ import annotations

import os
import signal
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
    ``/healthz`` answers. Rate limits are off unless ``env_extra`` sets them.

    The service runs in a session (and process group) of its own: uvicorn's master, its workers
    and each worker's photo processes (``INTAKE_PHOTO_PROCESSES``). A service that does not answer
    within ``timeout`` (or dies starting) is killed as a group, so no worker or photo process is
    left behind as an orphan; ``stop`` ends the group the same way."""
    import httpx

    port = free_port()
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_PHOTO_DIR": str(photo_dir),
           "INTAKE_RATE_PER_KEY": "0", "INTAKE_RATE_PER_ADDRESS": "0", **{k: str(v) for k, v in env_extra.items()}}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "intake.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            kill_group(proc)
            raise RuntimeError(f"the intake service did not start within {timeout:g} s"
                               if proc.returncode is None or proc.returncode < 0 else
                               f"the intake service exited while starting (status {proc.returncode})")
        time.sleep(0.2)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL every process of ``proc``'s group (``start`` makes it a group leader), then reap
    ``proc``. The group's id cannot be given to another process while any member lives, and once
    none does the call finds nothing, so this never reaches a stranger."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def stop(proc: subprocess.Popen) -> None:
    """Ask uvicorn to shut down (SIGTERM: it stops its workers, which stop their photo processes);
    after 20 s, or once it has exited, kill whatever of its group is still there."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        pass
    kill_group(proc)
