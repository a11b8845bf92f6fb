"""Continuous WAL archiving of the local cluster to a folder, and point-in-time restore from it.

``manage.py wal-archive on --dir D`` switches ``archive_mode`` on (a restart), archives every
finished WAL segment into ``D/wal/`` (never overwriting one already there) and takes a base backup
into ``D/base-<time>/``; ``wal-archive base --dir D`` takes another (weekly, say, so a restore
replays less), ``wal-archive off`` stops archiving. ``wal-archive restore --dir D --to TIME
--into NEW [--port P]`` copies the newest base backup that began before TIME into the empty
folder NEW, replays the archived WAL up to TIME and starts it as a separate cluster on its own
port, to be checked (or dumped and restored, ``docs/backup.md``) before anything replaces the
live cluster. Only for the project's local cluster; a server named by DATABASE_URL is archived
by its operator.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from db import cluster
from db.cluster import PG_BIN, ClusterError, _as_owner, _owner_can_reach, _port_busy, _run
from db.config import LOCAL_USER, local_password, local_port


class ArchiveError(RuntimeError):
    pass


def _owner_dir(path: Path) -> Path:
    """``path`` made (if missing) and owned by the cluster's user, 0700; refused if that user cannot reach it."""
    path = Path(path).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ArchiveError(f"{path} is not a folder")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    os.chmod(path, 0o700)
    if not _owner_can_reach(path):
        raise ArchiveError(f"the postgres user cannot reach {path} (a parent folder is private): choose a folder "
                           "such as /var/lib/gridgov-archive")
    return path


def _sql(statement: str, *, autocommit: bool = True):
    from sqlalchemy import create_engine, text

    url = f"postgresql+psycopg2://{LOCAL_USER}:{local_password()}@127.0.0.1:{local_port()}/postgres"
    eng = create_engine(url, isolation_level="AUTOCOMMIT" if autocommit else "READ COMMITTED")
    try:
        with eng.connect() as c:
            res = c.execute(text(statement))
            return res.all() if res.returns_rows else []
    finally:
        eng.dispose()


def _require_local() -> None:
    if os.environ.get("DATABASE_URL"):
        raise ArchiveError("DATABASE_URL is set: WAL archiving is for the local cluster; archive your server "
                           "with its own tools")
    if not cluster.is_running():
        raise ArchiveError("the local cluster is not running: start it with `manage.py db-up`")


def archive_command(wal_dir: Path) -> str:
    d = shlex.quote(str(wal_dir))
    return f"test ! -f {d}/%f && cp %p {d}/%f.partial && mv {d}/%f.partial {d}/%f"


def enable(folder: Path) -> Path:
    """Archive into ``folder``/wal from now on and take a first base backup; the backup's folder."""
    _require_local()
    folder = _owner_dir(folder)
    wal = _owner_dir(folder / "wal")
    cmd = archive_command(wal).replace("'", "''")
    _sql("ALTER SYSTEM SET wal_level = 'replica'")
    _sql("ALTER SYSTEM SET archive_mode = 'on'")
    _sql(f"ALTER SYSTEM SET archive_command = '{cmd}'")
    _sql("ALTER SYSTEM SET archive_timeout = '300'")  # a quiet database still archives every 5 min
    cluster.restart()
    return base_backup(folder)


def disable() -> None:
    _require_local()
    _sql("ALTER SYSTEM RESET archive_mode")
    _sql("ALTER SYSTEM RESET archive_command")
    _sql("ALTER SYSTEM RESET archive_timeout")
    cluster.restart()


def base_backup(folder: Path) -> Path:
    """A plain base backup into ``folder``/base-<UTC time>, its WAL fetched from the archive."""
    _require_local()
    folder = _owner_dir(folder)
    target = folder / f"base-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    if target.exists():
        raise ArchiveError(f"{target} exists already: wait a second and try again")
    env = {**os.environ, "PGPASSWORD": local_password() or ""}
    r = subprocess.run(_as_owner([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(local_port()),
                                  "-U", LOCAL_USER, "-D", str(target), "-Fp", "-X", "none", "-c", "fast",
                                  "--no-password"]), env=env, capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit code {r.returncode}"
        raise ArchiveError(f"pg_basebackup failed: {last}")
    _sql("SELECT pg_switch_wal()")  # the backup's end segment goes to the archive now, not in 5 min
    return target


def _backup_start(base: Path) -> datetime:
    label = (base / "backup_label").read_text()
    m = re.search(r"START TIME: (\S+ \S+) (\S+)", label)
    if not m:
        raise ArchiveError(f"{base}/backup_label has no START TIME")
    when = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
    return when.replace(tzinfo=timezone.utc) if m.group(2) in ("UTC", "GMT") else when.astimezone(timezone.utc)


def restore(folder: Path, to: datetime, into: Path, port: int) -> Path:
    """Start a new cluster in the empty folder ``into`` on ``port`` with the state at ``to``."""
    folder = Path(folder).expanduser().resolve()
    if to.tzinfo is None:
        raise ArchiveError("--to needs a time zone, e.g. 2026-12-01T14:35:00+08:00")
    bases = sorted(p for p in folder.glob("base-*") if (p / "backup_label").exists())
    usable = [b for b in bases if _backup_start(b) <= to]
    if not usable:
        raise ArchiveError(f"no base backup in {folder} began before {to.isoformat()}")
    base = usable[-1]
    into = Path(into).expanduser().resolve()
    if into.exists() and any(into.iterdir()):
        raise ArchiveError(f"{into} is not empty: restore into a new folder")
    if _port_busy(port):
        raise ArchiveError(f"port {port} is in use: choose another with --port")
    into.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(base, into, symlinks=True, dirs_exist_ok=True)
    (into / "pg_wal").mkdir(exist_ok=True)
    wal = shlex.quote(str(folder / "wal"))
    with (into / "postgresql.auto.conf").open("a") as f:
        f.write("\n# point-in-time restore (db/wal_archive.py)\n"
                "archive_mode = 'off'\n"  # never archive into the live cluster's folder
                f"restore_command = 'cp {wal}/%f %p'\n"
                f"recovery_target_time = '{to.isoformat()}'\n"
                "recovery_target_action = 'promote'\n"
                f"port = {port}\n")
    (into / "recovery.signal").touch()
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", str(into)], check=True)
    os.chmod(into, 0o700)
    if not _owner_can_reach(into):
        raise ArchiveError(f"the postgres user cannot reach {into}: choose a folder it can (e.g. under /var/lib)")
    log = into.with_name(into.name + ".log")
    if os.geteuid() == 0:
        log.touch()
        shutil.chown(log, "postgres", "postgres")
    try:
        _run([str(PG_BIN / "pg_ctl"), "-D", str(into), "-l", str(log), "-o", f"-p {port}", "-w", "-t", "120", "start"])
    except subprocess.CalledProcessError:
        raise ArchiveError(f"the restored cluster did not start: see {log}") from None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # replayed and promoted: no longer in recovery
        r = subprocess.run(_as_owner([str(PG_BIN / "pg_controldata"), str(into)]), capture_output=True, text=True)
        if "in production" in r.stdout:
            return into
        time.sleep(0.5)
    raise ArchiveError(f"the restored cluster did not finish replaying within 120 s: see {log}")


def stop_restored(into: Path) -> None:
    subprocess.run(_as_owner([str(PG_BIN / "pg_ctl"), "-D", str(into), "-m", "fast", "-w", "stop"]),
                   capture_output=True)


# --- manage.py ----------------------------------------------------------------------------------

def cmd_wal_archive(args) -> int:
    try:
        if args.action == "on":
            base = enable(Path(args.dir))
            print(f"WAL archiving on into {Path(args.dir).resolve() / 'wal'}; base backup {base}")
        elif args.action == "off":
            disable()
            print("WAL archiving off (the archive folder is left as it is)")
        elif args.action == "base":
            print(f"base backup {base_backup(Path(args.dir))}")
        else:
            try:
                to = datetime.fromisoformat(args.to)
            except (TypeError, ValueError):
                raise ArchiveError(f"--to {args.to!r} is not a time: use e.g. 2026-12-01T14:35:00+08:00") from None
            into = restore(Path(args.dir), to, Path(args.into), args.port)
            print(f"restored to {to.isoformat()} in {into}, running on 127.0.0.1:{args.port} "
                  f"(stop it with: pg_ctl -D {into} stop)")
    except (ArchiveError, ClusterError) as e:
        print(f"error: {e}", flush=True, file=sys.stderr)
        return 2
    return 0


def register_commands(register) -> None:
    def conf(p):
        p.add_argument("action", choices=("on", "off", "base", "restore"),
                       help="on: archive and take a base backup; base: another base backup; off; "
                            "restore: a point-in-time copy into a new cluster")
        p.add_argument("--dir", help="the archive folder (base backups and wal/)")
        p.add_argument("--to", help="restore: the time to restore to, with its zone (ISO 8601)")
        p.add_argument("--into", help="restore: a new, empty folder for the restored cluster")
        p.add_argument("--port", type=int, default=55499, help="restore: the restored cluster's port (default 55499)")

    register("wal-archive", _checked(cmd_wal_archive), "continuous WAL archiving of the local cluster and "
             "point-in-time restore (docs/backup.md)", conf)


def _checked(fn):
    def run(args) -> int:
        need = {"on": ("dir",), "base": ("dir",), "off": (), "restore": ("dir", "to", "into")}[args.action]
        missing = [f"--{n}" for n in need if not getattr(args, n)]
        if missing:
            print(f"error: wal-archive {args.action} needs {' and '.join(missing)}", file=sys.stderr)
            return 2
        return fn(args)
    return run
