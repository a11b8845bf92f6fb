"""Open311 errors: an array of ``{code, description}``; every description names the field.

403 a missing or wrong key, 404 an unknown resource, 409 an idempotency key reused with another
body, 429 too many requests (with ``Retry-After``), 400 everything else. Descriptions are in
简体中文 by default and in English with ``lang=en`` (or ``Accept-Language: en``).
"""
from __future__ import annotations


class IntakeError(Exception):
    """A refusal: HTTP status, the field it is about, and the message in both languages."""

    def __init__(self, status: int, field: str | None, zh: str, en: str, *, retry_after: int | None = None):
        super().__init__(en)
        self.status, self.field, self.zh, self.en, self.retry_after = status, field, zh, en, retry_after

    def description(self, lang: str) -> str:
        msg = self.en if lang == "en" else self.zh
        return f"{self.field}: {msg}" if self.field else msg


def bad(field: str | None, zh: str, en: str) -> IntakeError:
    return IntakeError(400, field, zh, en)


def not_found(field: str, zh: str, en: str) -> IntakeError:
    return IntakeError(404, field, zh, en)


def forbidden(zh: str = "缺少或无效的 API 密钥", en: str = "missing or invalid API key") -> IntakeError:
    return IntakeError(403, "api_key", zh, en)
