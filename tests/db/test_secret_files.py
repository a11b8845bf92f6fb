"""Files that hold secrets are 0600 from their first byte, and the single sign-on secrets file
is never committed."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from db import config
from db.backup import backup
from db.secret_file import open_private

ROOT = Path(__file__).resolve().parents[2]


def test_streamlit_secrets_are_git_ignored():
    r = subprocess.run(["git", "check-ignore", "-q", "--no-index", ".streamlit/secrets.toml"], cwd=ROOT)
    assert r.returncode == 0, ".streamlit/secrets.toml is not in .gitignore"


def test_a_backup_archive_is_private_while_it_is_written(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"a")
    out = tmp_path / "backup.tar"
    seen = []
    real_addfile = tarfile.TarFile.addfile

    def spy(self, *a, **kw):  # the partial archive's mode as each member is written
        seen.append(stat.S_IMODE(os.stat(out.with_name(out.name + ".partial")).st_mode))
        return real_addfile(self, *a, **kw)

    monkeypatch.setattr(tarfile.TarFile, "addfile", spy)
    old = os.umask(0o000)  # the most permissive umask: the mode must not come from it
    try:
        backup(config.test_owner_database_url(), out, photos)
    finally:
        os.umask(old)
    assert seen and set(seen) == {0o600}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_open_private_refuses_an_existing_file_or_a_planted_link(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("x")
    (tmp_path / "link").symlink_to(target)
    for name in ("link", "elsewhere"):
        with pytest.raises(FileExistsError):
            open_private(tmp_path / name)
    assert target.read_text() == "x"


SECRETISH = re.compile(r"password|secret|api.?key|token", re.I)
WRITES = re.compile(r"\.write_text\(|\.write_bytes\(|open\([^)]*['\"][wa]b?['\"]")


def test_every_file_named_for_a_secret_is_written_through_secret_file():
    """A write whose line names a password, secret, key or token must go through db/secret_file.py."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".venv", "tests", "var", "node_modules") or rel == Path("db/secret_file.py"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if WRITES.search(line) and SECRETISH.search(line):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []
