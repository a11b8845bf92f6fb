"""scripts/serve.sh and scripts/as-service-user.sh: the app listens on this machine only unless
told otherwise, and started as root it runs as an unprivileged system user."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from db.config import test_database_url

ROOT = Path(__file__).resolve().parents[2]
SERVICE_USER = "gridgov"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> set[str]:
    """The IPv4 addresses something listens on at ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, p = local.split(":")
        if int(p, 16) == port and state == "0A":  # LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
    return found


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def _service_user_can_run_the_venv() -> bool:
    import pwd

    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run([str(ROOT / "scripts/as-service-user.sh"), "true"], cwd=ROOT, check=True)
    return subprocess.run(["setpriv", f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--clear-groups",
                           "test", "-x", str(ROOT / ".venv/bin/python")]).returncode == 0


@pytest.fixture
def serve(tmp_path):
    """Start scripts/serve.sh on a free port with ``env``; (pid, port, output) once healthy."""
    procs = []

    def start(address: str | None = None, **env):
        port = _free_port()
        pidfile = tmp_path / f"app-{port}.pid"
        full = {**os.environ, "DATABASE_URL": test_database_url(), "PIDFILE": str(pidfile), **env}
        full.pop("ADDRESS", None)
        if address:
            full["ADDRESS"] = address
        log = tmp_path / f"app-{port}.log"
        proc = subprocess.Popen([str(ROOT / "scripts/serve.sh"), str(port)], cwd=ROOT, env=full,
                                stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        host = address or "127.0.0.1"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        return int(pidfile.read_text()), port, log.read_text()

    yield start
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and nothing else
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_the_app_listens_on_this_machine_only_unless_told(serve):
    # as root (the service user's part is tested below) so the test runs wherever the venv lives
    pid, port, out = serve(GRIDGOV_SERVICE_USER="root")
    assert _listening(port) == {"127.0.0.1"}
    assert "this machine only" in out
    pid, port, _ = serve("127.0.0.2", GRIDGOV_SERVICE_USER="root")  # ADDRESS is honoured
    assert _listening(port) == {"127.0.0.2"}


@as_root
def test_as_service_user_drops_root_and_owns_only_what_it_writes():
    r = subprocess.run([str(ROOT / "scripts/as-service-user.sh"), "/usr/bin/python3", "-c",
                        "import os; s = open('/proc/self/status').read(); print(os.getuid(), os.getgid(), "
                        "os.environ['HOME'], 'CapEff:\\t0000000000000000' in s, 'NoNewPrivs:\\t1' in s)"],
                       cwd=ROOT, capture_output=True, text=True, check=True)
    import pwd

    u = pwd.getpwnam(SERVICE_USER)
    assert u.pw_shell.endswith("nologin") and not Path(u.pw_dir).exists()
    uid, gid, home, no_caps, no_new_privs = r.stdout.split()
    assert (int(uid), int(gid)) == (u.pw_uid, u.pw_gid) and no_caps == no_new_privs == "True"
    assert Path(home) == ROOT / "var/service-home"
    for writable in ("var/photos", "static/wall", "var/service-home"):
        assert (ROOT / writable).stat().st_uid == u.pw_uid, writable
    secret = ROOT / "var/pg-app-password"
    if secret.exists():  # the application role's database password: the service's alone
        assert secret.stat().st_uid == u.pw_uid and secret.stat().st_mode & 0o077 == 0
    owner = ROOT / "var/pg-password"
    if owner.exists():  # the schema owner's (migrations): never the service's
        assert owner.stat().st_uid == 0 and owner.stat().st_mode & 0o077 == 0
    sample = ROOT / "var/sample-password"
    if sample.exists():  # the sample accounts' password is for the person at the console, not the service
        assert sample.stat().st_uid == 0 and sample.stat().st_mode & 0o077 == 0
    for secret in ("var/pg-password", "var/pg-app-password", "var/sample-password"):
        if (ROOT / secret).exists():
            assert ROOT.joinpath(secret).stat().st_mode & 0o077 == 0


@as_root
def test_started_as_root_the_app_runs_as_the_service_user_or_not_at_all(serve, tmp_path):
    if _service_user_can_run_the_venv():
        pid, port, _ = serve()
        assert _uid(pid) == __import__("pwd").getpwnam(SERVICE_USER).pw_uid
        assert _listening(port) == {"127.0.0.1"}
        return
    # .venv's interpreter is out of the service user's reach here (e.g. pyenv under /root): the
    # app must then refuse to start, saying why, rather than fall back to root
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": test_database_url(), "PIDFILE": str(tmp_path / "pid")}
    env.pop("GRIDGOV_SERVICE_USER", None)
    r = subprocess.run([str(ROOT / "scripts/serve.sh"), str(port)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "cannot read" in r.stderr and "/usr/bin/python3 -m venv" in r.stderr
    assert _listening(port) == set()


@as_root
def test_as_service_user_refuses_clearly_when_the_user_cannot_run_the_command():
    r = subprocess.run([str(ROOT / "scripts/as-service-user.sh"), "/root/.no-such-dir/python"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 1 and "cannot read" in r.stderr and "GRIDGOV_SERVICE_USER=root" in r.stderr
