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
from intake.prepared import Prepared

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


def check(conn: Connection, key: str | None, *, address: str, address_rate: float, address_burst: float,
          key_rate: float = 0.0, key_burst: float = 1.0) -> tuple[ApiKey | None, float, float]:
    """In one statement: take a token of the address's bucket, look ``key`` up (None: no key to
    check) and, if it is live and the address was not refused, take a token of the key's bucket.
    Returns (the live key or None, seconds to wait for the address, for the key): 0 is allowed.
    The buckets are shared by every process on the database (``intake_take_token``)."""
    h = digest(key) if key and len(key) <= 200 else None
    row = _CHECK.execute(conn, {"aw": "a:" + address, "ar": address_rate, "ab": address_burst, "kr": key_rate,
                                "kb": key_burst, "h": h}).one()
    found = ApiKey(row.id, row.channel, row.name) if row.id is not None else None
    return found, row.address_wait, row.key_wait


# Prepared once per connection (intake.prepared): its planning cost three times its execution.
_CHECK = Prepared(
    "SELECT a.wait AS address_wait, k.id, k.channel, k.name, "
    "CASE WHEN k.id IS NOT NULL AND a.wait = 0 THEN intake_take_token('k:' || k.id, :kr, :kb) ELSE 0 END AS key_wait "
    "FROM (SELECT intake_take_token(:aw, :ar, :ab) AS wait OFFSET 0) a "
    "LEFT JOIN intake_api_key k ON k.key_sha256 = :h AND k.revoked_at IS NULL",
    {"aw": "text", "ar": "float8", "ab": "float8", "kr": "float8", "kb": "float8", "h": "text"})


def list_keys(conn: Connection) -> list[dict]:
    return [dict(r) for r in conn.execute(text(
        "SELECT id, channel, name, key_prefix, created_at, revoked_at FROM intake_api_key ORDER BY id")).mappings()]


def revoke(conn: Connection, key_id: int) -> bool:
    """Revoke key ``key_id``; False if there is no such live key. Takes effect on the next request."""
    return conn.execute(text(
        "UPDATE intake_api_key SET revoked_at = now() WHERE id = :i AND revoked_at IS NULL"), {"i": key_id}).rowcount == 1
