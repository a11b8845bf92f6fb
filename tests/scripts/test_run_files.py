"""The Makefile's and the serve scripts' pid and log files go in the data folder
(GRIDGOV_DATA_DIR when set), not in the checkout's var/."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from db.config import test_database_url

ROOT = Path(__file__).resolve().parents[2]


def _make_n(target: str, data_dir: Path | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "GRIDGOV_DATA_DIR"}
    if data_dir is not None:
        env["GRIDGOV_DATA_DIR"] = str(data_dir)
    return subprocess.run(["make", "-n", target], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True).stdout


def test_make_start_and_stop_keep_pid_and_log_files_in_the_data_dir(tmp_path):
    for target in ("start", "stop"):
        out = _make_n(target, tmp_path)
        assert f"{tmp_path}/streamlit.pid" in out, target
        assert "var/streamlit.pid" not in out and "var/intake.pid" not in out, target
    assert f"{tmp_path}/streamlit.log" in _make_n("start", tmp_path)
    assert f"{tmp_path}/intake.pid" in _make_n("stop", tmp_path)
    assert "var/streamlit.pid" in _make_n("stop", None)  # unset: the old layout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_intake_writes_its_pid_and_log_in_the_data_dir(tmp_path):
    before = (ROOT / "var/intake.pid").stat().st_mtime if (ROOT / "var/intake.pid").exists() else None
    env = {**os.environ, "GRIDGOV_DATA_DIR": str(tmp_path), "GRIDGOV_SERVICE_USER": "root",
           "INTAKE_PORT": str(_free_port()), "INTAKE_WORKERS": "1", "DATABASE_URL": test_database_url()}
    env.pop("ADDRESS", None)
    r = subprocess.run([str(ROOT / "scripts/serve-intake.sh"), "--background"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=90)
    pidfile = tmp_path / "intake.pid"
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        assert pidfile.exists() and (tmp_path / "intake.log").exists()
        now = (ROOT / "var/intake.pid").stat().st_mtime if (ROOT / "var/intake.pid").exists() else None
        assert now == before  # the checkout's var/ untouched
    finally:
        if pidfile.exists():
            pid = int(pidfile.read_text())
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_the_service_user_gets_its_home_and_password_from_the_data_dir(tmp_path):
    import pwd

    (tmp_path / "pg-app-password").write_text("x\n")
    (tmp_path / "pg-password").write_text("y\n")
    env = {**os.environ, "GRIDGOV_DATA_DIR": str(tmp_path)}
    env.pop("GRIDGOV_SERVICE_USER", None)
    env.pop("GRIDGOV_PHOTO_DIR", None)
    r = subprocess.run([str(ROOT / "scripts/as-service-user.sh"), "/usr/bin/python3", "-c",
                        "import os; print(os.environ['HOME'])"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    uid = pwd.getpwnam("gridgov").pw_uid
    assert r.stdout.strip() == str(tmp_path / "service-home")
    for mine in ("service-home", "photos", "pg-app-password"):
        assert (tmp_path / mine).stat().st_uid == uid, mine
    assert (tmp_path / "pg-password").stat().st_uid == 0 and (tmp_path / "pg-password").stat().st_mode & 0o077 == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a system user needs root")
def test_creating_the_service_user_leaves_the_commands_output_alone(tmp_path):
    """The first run on a machine creates the service user and says so on stderr: the wrapped
    command's stdout is its own (session 9's fresh clone: the message was on stdout, and the test
    above failed on the machine's first run)."""
    import secrets

    user = "gg_t" + secrets.token_hex(3)
    (tmp_path / "pg-app-password").write_text("x\n")
    env = {**os.environ, "GRIDGOV_DATA_DIR": str(tmp_path), "GRIDGOV_SERVICE_USER": user}
    env.pop("GRIDGOV_PHOTO_DIR", None)
    try:
        r = subprocess.run([str(ROOT / "scripts/as-service-user.sh"), "/usr/bin/python3", "-c", "print('only this')"],
                           cwd=ROOT, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "only this\n"
        assert f"created the system user {user}" in r.stderr
    finally:
        subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", user], capture_output=True)
