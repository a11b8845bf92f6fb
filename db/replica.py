"""Read replicas: walls and charts read from a streaming hot standby, writes and LISTEN stay on the primary.

``DATABASE_REPLICA_URL`` names the standby (the application's role on it). Without it every read
goes to the primary, as before.

A hot standby refuses LISTEN, so a wall still wakes on the primary's notice (``db.live``). The
notice is delivered after the notifying transaction committed; the listener then reads the
primary's current WAL position, which is at or after that commit. A reader that wants the state
the notice announced waits until the standby has replayed up to that position
(``pg_last_wal_replay_lsn() >= lsn``) and only then reads: it never draws older data than the
notice announced. If the standby has not caught up within the wait (replay paused, a slow
disk), the read goes to the primary instead: a lagging replica costs the primary some reads,
never a stale wall.

``manage.py replica-up`` makes a hot standby of the local cluster on loopback (``pg_basebackup
-R``, its own port and data folder beside the primary's) for tests and demos, and prints the
``DATABASE_REPLICA_URL`` to use; ``replica-down`` stops it. A production standby is made by the
operator (docs/scale.md); only the URL matters to the code.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url

from db import cluster
from db.config import (LOCAL_APP_USER, LOCAL_USER, VAR, database_url, local_app_password, local_password,
                       local_port)
from db.engine import get_engine
from db.secret_file import write_secret

log = logging.getLogger(__name__)

REPLICA_WAIT_S = 2.0  # how long a read waits for the standby to replay the announced position


def replica_url(primary_url: str | None = None) -> str | None:
    """``DATABASE_REPLICA_URL`` (normalised to the psycopg2 driver), or None: read from the primary.

    ``local`` names the local hot standby (``replica-up``), same database and role as the primary.
    """
    url = os.environ.get("DATABASE_REPLICA_URL")
    if not url:
        return None
    if url == "local":
        return local_replica_url(make_url(primary_url or database_url()).database)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def read_engine(*, timeouts: bool = True, primary_url: str | None = None) -> Engine:
    """The engine reads go to when there is no position to wait for: the standby if configured."""
    url = replica_url(primary_url)
    return get_engine(url or primary_url, timeouts=timeouts)


def primary_lsn(conn: Connection) -> str:
    """The primary's current WAL position (text form, e.g. ``0/3000148``)."""
    return conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()


def replayed(conn: Connection, lsn: str) -> bool:
    """Whether the standby behind ``conn`` has replayed up to ``lsn`` (True on a primary)."""
    return bool(conn.execute(text(
        "SELECT CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn() >= CAST(:l AS pg_lsn), false) "
        "ELSE true END"), {"l": lsn}).scalar_one())


def wait_replayed(conn: Connection, lsn: str, timeout: float = REPLICA_WAIT_S, poll_s: float = 0.02) -> bool:
    """Wait until the standby behind ``conn`` has replayed ``lsn``; False if it has not by ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if replayed(conn, lsn):
            return True
        if time.monotonic() >= deadline:
            return False
        conn.rollback()  # a new snapshot on the next check
        time.sleep(poll_s)


@contextmanager
def reading(lsn: str | None, *, timeout: float = REPLICA_WAIT_S, timeouts: bool = True,
            primary_url: str | None = None) -> Iterator[Connection]:
    """A connection whose data is at least as new as ``lsn`` (the position a notice announced).

    With a standby configured: the standby once it has replayed ``lsn``, else (lagging, or down)
    the primary. Without one, the primary. Errors of the caller's own work are not caught here.
    """
    url = replica_url(primary_url)
    conn = _caught_up(url, lsn, timeout, timeouts) if url else None
    if conn is not None:
        try:
            yield conn
        finally:
            conn.close()
        return
    with get_engine(primary_url, timeouts=timeouts).connect() as conn:
        yield conn


def _caught_up(url: str, lsn: str | None, timeout: float, timeouts: bool) -> Connection | None:
    """A connection to the standby that has replayed ``lsn``, or None (lagging or unreachable)."""
    conn = None
    try:
        conn = get_engine(url, timeouts=timeouts).connect()
        if lsn is None or wait_replayed(conn, lsn, timeout):
            conn.rollback()  # read in a snapshot taken after the position was replayed
            return conn
        log.warning("replica has not replayed %s within %.1fs: reading from the primary", lsn, timeout)
    except Exception as e:  # noqa: BLE001 - an unreachable standby must not blank the walls
        log.warning("replica unavailable (%s): reading from the primary", type(e).__name__)
    if conn is not None:
        conn.close()
    return None


# --- the local hot standby (tests and demos) ---------------------------------------------------
def data_dir() -> Path:
    d = cluster.data_dir()
    return d.with_name(d.name + "-replica")


def port() -> int | None:
    p = VAR / "pg-replica-port"
    return int(p.read_text()) if p.exists() else None


def local_replica_url(dbname: str) -> str:
    """The application role's URL on the local standby (the role exists there: it is a copy)."""
    p = port()
    if p is None:
        raise RuntimeError("no local replica: run `python manage.py replica-up` first")
    return f"postgresql+psycopg2://{LOCAL_APP_USER}:{local_app_password()}@127.0.0.1:{p}/{dbname}"


def is_running() -> bool:
    d = data_dir()
    if not (d / "PG_VERSION").exists():
        return False
    r = subprocess.run(cluster._as_owner([str(cluster.PG_BIN / "pg_ctl"), "-D", str(d), "status"]),
                       capture_output=True)
    return r.returncode == 0


def _free_port(start: int) -> int:
    for candidate in range(start, start + 100):
        if not cluster._port_busy(candidate):
            return candidate
    raise cluster.ClusterError(f"no free port in {start}..{start + 99} for the replica")


def _allow_replication() -> None:
    """Let the owner connect for replication over loopback (scram), then reload the primary."""
    hba = cluster.data_dir() / "pg_hba.conf"
    line = f"host replication {LOCAL_USER} 127.0.0.1/32 scram-sha-256"
    r = subprocess.run(cluster._as_owner(["cat", str(hba)]), capture_output=True, text=True, check=True)
    if line not in r.stdout:
        subprocess.run(cluster._as_owner(["sh", "-c", f"printf '%s\\n' '{line}' >> '{hba}'"]), check=True)
        cluster._run([str(cluster.PG_BIN / "pg_ctl"), "-D", str(cluster.data_dir()), "reload"])


SLOT = "gridgov_replica"
# the primary keeps WAL for a stopped standby through its slot, up to this much; beyond it the
# slot is lost and replica-up makes the standby afresh
SLOT_KEEP = "2GB"


def _owner_sql(sql: str, **params):
    from sqlalchemy import create_engine

    eng = create_engine(f"postgresql+psycopg2://{LOCAL_USER}:{local_password()}@127.0.0.1:{local_port()}/postgres",
                        isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as c:
            r = c.execute(text(sql), params)
            return r.all() if r.returns_rows else None
    finally:
        eng.dispose()


def _slot_status() -> str | None:
    rows = _owner_sql("SELECT wal_status FROM pg_replication_slots WHERE slot_name = :s", s=SLOT)
    return (rows[0][0] or "unknown") if rows else None


def up() -> str:
    """Make (once) and start a hot standby of the running local cluster; returns the application's
    URL on it for the main database. Idempotent: a running standby is left alone. The standby
    streams through a replication slot, so it catches up after being stopped; a standby whose
    slot was lost (stopped while more than SLOT_KEEP of WAL was written) is made afresh."""
    if os.environ.get("DATABASE_URL"):
        raise cluster.ClusterError("DATABASE_URL is set: make the standby of that server yourself "
                                   "(pg_basebackup -R) and set DATABASE_REPLICA_URL")
    if not cluster.is_running():
        raise cluster.ClusterError("the local cluster is not running: run `python manage.py db-up` first")
    d = data_dir()
    if (d / "PG_VERSION").exists() and _slot_status() in (None, "lost"):
        print(">> the local standby can no longer catch up (its replication slot is gone): making it afresh")
        down()
        shutil.rmtree(d)
    if not (d / "PG_VERSION").exists():
        if d.exists():
            shutil.rmtree(d)
        _allow_replication()
        _owner_sql(f"ALTER SYSTEM SET max_slot_wal_keep_size = '{SLOT_KEEP}'")
        _owner_sql("SELECT pg_reload_conf()")
        if _slot_status() is not None:
            _owner_sql("SELECT pg_drop_replication_slot(:s)", s=SLOT)
        p = _free_port(local_port() + 1)
        # the standby reconnects with this password file (0600, owned by the cluster's owner)
        passfile = d.with_name(d.name + ".pgpass")
        write_secret(passfile, f"127.0.0.1:{local_port()}:*:{LOCAL_USER}:{local_password()}")
        if os.geteuid() == 0:
            shutil.chown(passfile, "postgres", "postgres")
        print(f">> making a hot standby of the local cluster in {d} (port {p})")
        d.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(d, "postgres", "postgres")
        _run(["env", f"PGPASSFILE={passfile}", str(cluster.PG_BIN / "pg_basebackup"),
              "-h", "127.0.0.1", "-p", str(local_port()), "-U", LOCAL_USER, "-D", str(d),
              "-R", "-X", "stream", "-C", "-S", SLOT, "-c", "fast", "-w"])
        with_conf = (f"\n# gridgov local hot standby\nport = {p}\nhot_standby = on\n"
                     f"hot_standby_feedback = on\nprimary_conninfo = 'host=127.0.0.1 port={local_port()} "
                     f"user={LOCAL_USER} passfile={passfile} application_name=gridgov_replica'\n"
                     f"primary_slot_name = '{SLOT}'\n")
        subprocess.run(cluster._as_owner(["sh", "-c", f"cat >> '{d}/postgresql.auto.conf'"]),
                       input=with_conf, text=True, check=True)
        (VAR / "pg-replica-port").write_text(f"{p}\n")
    if not is_running():
        p = port()
        if p is None or cluster._port_busy(p):
            raise cluster.ClusterError(f"the replica's port {p} is taken; run `python manage.py replica-down`, "
                                       f"remove {d} and {VAR / 'pg-replica-port'}, and try again")
        logf = d.with_name(d.name + ".log")
        if os.geteuid() == 0:
            logf.touch()
            shutil.chown(logf, "postgres", "postgres")
        _run([str(cluster.PG_BIN / "pg_ctl"), "-D", str(d), "-l", str(logf), "-o", f"-p {port()}",
              "-w", "-t", "60", "start"])
    return local_replica_url("gridgov")


def _run(cmd: list[str]) -> None:
    try:
        cluster._run(cmd)
    except subprocess.CalledProcessError as e:
        last = (e.stderr or e.stdout or "").strip().splitlines()[-1:] or ["(no output)"]
        raise cluster.ClusterError(f"{Path(cmd[0] if cmd[0] != 'env' else cmd[2]).name} failed: {last[0]}") from None


def down() -> None:
    """Stop the local standby (its data folder stays; replica-up starts it again)."""
    if is_running():
        cluster._run([str(cluster.PG_BIN / "pg_ctl"), "-D", str(data_dir()), "-m", "fast", "-w", "stop"])
