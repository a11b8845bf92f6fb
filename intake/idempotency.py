"""Idempotent report creation: a retry after a lost answer gets the first answer, not a new case.

The key is the ``Idempotency-Key`` header, or the Open311 ``device_id`` with the client's own
``client_report_id`` (the instance id ODK and Kobo de-duplicate on), scoped to the API key.
The key row is inserted by the statement that creates the case (``reports.create_report``),
with the answer: a concurrent identical post blocks on that row until the first commits, then
fails on the primary key (``is_key_taken``), keeps nothing, and gets the stored answer; the
database's primary key, not a check-then-insert, makes it one case.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from intake.errors import IntakeError


def idempotency_key(header: str | None, device_id: str | None, client_report_id: str | None) -> str | None:
    if header is not None:
        header = header.strip()
        if not 1 <= len(header) <= 255:
            raise IntakeError(400, "Idempotency-Key", "幂等键须为 1 至 255 个字符", "must be 1 to 255 characters")
        return "h:" + header
    if client_report_id:
        if not device_id:
            raise IntakeError(400, "device_id", "使用 client_report_id 时须同时提供 device_id",
                              "client_report_id needs device_id beside it")
        return "d:" + device_id + "\x1f" + client_report_id
    return None


def body_digest(fields: list[tuple[str, str]], media_sha256: str | None) -> str:
    """A digest of what was sent (the key itself left out): same body, same digest."""
    payload = json.dumps([sorted(fields), media_sha256], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Replay:
    status: int
    response: list


def _conflict() -> IntakeError:
    return IntakeError(409, "Idempotency-Key", "该幂等键已用于内容不同的另一次上报",
                       "this key was already used for a report with a different body")


def lookup(conn: Connection, api_key_id: int, key: str, digest: str) -> Replay | None:
    """A committed earlier answer for this key (before any work is done), or None."""
    row = conn.execute(text("SELECT body_sha256, response FROM intake_idempotency WHERE api_key_id = :k AND idem_key = :i"),
                       {"k": api_key_id, "i": key}).one_or_none()
    if row is None or row.response is None:
        return None
    if row.body_sha256 != digest:
        raise _conflict()
    return Replay(200, row.response)


def is_key_taken(e: IntegrityError) -> bool:
    """Whether ``e`` is the idempotency key's primary key refusing a second row."""
    diag = getattr(getattr(e, "orig", None), "diag", None)
    return getattr(diag, "constraint_name", None) == "intake_idempotency_pkey"


def in_progress() -> IntakeError:
    return IntakeError(409, "Idempotency-Key", "同一幂等键的上报正在处理，请稍后重试",
                       "a report with this key is still being processed; retry shortly")


