"""Sign-ins that survive a page reload (migration 0031).

``create`` makes a random token for a signed-in person and stores its SHA-256; the page keeps the
token in a session cookie. ``restore`` gives the person back for a token that is not revoked, was
seen within ``idle_s`` and is younger than ``max_age_s``, and whose person is still active; it
marks the token seen. ``revoke`` ends one token (sign-out, idle time-out), ``revoke_person``
every token of a person (deactivation). Plain SQL; no web imports.
"""
from __future__ import annotations

import hashlib
import os
import secrets

from sqlalchemy import text
from sqlalchemy.engine import Connection

DEFAULT_MAX_HOURS = 12.0  # a sign-in is asked for again after this, reload or not


def max_age_s() -> float:
    """``GRIDGOV_SESSION_HOURS`` (default 12) in seconds."""
    return 3600 * float(os.environ.get("GRIDGOV_SESSION_HOURS") or DEFAULT_MAX_HOURS)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create(conn: Connection, person_id: int, *, client_address: str | None = None) -> str:
    token = secrets.token_urlsafe(32)
    conn.execute(text("INSERT INTO web_session(token_sha256, person_id, client_address) VALUES (:t, :p, :a)"),
                 {"t": _digest(token), "p": person_id, "a": client_address})
    return token


def restore(conn: Connection, token: str | None, *, idle_s: float, max_age_s: float) -> int | None:
    """The person of a live token (marked seen now), or None."""
    if not token or len(token) > 100:
        return None
    return conn.execute(text("""
        UPDATE web_session s SET last_seen_at = now()
        FROM person p
        WHERE s.token_sha256 = :t AND p.id = s.person_id AND p.active AND s.revoked_at IS NULL
          AND s.last_seen_at > now() - make_interval(secs => :idle)
          AND s.created_at > now() - make_interval(secs => :age)
        RETURNING s.person_id"""), {"t": _digest(token), "idle": idle_s, "age": max_age_s}).scalar()


def touch(conn: Connection, token: str) -> None:
    conn.execute(text("UPDATE web_session SET last_seen_at = now() WHERE token_sha256 = :t AND revoked_at IS NULL"),
                 {"t": _digest(token)})


def revoke(conn: Connection, token: str) -> None:
    conn.execute(text("UPDATE web_session SET revoked_at = now() WHERE token_sha256 = :t AND revoked_at IS NULL"),
                 {"t": _digest(token)})


def revoke_person(conn: Connection, person_id: int) -> int:
    return conn.execute(text("UPDATE web_session SET revoked_at = now() WHERE person_id = :p AND revoked_at IS NULL"),
                        {"p": person_id}).rowcount
