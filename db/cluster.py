"""The project-local PostgreSQL cluster: created under ``var/`` on its own port, never a system one.

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` system
user. If that user cannot reach the repository folder, the data directory is placed under
``/var/lib/gridgov/`` instead and its path is recorded in ``var/pg-datadir``.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from db.config import (APP_PASSWORD_FILE, LOCAL_APP_USER, LOCAL_USER, VAR, local_app_password, local_password,
                       local_port)
from db.secret_file import create_secret, write_secret

PG_BIN = Path("/usr/lib/postgresql/15/bin")
# pg_cron (Debian: postgresql-15-cron) applies scheduled boundary changes with no app running
# (db/schedule.py). Its scheduler lives in one database of the cluster, ``postgres`` (its
# default), and runs each database's job there with cron.schedule_in_database (migration 0014).
PG_CRON_LIB = Path("/usr/lib/postgresql/15/lib/pg_cron.so")
CRON_DATABASE = "postgres"
CRON_CONF = (
    "\n# pg_cron: scheduled boundary changes applied by the database (db/schedule.py)\n"
    "shared_preload_libraries = 'pg_cron'\n"
    f"cron.database_name = '{CRON_DATABASE}'\n"
    # jobs run in background workers: no libpq login (the cluster allows password logins only)
    "cron.use_background_workers = on\n"
    "max_worker_processes = 16\n"
    "cron.log_run = on\n"
)


class ClusterError(RuntimeError):
    pass


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(_as_owner(cmd), check=True, text=True, capture_output=True, **kw)


def _owner_can_reach(path: Path) -> bool:
    if os.geteuid() != 0:
        return True
    r = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(path)], capture_output=True)
    return r.returncode == 0


def data_dir() -> Path:
    recorded = VAR / "pg-datadir"
    if recorded.exists():
        return Path(recorded.read_text().strip())
    VAR.mkdir(exist_ok=True)
    d = VAR / "pgdata"
    if not _owner_can_reach(VAR):
        tag = hashlib.sha1(str(VAR).encode()).hexdigest()[:10]
        d = Path("/var/lib/gridgov") / tag
    recorded.write_text(str(d))
    return d


def _check_binaries() -> None:
    if not (PG_BIN / "initdb").exists():
        raise ClusterError(
            "PostgreSQL 15 is not installed. On Debian 12 as root: "
            "apt-get install postgresql-15 postgresql-15-postgis-3 (or run `make run`), "
            "or set DATABASE_URL to an existing PostGIS 3 server."
        )
    if not Path("/usr/share/postgresql/15/extension/postgis.control").exists():
        raise ClusterError("PostGIS 3 is not installed: apt-get install postgresql-15-postgis-3")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        raise ClusterError("running as root needs `runuser` (util-linux) to start PostgreSQL as postgres")


def _choose_port() -> int:
    """The port for a new cluster: the configured one, or (when none was asked for and the
    default is taken, e.g. by another checkout's cluster) the next free one, recorded in var/."""
    port = local_port()
    if os.environ.get("GRIDGOV_PG_PORT") or not _port_busy(port):
        return port
    for candidate in range(port + 1, port + 100):
        if not _port_busy(candidate):
            print(f">> port {port} is taken; the local cluster will use {candidate}")
            return candidate
    return port


def _init(d: Path) -> None:
    pw = secrets.token_urlsafe(18)
    port = _choose_port()
    d.parent.mkdir(parents=True, exist_ok=True)
    d.mkdir(mode=0o700, exist_ok=True)
    pwfile = d.parent / f".{d.name}.pw"
    write_secret(pwfile, pw)
    if os.geteuid() == 0:
        shutil.chown(d, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    try:
        _run([str(PG_BIN / "initdb"), "-D", str(d), "-U", LOCAL_USER, "--pwfile", str(pwfile),
              "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"])
    finally:
        pwfile.unlink(missing_ok=True)
    conf = d / "postgresql.conf"
    with conf.open("a") as f:
        f.write(
            "\n# gridgov local cluster\n"
            f"listen_addresses = '127.0.0.1'\nport = {port}\n"
            "unix_socket_directories = ''\n"
            "shared_buffers = 512MB\nwork_mem = 64MB\nmaintenance_work_mem = 512MB\n"
            "max_connections = 100\nfsync = on\nsynchronous_commit = on\n"
            "logging_collector = off\n"
        )
    _configure_cron(d)
    (VAR / "pg-port").write_text(f"{port}\n")
    write_secret(VAR / "pg-password", pw)


def _configure_cron(d: Path) -> bool:
    """Preload pg_cron in the cluster's configuration when it is installed and not yet there (a
    cluster made before it was installed gets it at its next start); whether the file changed."""
    conf = d / "postgresql.conf"
    if not PG_CRON_LIB.exists() or not conf.exists() or "cron.database_name" in conf.read_text():
        return False
    with conf.open("a") as f:
        f.write(CRON_CONF)
    return True


def is_running() -> bool:
    d = data_dir()
    if not (d / "PG_VERSION").exists():
        return False
    r = subprocess.run(_as_owner([str(PG_BIN / "pg_ctl"), "-D", str(d), "status"]), capture_output=True)
    return r.returncode == 0


def _port_busy(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start() -> None:
    """Create the cluster if needed and start it; a running cluster is left alone."""
    _check_binaries()
    d = data_dir()
    if not (d / "PG_VERSION").exists():
        if d.exists() and any(d.iterdir()):
            raise ClusterError(f"{d} exists and is not a PostgreSQL data directory; remove it")
        print(f">> initialising local PostgreSQL cluster in {d}")
        _init(d)
    elif local_password() is None:
        raise ClusterError(f"cluster {d} exists but var/pg-password is missing; remove {d} to start afresh")
    if is_running():
        return
    _configure_cron(d)
    log = d.parent / f"{d.name}.log" if d.parent != VAR else VAR / "postgres.log"
    if os.geteuid() == 0:
        log.touch()
        shutil.chown(log, "postgres", "postgres")
    fixed = bool(os.environ.get("GRIDGOV_PG_PORT"))
    port = local_port()
    for _ in range(PORT_ATTEMPTS):
        if _port_busy(port):
            if fixed:
                raise ClusterError(f"port {port} on 127.0.0.1 is in use by another server; "
                                   "stop it (make stop in the other checkout) or set GRIDGOV_PG_PORT to a free port")
            port = _next_free(port)
            continue
        # Another process may take the port between the check above and the server's bind (many
        # clusters and browsers start on a shared machine): then try the next free one.
        log_before = log.stat().st_size if log.exists() else 0
        try:
            _run([str(PG_BIN / "pg_ctl"), "-D", str(d), "-l", str(log), "-o", f"-p {port}", "-w", "-t", "60", "start"])
        except subprocess.CalledProcessError as e:
            if fixed or not _bind_refused(log, log_before):
                raise ClusterError(f"PostgreSQL did not start (see {log}): {(e.stderr or e.stdout or '').strip()}") \
                    from None
            print(f">> port {port} was taken as the server started; trying the next free one")
            port = _next_free(port)
            continue
        if port != local_port():
            _record_port(d, port)
        VAR.joinpath("postgres.logpath").write_text(str(log))
        return
    raise ClusterError(f"no free port for the local cluster after {PORT_ATTEMPTS} attempts from {local_port()}; "
                       "set GRIDGOV_PG_PORT to a free port")


PORT_ATTEMPTS = 20


def _next_free(port: int) -> int:
    for candidate in range(port + 1, port + 100):
        if not _port_busy(candidate):
            return candidate
    raise ClusterError(f"no free port on 127.0.0.1 between {port + 1} and {port + 99}; set GRIDGOV_PG_PORT")


def _bind_refused(log: Path, offset: int) -> bool:
    """Whether the server's log since ``offset`` says it could not bind its port."""
    try:
        with log.open("rb") as f:
            f.seek(offset)
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return False
    return "Address already in use" in tail or "could not create any TCP/IP sockets" in tail


def _record_port(d: Path, port: int) -> None:
    """The cluster now lives on ``port``: in var/pg-port (read by every connection) and in its
    postgresql.conf (the last ``port`` line wins), so a restart keeps it."""
    print(f">> the local cluster now uses port {port} (recorded in {VAR / 'pg-port'})")
    conf = d / "postgresql.conf"
    with conf.open("a") as f:
        f.write(f"\n# moved: the recorded port was taken\nport = {port}\n")
    (VAR / "pg-port").write_text(f"{port}\n")


def ensure_app_role() -> None:
    """The application's role on the local cluster (``db.roles``), created if missing — also on a
    cluster made before the role existed — with its own password in ``var/pg-app-password``."""
    from db.roles import ensure_app_role as ensure

    pw = local_app_password() or create_secret(APP_PASSWORD_FILE, secrets.token_urlsafe(18))
    owner = f"postgresql+psycopg2://{LOCAL_USER}:{local_password()}@127.0.0.1:{local_port()}/postgres"
    if ensure(owner, LOCAL_APP_USER, pw):
        print(f">> created the application's database role {LOCAL_APP_USER} (password in var/pg-app-password)")


def restart() -> None:
    """Restart the running cluster (fast: sessions are cut) and wait until it accepts connections.
    The log file is named again: without it the server would inherit the caller's stdout."""
    d = data_dir()
    log = Path(VAR.joinpath("postgres.logpath").read_text().strip()) if VAR.joinpath("postgres.logpath").exists() \
        else VAR / "postgres.log"
    _run([str(PG_BIN / "pg_ctl"), "-D", str(d), "-l", str(log), "-m", "fast", "-w", "-t", "60", "restart"])


def stop() -> None:
    d = data_dir()
    if is_running():
        _run([str(PG_BIN / "pg_ctl"), "-D", str(d), "-m", "fast", "-w", "stop"])


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if missing, with PostGIS."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + 30
    while True:
        try:
            with admin.connect() as c:
                exists = c.execute(text("SELECT 1 FROM pg_database WHERE datname=:n"), {"n": u.database}).scalar()
                if not exists:
                    c.execute(text(f'CREATE DATABASE "{u.database}" TEMPLATE template0 ENCODING UTF8'))
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    admin.dispose()
    eng = create_engine(u, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    eng.dispose()


def drop_database(url: str) -> None:
    """Drop the database named in ``url`` (a scratch or benchmark database) if it is there, and
    first every pg_cron job that runs in it (``db.schedule.unschedule``: the migrations'
    apply-due and partitions jobs): pg_cron keeps a job whose database is gone and fails it every
    minute."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from db.schedule import unschedule

    try:
        unschedule(url)
    except OperationalError:  # no such database: it can hold no job either
        pass
    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
    finally:
        admin.dispose()
