"""Files that hold secrets (database and sample passwords, backups): 0600 from their first byte.

A secret is written to a temporary file opened with ``O_CREAT | O_EXCL`` and mode 0600 in the
same folder, flushed, then moved into place, so there is never a moment when the file exists
with the umask's permissions (``Path.write_text`` then ``chmod`` leaves such a moment) or half
written. ``create_secret`` never replaces an existing file: two processes racing to create the
same secret agree on the first one.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def _staged(path: Path, value: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_secret(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` (mode 0600), replacing the file atomically if it exists."""
    tmp = _staged(Path(path), value)
    os.replace(tmp, path)


def create_secret(path: Path, value: str) -> str:
    """Store ``value`` at ``path`` (mode 0600) unless a secret is already there; the stored one."""
    path = Path(path)
    tmp = _staged(path, value)
    try:
        os.link(tmp, path)  # fails if the path exists: the first writer wins, nothing is replaced
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return read_secret(path)


def open_private(path: Path):
    """A new binary file at ``path`` for writing, mode 0600 from its creation (``O_EXCL``: an
    existing file, or a link planted there, is an error, never followed or reused). For large
    secret-holding files written in steps, such as a backup archive."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    return os.fdopen(fd, "wb")


def read_secret(path: Path) -> str:
    return Path(path).read_text(encoding="utf-8").strip()
