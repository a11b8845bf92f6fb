"""API keys per channel (hotline, WeChat, website, each integrator), stored hashed.

A key is 32 random bytes in URL-safe base64 (``gg_`` + 43 characters); only its sha256 is kept,
so a leaked table gives no key. A plain sha256 suffices for a long random secret (no dictionary
to guess from); passwords are another matter (accounts/ uses argon2).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch.service import CHANNELS

PREFIX = "gg_"


@dataclass(frozen=True)
class ApiKey:
    id: int
    channel: str
    name: str


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(conn: Connection, *, channel: str, name: str | None = None) -> tuple[ApiKey, str]:
    """A new key for ``channel``: returns the record and the key itself (shown once, never stored)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")
    name = (name or channel).strip()
    if not 1 <= len(name) <= 100:
        raise ValueError("the key's name must be 1 to 100 characters")
    key = PREFIX + secrets.token_urlsafe(32)
    kid = conn.execute(text(
        "INSERT INTO intake_api_key(channel, name, key_sha256, key_prefix) VALUES (:c, :n, :h, :p) RETURNING id"),
        {"c": channel, "n": name, "h": digest(key), "p": key[:8]}).scalar_one()
    return ApiKey(kid, channel, name), key


def verify(conn: Connection, key: str | None) -> ApiKey | None:
    """The live key matching ``key``, or None (missing, unknown or revoked)."""
    if not key or len(key) > 200:
        return None
    row = conn.execute(text(
        "SELECT id, channel, name FROM intake_api_key WHERE key_sha256 = :h AND revoked_at IS NULL"),
        {"h": digest(key)}).one_or_none()
    return ApiKey(row.id, row.channel, row.name) if row else None


def list_keys(conn: Connection) -> list[dict]:
    return [dict(r) for r in conn.execute(text(
        "SELECT id, channel, name, key_prefix, created_at, revoked_at FROM intake_api_key ORDER BY id")).mappings()]


def revoke(conn: Connection, key_id: int) -> bool:
    """Revoke key ``key_id``; False if there is no such live key. Takes effect on the next request."""
    return conn.execute(text(
        "UPDATE intake_api_key SET revoked_at = now() WHERE id = :i AND revoked_at IS NULL"), {"i": key_id}).rowcount == 1
