"""Backups that restore (issue 11 §5): the test database with the sample district, dumped with its
photos, restored into an empty scratch database, checked against the manifest."""
from __future__ import annotations

import json
import tarfile

import pytest
from sqlalchemy import create_engine, text

from db import config
from db.backup import BackupError, backup, restore
from stats.backup_cli import history_figures
from tests.factories import scratch_database


@pytest.fixture
def empty_db():
    with scratch_database("restore", migrate=False) as scratch:
        yield scratch


def test_backup_restores_with_the_same_counts_photos_and_indicators(sample_loaded, empty_db, tmp_path):
    photos = tmp_path / "photos"
    (photos / "2026" / "11").mkdir(parents=True)
    (photos / "2026" / "11" / "a.jpg").write_bytes(b"\xff\xd8 photo a")
    (photos / "b.jpg").write_bytes(b"\xff\xd8 photo b")
    archive = tmp_path / "backup.tar"
    m = backup(config.test_owner_database_url(), archive, photos, history_figures)
    assert m["counts"]["cases"] >= 4011 and m["counts"]["case_event"] > m["counts"]["cases"]
    assert set(m["photos"]) == {"2026/11/a.jpg", "b.jpg"} and len(m["dump_sha256"]) == 64
    assert m["revision"] and m["figures"]["rows"] and m["figures"]["period"]["start"] < m["figures"]["period"]["end"]
    assert archive.stat().st_mode & 0o077 == 0

    restored = tmp_path / "restored-photos"
    s = restore(archive, empty_db, restored, history_figures)
    assert s["rows"] == sum(m["counts"].values()) and s["photos"] == 2 and s["figures_checked"]
    assert (restored / "2026" / "11" / "a.jpg").read_bytes() == b"\xff\xd8 photo a"

    # A database that holds anything is refused, untouched.
    with pytest.raises(BackupError, match="not empty"):
        restore(archive, empty_db, tmp_path / "elsewhere", history_figures)


def test_a_damaged_archive_is_refused_before_anything_is_written(empty_db, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"a")
    archive = tmp_path / "backup.tar"
    backup(config.test_owner_database_url(), archive, photos)
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == "manifest.json":
                m = json.loads(data)
                m["photos"]["a.jpg"] = "0" * 64
                data = json.dumps(m).encode()
                member.size = len(data)
            import io
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(BackupError, match="photo"):
        restore(damaged, empty_db, tmp_path / "out")
    with create_engine(empty_db).connect() as c:
        assert c.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar() == 1  # spatial_ref_sys
