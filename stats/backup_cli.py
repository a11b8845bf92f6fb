"""``manage.py backup`` and ``manage.py restore`` (registered by manage.py).

The mechanics (dump, archive, manifest, checks) are ``db.backup``; this module lives in ``stats``
because the check that a restore is right includes recomputing the indicators, which ``db``
may not import (docs/architecture.md).
"""
from __future__ import annotations

from datetime import date
from pathlib import Path


def history_figures(conn, period: dict | None) -> dict:
    """The indicator table by subdistrict, with its total, over the whole history of complete
    days: from the first event's local day to today, today excluded (its "overdue" is live and
    would differ between the backup and the check). Recomputed from the event log (``exact``),
    not read from the roll-up, so the restored events themselves are checked."""
    from sqlalchemy import text

    from stats.indicators import indicators

    if period is None:
        first, today = conn.execute(text("SELECT local_day(min(at)), local_day(now()) FROM case_event")).one()
        if first is None or first >= today:
            return {"period": None, "rows": []}
        period = {"start": first.isoformat(), "end": today.isoformat()}
    rows = indicators(conn, start=date.fromisoformat(period["start"]), end=date.fromisoformat(period["end"]),
                      by="subdistrict", total=True, exact=True)
    return {"period": period, "rows": rows}


def cmd_backup(args) -> int:
    from db.backup import backup
    from db.config import owner_database_url, photo_dir

    m = backup(owner_database_url(), Path(args.out), photo_dir(), history_figures)
    print(f"backup written: {args.out}  tables={len(m['counts'])} rows={sum(m['counts'].values())} "
          f"photos={len(m['photos'])} revision={m['revision']} at={m['created_at']}")
    return 0


def _target_url(args) -> str:
    import os

    from sqlalchemy.engine import make_url

    from db.config import owner_database_url

    if args.database:
        if os.environ.get("DATABASE_URL"):
            raise ValueError("--database names a database of the local cluster; with DATABASE_URL set, "
                             "restore into the database it names (unset --database)")
        return make_url(owner_database_url()).set(database=args.database).render_as_string(hide_password=False)
    return owner_database_url()


def cmd_restore(args) -> int:
    from db.backup import restore
    from db.cluster import ensure_database
    from db.config import app_role, photo_dir
    from db.roles import grant_app_privileges

    url = _target_url(args)
    ensure_database(url)  # created if missing (with PostGIS); an existing one must be empty
    s = restore(Path(args.file), url, Path(args.photo_dir) if args.photo_dir else photo_dir(), history_figures)
    if app_role():
        grant_app_privileges(url, app_role())
    print(f"restored {args.file}: tables={s['tables']} rows={s['rows']} photos={s['photos']} revision={s['revision']} "
          f"(backup of {s['created_at']}); counts, checksums and indicators match the manifest")
    return 0


def register_commands(register) -> None:
    def conf_backup(p):
        p.add_argument("--out", required=True, help="the archive to write (a .tar)")

    def conf_restore(p):
        p.add_argument("file", help="an archive written by `manage.py backup`")
        p.add_argument("--database", help="restore into this database of the local cluster (default: the app's)")
        p.add_argument("--photo-dir", help="restore the photos here (default: the photo store)")

    register("backup", cmd_backup, "dump the database and the photo store into one archive with a manifest",
             conf_backup)
    register("restore", cmd_restore, "restore an archive into an EMPTY database and check it against its manifest",
             conf_restore)
