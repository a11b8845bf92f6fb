"""The body of ``POST requests``: a form, its text read as UTF-8 and nothing else.

GeoReport v2: "all text received … will be assumed to be UTF-8". Starlette's own parsers do not
hold to it: a url-encoded body is decoded as latin-1 before its %-escapes are undone, so the raw
UTF-8 bytes many integrations send (``curl -d 地址=某路1号``) became mojibake, and undecodable
escapes became U+FFFD, both stored with a 201; a multipart text part that is not UTF-8 fell back
to latin-1. Here both kinds of form are read byte-exact and decoded strictly: a field that is not
UTF-8 (GBK from an old hotline system, a lone surrogate) is refused, naming it. Any other body
(JSON, plain text, none at all) is refused with 415 and what to send, instead of being read as an
empty form (which answered "missing API key" to a valid key).

Fields that the service reads once (``lat``, ``description`` …) given twice are refused by the
caller (``open311.post_request``): which of the two was meant cannot be told.
"""
from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from intake.errors import IntakeError, bad

MAX_FIELDS = 200  # a report has about 20 fields and a few attributes
MAX_TEXT_PART = 1024 * 1024  # a multipart text part (a description is at most 4,000 characters)


def _not_utf8(field: str) -> IntakeError:
    shown = field if field.isprintable() and len(field) <= 60 else repr(field[:60])
    return bad(shown, "不是有效的 UTF-8 文本（请以 UTF-8 编码发送）", "is not valid UTF-8 text (send text encoded as UTF-8)")


def _utf8(field: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_utf8(field) from None


def _plus(b: bytes) -> bytes:
    return unquote_to_bytes(b.replace(b"+", b" "))


def parse_urlencoded(body: bytes) -> list[tuple[str, str]]:
    """``k=v&…`` with every name and value %-decoded to bytes, then decoded as UTF-8 strictly."""
    out: list[tuple[str, str]] = []
    for part in body.split(b"&"):
        if not part:
            continue
        k, _, v = part.partition(b"=")
        name = _utf8("request", _plus(k)) if k else ""
        out.append((name, _utf8(name or "request", _plus(v))))
        if len(out) > MAX_FIELDS:
            raise bad("request", f"字段过多（上限 {MAX_FIELDS}）", f"too many fields (at most {MAX_FIELDS})")
    return out


class _StrictMultiPart(MultiPartParser):
    """Starlette's multipart parser with its text parts decoded strictly as UTF-8 (it falls back to
    latin-1). The first undecodable part is remembered and refused after the parse."""

    undecodable: str | None = None

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode("utf-8")
            except UnicodeDecodeError:
                self.undecodable = self.undecodable or part.field_name or "request"
        super().on_part_end()


def _multipart_error(e: MultiPartException) -> IntakeError:
    if "maximum size" in e.message:
        return bad("request", f"文本字段超过 {MAX_TEXT_PART // 1024} KB", f"a text field is larger than {MAX_TEXT_PART // 1024} KB")
    if "Too many" in e.message:
        return bad("request", f"字段或文件过多（字段上限 {MAX_FIELDS}，文件 1 个）",
                   f"too many fields or files (at most {MAX_FIELDS} fields and one file)")
    return bad("request", "multipart 表单格式错误", f"the multipart form is malformed: {e.message}")


async def read_form(request: Request) -> FormData:
    """The request's form (url-encoded or multipart); ``IntakeError`` for anything else."""
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        return FormData(parse_urlencoded(await request.body()))
    if ctype == "multipart/form-data":
        parser = _StrictMultiPart(request.headers, request.stream(), max_files=1, max_fields=MAX_FIELDS,
                                  max_part_size=MAX_TEXT_PART)
        try:
            form = await parser.parse()
        except MultiPartException as e:  # (Starlette has closed the parts' files)
            raise _multipart_error(e) from None
        except BaseException:  # the body cut at the cap (app.BodyTooLarge), the client gone: no spooled file kept open
            for _, v in parser.items:
                if isinstance(v, UploadFile):
                    await v.close()
            raise
        if parser.undecodable is not None:
            await form.close()
            raise _not_utf8(parser.undecodable)
        return form
    raise IntakeError(415, "request",
                      "请以 application/x-www-form-urlencoded 或 multipart/form-data（带照片时）发送表单",
                      "send a form: application/x-www-form-urlencoded, or multipart/form-data with a photo")
