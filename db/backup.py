"""Backups that restore: one archive holding a consistent dump and the photo store, with a manifest.

``backup`` opens one REPEATABLE READ transaction, exports its snapshot and runs ``pg_dump
--snapshot`` (custom format, PostgreSQL 15's binaries) inside it, so the row counts and the
indicator figures written to the manifest describe exactly the rows in the dump, whatever is
committed meanwhile. The archive (an uncompressed tar: the dump is compressed already, photos
are JPEGs) holds ``manifest.json``, ``db.dump`` and ``photos/…``. The manifest has the time, the
migration revision, the row count of every table, the sha256 of the dump and of every photo, and
the figures of the caller's ``figures`` function (the CLI passes the indicators over the whole
history: this package knows nothing of statistics).

``restore`` checks the archive against its manifest before touching anything, refuses a target
database that holds any table, restores, copies the photos, and checks again: counts, photo
checksums and the recomputed figures must equal the manifest's, else it fails loudly.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url

from db.secret_file import open_private

PG_BIN = Path("/usr/lib/postgresql/15/bin")
FORMAT = 1
# A function of a connection and a period (None: choose one and say which) returning JSON-able figures.
Figures = Callable[[Connection, "dict | None"], dict]


class BackupError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _libpq(url: str) -> tuple[list[str], dict]:
    u = make_url(url)
    env = {**os.environ, "PGPASSWORD": u.password or "", "PGCONNECT_TIMEOUT": "10"}
    return ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "", "-d", u.database], env


def _tool(name: str) -> str:
    p = PG_BIN / name
    if not p.exists():
        raise BackupError(f"{p} is missing: apt-get install postgresql-15 (the dump must come from PostgreSQL 15)")
    return str(p)


def table_counts(conn: Connection) -> dict[str, int]:
    """Rows of every table of the schema (PostGIS's reference table aside)."""
    names = conn.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys' "
        "ORDER BY tablename")).scalars().all()
    return {n: conn.execute(text(f'SELECT count(*) FROM public."{n}"')).scalar_one() for n in names}


def _revision(conn: Connection) -> str | None:
    if conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is None:
        return None  # never migrated: an empty database
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _photos(photo_dir: Path) -> dict[str, str]:
    if not photo_dir.is_dir():
        return {}
    return {p.relative_to(photo_dir).as_posix(): _sha256(p) for p in sorted(photo_dir.rglob("*")) if p.is_file()}


def _jsonable(x):
    return json.loads(json.dumps(x, default=str, sort_keys=True))


def backup(url: str, out: Path, photo_dir: Path, figures: Figures | None = None) -> dict:
    """Write the archive ``out`` for the database at ``url`` (the schema owner) and ``photo_dir``;
    returns the manifest."""
    out = Path(out)
    if out.is_dir():
        raise BackupError(f"{out} is a directory: name the archive file, e.g. {out}/gridgov-backup.tar")
    eng = create_engine(url, isolation_level="REPEATABLE READ")
    with tempfile.TemporaryDirectory(prefix="gridgov-backup-") as tmp:
        dump = Path(tmp) / "db.dump"
        with eng.connect() as conn:
            with conn.begin():
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                counts = table_counts(conn)
                revision = _revision(conn)
                figs = _jsonable(figures(conn, None)) if figures else None
                args, env = _libpq(url)
                r = subprocess.run([_tool("pg_dump"), *args, "-Fc", "--no-owner", "--no-acl", f"--snapshot={snapshot}",
                                    "-f", str(dump)], env=env, capture_output=True, text=True)
                if r.returncode != 0:
                    raise BackupError(f"pg_dump failed: {r.stderr.strip()}")
        eng.dispose()
        photos = _photos(photo_dir)  # after the dump: a photo written meanwhile is extra, never missing
        manifest = {"format": FORMAT, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "database": make_url(url).database, "revision": revision, "counts": counts,
                    "dump_sha256": _sha256(dump), "photos": photos, "figures": figs}
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        partial.unlink(missing_ok=True)  # a previous run's leftover
        # It holds every case and account hash: 0600 from the first byte (db/secret_file.py).
        with open_private(partial) as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            tar.add(dump, arcname="db.dump")
            for rel in photos:
                tar.add(photo_dir / rel, arcname=f"photos/{rel}")
        partial.replace(out)  # never a half-written archive under the real name
    return manifest


def _extract(archive: Path, dest: Path) -> dict:
    with tarfile.open(archive, "r") as tar:
        if hasattr(tarfile, "data_filter"):  # Python ≥ 3.11.4: the library refuses what is unsafe
            tar.extractall(dest, filter="data")  # no absolute paths, links out or device files
        else:  # Debian 12's 3.11.2: the same rule, checked here
            for m in tar.getmembers():
                if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in Path(m.name).parts:
                    raise BackupError(f"the archive holds an unsafe entry {m.name!r}: refused")
            tar.extractall(dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown archive format {manifest.get('format')!r}")
    if _sha256(dest / "db.dump") != manifest["dump_sha256"]:
        raise BackupError("the dump's checksum does not match the manifest: the archive is damaged")
    bad = [rel for rel, sha in manifest["photos"].items()
           if not (dest / "photos" / rel).is_file() or _sha256(dest / "photos" / rel) != sha]
    if bad:
        raise BackupError(f"{len(bad)} photo(s) missing or damaged in the archive, e.g. {bad[0]}")
    return manifest


def is_empty(conn: Connection) -> bool:
    return not table_counts(conn) and _revision(conn) is None


def restore(archive: Path, url: str, photo_dir: Path, figures: Figures | None = None) -> dict:
    """Restore ``archive`` into the EMPTY database at ``url`` (it must exist) and ``photo_dir``,
    then check counts, photos and figures against the manifest; returns a summary."""
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"{archive} is not a file")
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            if not is_empty(conn):
                raise BackupError(f"database {make_url(url).database} is not empty: restore only into an empty one")
            has_postgis = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).scalar()
        with tempfile.TemporaryDirectory(prefix="gridgov-restore-") as tmp:
            manifest = _extract(archive, Path(tmp))
            args, env = _libpq(url)
            dump = str(Path(tmp) / "db.dump")
            toc = subprocess.run([_tool("pg_restore"), "-l", dump], capture_output=True, text=True, check=True).stdout
            if has_postgis:  # created with the database already: leave its entries out
                toc = "\n".join(line for line in toc.splitlines() if " EXTENSION " not in line or "postgis" not in line)
            (Path(tmp) / "toc").write_text(toc)
            r = subprocess.run([_tool("pg_restore"), *args, "--no-owner", "--no-acl", "--exit-on-error",
                                "--single-transaction", "-L", str(Path(tmp) / "toc"), dump],
                               env=env, capture_output=True, text=True)
            if r.returncode != 0:
                raise BackupError(f"pg_restore failed (nothing was restored): {r.stderr.strip()}")
            photo_dir.mkdir(parents=True, exist_ok=True)
            for rel, sha in manifest["photos"].items():
                dst = photo_dir / rel
                if dst.exists() and _sha256(dst) != sha:
                    raise BackupError(f"{dst} exists with other content; restore photos into an empty store")
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(tmp) / "photos" / rel, dst)
        problems = []
        with eng.connect() as conn:
            counts = table_counts(conn)
            if counts != manifest["counts"]:
                diff = {k: (manifest["counts"].get(k), counts.get(k)) for k in set(counts) | set(manifest["counts"])
                        if counts.get(k) != manifest["counts"].get(k)}
                problems.append(f"row counts differ (manifest, restored): {diff}")
            if figures and manifest.get("figures") is not None:
                again = _jsonable(figures(conn, manifest["figures"].get("period")))
                if again != manifest["figures"]:
                    problems.append("the indicators recomputed after the restore differ from the manifest's")
        photos = _photos(photo_dir)
        missing = [rel for rel, sha in manifest["photos"].items() if photos.get(rel) != sha]
        if missing:
            problems.append(f"{len(missing)} photo(s) differ after the restore, e.g. {missing[0]}")
        if problems:
            raise BackupError("the restore does not match its manifest: " + "; ".join(problems))
        return {"tables": len(counts), "rows": sum(counts.values()), "photos": len(manifest["photos"]),
                "revision": manifest["revision"], "created_at": manifest["created_at"],
                "figures_checked": bool(figures and manifest.get("figures") is not None)}
    finally:
        eng.dispose()
