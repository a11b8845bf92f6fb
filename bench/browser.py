"""The app in a real browser, for the wall benchmark and the end-to-end tests alike: Debian's
Chromium with the flags that work headless as root, and ``streamlit run app.py`` on a free port.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Debian's package: ``playwright install`` cannot download here (TECH-NOTES).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_app(database_url: str | None, *, script: str | Path = "app.py", env: dict | None = None,
              log_prefix: str = "gridgov-app-", start_timeout: float = 60) -> tuple[subprocess.Popen, str]:
    """``streamlit run <script>`` (the app by default) on a free localhost port against
    ``database_url`` (None: the environment's), in a session of its own (so ``stop_app`` ends the
    server and nothing else); returns it and its base URL once it answers its health check. ``env``
    adds to the environment (a None value removes the variable). Its output goes to a temporary
    log file, quoted if it fails."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix=log_prefix, suffix=".log", delete=False)
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           **({"DATABASE_URL": database_url} if database_url else {}), **(env or {})}
    env = {k: v for k, v in env.items() if v is not None}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the app did not start ({log.name}):\n{Path(log.name).read_text()[-3000:]}")
        time.sleep(0.2)


def stop_app(proc: subprocess.Popen) -> None:
    """End the server started by ``serve_app`` (its own process group), forcibly after 10 s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
