"""The GeoReport v2 routes under ``/open311/v2/``, each in ``.json`` and ``.xml``.

Standard: ``discovery``, ``services``, ``services/{code}``, ``POST requests``, ``GET requests``,
``requests/{id}``, ``tokens/{token}``. Extensions (docs/intake.md): multipart ``media``, ``crs``,
``channel``, ``client_report_id``, ``extensions=true``, ``page``/``page_size``, ``lang``, and
``GET media/{ref}`` serving stored photos. Route handlers only parse and answer; the work is in
``intake.reports``, ``intake.services``, ``intake.photos`` and ``intake.keys``.
"""
from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from starlette.datastructures import UploadFile as StarletteUploadFile

from dispatch.calendar import TZ
from dispatch.service import CHANNELS, MAX_DESCRIPTION  # the cases table's limit
from gis.crs import CoordinateError, canonical, is_geographic, to_wgs84
from intake import idempotency, keys
from intake.errors import IntakeError, bad, forbidden, not_found
from intake.formats import render
from intake.forms import read_form
from intake.limits import retry_after
from intake.photos import PhotoError, store_via
from intake.reports import (
    MAX_ROWS,
    MAX_SPAN,
    NewReport,
    answer_of,
    case_no_for_token,
    create_report,
    find_requests,
    request_by_id,
)
from intake.services import check_attributes, definition, list_services, service_exists

ROOT = "/open311/v2"
# Control characters other than tab and line breaks cannot be stored (NUL) or written as XML.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udfff]")
# a decimal number as forms write it: digits, one point, an exponent (no "_" separators, no hex)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class Fmt(str, Enum):
    json = "json"
    xml = "xml"


def request_lang(request: Request) -> str:
    """'en' for ``lang=en`` or ``Accept-Language: en…``, else 'zh'."""
    q = request.query_params.get("lang")
    if q:
        return "en" if q.lower().startswith("en") else "zh"
    al = request.headers.get("accept-language", "")
    return "en" if al.lower().startswith("en") else "zh"


async def lang_of(request: Request) -> str:  # async: no hop to the thread pool for a header read
    return request_lang(request)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


def _too_many(field: str | None, wait: float) -> IntakeError:
    if field == "api_key":
        return IntakeError(429, "api_key", "该密钥请求过于频繁，请稍后重试", "too many requests with this key; retry later",
                           retry_after=retry_after(wait))
    return IntakeError(429, None, "请求过于频繁，请稍后重试", "too many requests from this address; retry later",
                       retry_after=retry_after(wait))


def _gate(request: Request, *, key_required: bool) -> None:
    """The address's rate limit and, if required, a read key: one statement (none when both are off)."""
    st = request.app.state
    need_key = key_required and st.settings.read_key_required
    if st.settings.rate_per_address <= 0 and not need_key:
        return
    with st.engine.connect() as conn:
        key, address_wait, _ = keys.check(conn, request.query_params.get("api_key") if need_key else None,
                                          address=client_address(request), address_rate=st.settings.rate_per_address,
                                          address_burst=st.settings.burst_per_address)
    if address_wait:
        raise _too_many(None, address_wait)
    if need_key and key is None:
        raise forbidden()


def read_gate(request: Request) -> None:
    """Read endpoints: the address's rate limit; a key too if the service is configured to require one."""
    _gate(request, key_required=True)


def media_gate(request: Request) -> None:
    _gate(request, key_required=False)


# POST requests takes the address's and the key's tokens itself, in the statement that checks the key.
router = APIRouter(prefix=ROOT)
Lang = Annotated[str, Depends(lang_of)]


@router.get("/discovery.{fmt}", summary="Discovery document", dependencies=[Depends(read_gate)])
def discovery(request: Request, fmt: Fmt) -> Response:
    base = str(request.base_url).rstrip("/") + ROOT + "/"
    doc = {
        "changeset": "2026-12-01T00:00:00+08:00",
        "contact": "网格化管理指挥中心 / grid governance command centre",
        "key_service": "API keys are issued by the command centre (manage.py api-key create --channel NAME)",
        "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
                       "changeset": "2026-12-01T00:00:00+08:00", "type": "production",
                       "formats": ["text/xml", "application/json"]}],
    }
    return render(fmt.value, doc, root="discovery", item=None)


@router.get("/services.{fmt}", summary="List services (case categories)", dependencies=[Depends(read_gate)])
def services(request: Request, fmt: Fmt, lang: Lang) -> Response:
    with request.app.state.engine.connect() as conn:
        data = list_services(conn, lang)
    return render(fmt.value, data, root="services", item="service")


@router.get("/services/{service_code}.{fmt}", summary="Service definition", dependencies=[Depends(read_gate)])
def service_definition(request: Request, service_code: str, fmt: Fmt, lang: Lang) -> Response:
    with request.app.state.engine.connect() as conn:
        doc = definition(conn, service_code, lang)
    return render(fmt.value, doc, root="service_definition", item=None)


def _text(field: str, v: str | None, limit: int) -> str | None:
    if v is None:
        return None
    if _CONTROL.search(v):
        raise bad(field, "含有不可用的控制字符", "contains control characters that cannot be stored")
    v = v.strip()
    if len(v) > limit:
        raise bad(field, f"超过 {limit} 个字符（{len(v)}）", f"longer than {limit} characters ({len(v)})")
    return v or None


# The form of POST requests, as the OpenAPI document describes it. The handler reads the form
# itself instead of declaring ~20 Form() parameters: FastAPI's per-parameter solving and
# validation cost more CPU than the rest of a report together (profiled with py-spy;
# docs/intake.md). Each field is checked here with an error naming it.
_TEXT_FIELDS: dict[str, str] = {
    "api_key": "", "service_code": "", "address_string": "", "address_id": "", "email": "", "device_id": "",
    "account_id": "", "first_name": "", "last_name": "", "phone": "", "description": "", "media_url": "",
    "crs": "extension: WGS84 (default), GCJ02, BD09 or EPSG:<code>",
    "channel": "extension: only a key of channel 'other' may name another",
    "client_report_id": "extension: with device_id, an idempotency key",
}
_NUMBER_FIELDS = ("lat", "long")


def _form_openapi() -> dict:
    props: dict[str, dict] = {k: {"type": "string", **({"description": d} if d else {})} for k, d in _TEXT_FIELDS.items()}
    props.update({k: {"type": "number"} for k in _NUMBER_FIELDS})
    media = {"type": "string", "format": "binary", "description": "extension: a JPEG, PNG or WebP photo"}
    return {
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}],
        "requestBody": {"content": {
            "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": props}},
            "multipart/form-data": {"schema": {"type": "object", "properties": {**props, "media": media}}},
        }},
    }


def _form_text(form, field: str) -> str | None:
    v = form.get(field)
    if v is None or isinstance(v, str):
        return v
    raise bad(field, "须为文本字段，不能是文件", "must be a text field, not a file")


def _form_number(form, field: str) -> float | None:
    v = _form_text(form, field)
    if v is None or not v.strip():
        return None
    if not _NUMBER.fullmatch(v.strip()):  # float() would also take "4_1.18" (41.18), "nan", "infinity"
        if v.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise bad(field, f"{v[:40]!r} 不是有限数字", f"{v[:40]!r} is not a finite number")
        raise bad(field, f"{v[:40]!r} 不是数字", f"{v[:40]!r} is not a number")
    x = float(v)
    if not math.isfinite(x):
        raise bad(field, f"{v[:40]!r} 不是有限数字", f"{v[:40]!r} is not a finite number")
    return x


@router.post("/requests.{fmt}", summary="Create a service request", status_code=201, openapi_extra=_form_openapi())
async def post_request(request: Request, fmt: Fmt) -> Response:
    st = request.app.state
    lang = request_lang(request)
    form = await read_form(request)
    try:
        return await _post_form(request, fmt, st, lang, form)
    finally:
        await form.close()  # an uploaded photo's spooled file


# fields read once: given twice, which one was meant cannot be told
_SINGLE = ("api_key", *(k for k in _TEXT_FIELDS if k != "address_id"), *_NUMBER_FIELDS, "media")


async def _post_form(request: Request, fmt: Fmt, st, lang: str, form) -> Response:
    for k in _SINGLE:
        if len(form.getlist(k)) > 1:
            raise bad(k, "重复出现（每个字段只能给出一次）", "given more than once (each field is given once)")
    attrs: dict[str, list[str]] = {}
    for k in form:
        if k.startswith("attribute[") and k.endswith("]"):
            name = k[10:-1]
            if _CONTROL.search(name) or len(name) > 100:
                raise bad("attribute", f"属性名 {name[:40]!r} 无效", f"attribute name {name[:40]!r} is not valid")
            values = [v for v in form.getlist(k) if isinstance(v, str)]
            if any(_CONTROL.search(v) for v in values):
                raise bad(f"attribute[{name}]", "含有不可用的控制字符", "contains control characters that cannot be stored")
            attrs[name] = values
    args = {k: _form_text(form, k) for k in _TEXT_FIELDS if k != "address_id"}
    args.update({k: _form_number(form, k) for k in _NUMBER_FIELDS})
    media = form.get("media")
    if isinstance(media, str) and media:
        raise bad("media", "须为文件上传", "must be a file upload")
    photo = None
    if isinstance(media, StarletteUploadFile) and (media.filename or media.size):
        if media.size is not None:
            _photo_size(st, media.size)
        photo = await media.read()
        _photo_size(st, len(photo))
    fields = sorted((k, v) for k, v in form.multi_items() if isinstance(v, str) and k != "api_key")
    status, answer = await run_in_threadpool(
        _create, st, **args, idempotency_key=request.headers.get("idempotency-key"), attrs=attrs, photo=photo,
        fields=fields, lang=lang, address=client_address(request))
    return render(fmt.value, answer, root="service_requests", item="request", status=status)


def _photo_size(st, n: int) -> None:
    try:
        st.photos.check_size(n)
    except PhotoError as e:
        raise bad("media", e.zh, e.en) from None


def _create(st, *, api_key, service_code, lat, long, address_string, email, device_id, account_id, first_name,
            last_name, phone, description, media_url, crs, channel, client_report_id, idempotency_key, attrs, photo,
            fields, lang, address) -> tuple[int, list]:
    # Two round trips for a report: the key and both rate limits in one statement, the report in
    # another (the connection is in autocommit; each statement is atomic by itself).
    cfg = st.settings
    with st.engine.connect() as conn:
        key, address_wait, key_wait = keys.check(
            conn, api_key, address=address, address_rate=cfg.rate_per_address, address_burst=cfg.burst_per_address,
            key_rate=cfg.rate_per_key, key_burst=cfg.burst_per_key)
        if address_wait:
            raise _too_many(None, address_wait)
        if key is None:
            raise forbidden()
        if key_wait:
            raise _too_many("api_key", key_wait)
        idem = idempotency.idempotency_key(idempotency_key, _text("device_id", device_id, 200),
                                           _text("client_report_id", client_report_id, 200))
        digest = idempotency.body_digest(fields, hashlib.sha256(photo).hexdigest() if photo else None)
        if idem and photo is not None:
            replay = idempotency.lookup(conn, key.id, idem, digest)
            if replay:  # the retry of an answered request: no photo work (the statement covers the rest)
                return replay.status, answer_of(replay.response, lang)
        rep = _validate(key, conn=conn, service_code=service_code, lat=lat, long=long, address_string=address_string,
                        email=email, device_id=device_id, account_id=account_id, first_name=first_name,
                        last_name=last_name, phone=phone, description=description, media_url=media_url, crs=crs,
                        channel=channel, attrs=attrs, has_photo=photo is not None)
        if photo is None:
            return _report(conn, st, key, rep, lang=lang, idem=idem, digest=digest)
        try:
            stored = store_via(st.photo_pool, st.photos, photo)
        except PhotoError as e:
            raise bad("media", e.zh, e.en) from None
        # From here the stored photo belongs to the case the statement creates, or to nothing: any
        # refusal or failure, and a replay (the first post's case has its own photo), removes it.
        kept = False
        try:
            rep.photo_ref, rep.photo_gps = stored.ref, stored.gps
            status, answer = _report(conn, st, key, rep, lang=lang, idem=idem, digest=digest)
            kept = status == 201
            return status, answer
        finally:
            if not kept:
                st.photos.discard(stored.ref)


def _report(conn, st, key, rep: NewReport, *, lang, idem, digest) -> tuple[int, list]:
    # The point: lat/long as sent, else the photo's GPS; else, with an address, none yet — no
    # geocoder here, so the case is stored awaiting location (待定位) for the command centre.
    if rep.lon is None and rep.photo_gps:
        rep.lon, rep.lat, rep.crs = rep.photo_gps[0], rep.photo_gps[1], "WGS84"
    elif rep.lon is None and not rep.address:
        raise bad("lat", "照片中没有 GPS 位置：请给出 lat 和 long，或 address_string",
                  "the photo carries no GPS position: give lat and long, or address_string")
    return create_report(conn, key, rep, lang=lang, idem_key=idem, digest=digest,
                         radius_m=st.settings.duplicate_radius_m, days=st.settings.duplicate_days)


def _validate(key, *, conn, service_code, lat, long, address_string, email, device_id, account_id, first_name,
              last_name, phone, description, media_url, crs, channel, attrs, has_photo) -> NewReport:
    if not service_code:
        raise bad("service_code", "缺少服务代码", "missing")
    if not service_exists(conn, service_code):
        raise bad("service_code", f"服务 {service_code!r} 不存在（见 services）",
                  f"unknown service {service_code!r} (see services)")
    if channel is None or channel == key.channel:
        chan = key.channel
    elif key.channel == "other" and channel in CHANNELS:
        chan = channel
    else:
        raise bad("channel", f"该密钥属于渠道 {key.channel}，不能以 {channel!r} 上报",
                  f"this key belongs to channel {key.channel}; it cannot report as {channel!r}")
    crs_name = _text("crs", crs, 40) or "WGS84"
    try:
        crs_name = canonical(crs_name)
    except CoordinateError as e:
        raise bad("crs", f"坐标系无效：{e}", str(e)) from None
    if (lat is None) != (long is None):
        missing = "long" if long is None else "lat"
        raise bad(missing, "lat 和 long 须同时给出", "lat and long go together")
    if lat is not None:
        if lat == 0 and long == 0:  # "Null Island": a device's value when it had no fix, not a place
            raise bad("lat/long", "坐标 (0, 0) 不是有效位置（多为设备未定位时的默认值）：请给出实际位置，或只给 address_string",
                      "(0, 0) is not a place (a device's value when it had no fix): give the real position, "
                      "or address_string only")
        if not is_geographic(crs_name) and abs(long) <= 180 and abs(lat) <= 90:  # degrees in a metric system
            raise bad("crs", f"lat/long 看起来是经纬度（{lat:g}, {long:g}），而 {crs_name} 是米制投影坐标：经纬度请用 crs=WGS84",
                      f"lat/long look like degrees ({lat:g}, {long:g}) but {crs_name} is in metres: for degrees use "
                      "crs=WGS84 (or GCJ02 / BD09)")
        try:
            to_wgs84(long, lat, crs_name)  # the lifecycle converts again; this names the field on refusal
        except CoordinateError as e:
            raise _coordinate_refusal(e, lat, long, crs_name) from None
    elif not has_photo and not (address_string or "").strip():
        raise bad("lat/long", "须给出 lat 和 long，或 address_string", "give lat and long, or address_string")
    desc = _text("description", description, MAX_DESCRIPTION) or ""
    e = _text("email", email, 200)
    if e and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", e):
        raise bad("email", "不是有效的电子邮件地址", "not an e-mail address")
    p = _text("phone", phone, 40)
    if p and not re.fullmatch(r"[0-9+()\- ]{3,40}", p):
        raise bad("phone", "电话号码只能包含数字、空格和 + - ( )", "a phone number has only digits, spaces and + - ( )")
    m = _text("media_url", media_url, 1000)
    if m and not re.match(r"^https?://", m, re.IGNORECASE):
        raise bad("media_url", "须为 http(s) 地址", "must be an http(s) URL")
    return NewReport(
        service_code=service_code, lon=long, lat=lat, crs=crs_name, channel=chan, description=desc,
        address=_text("address_string", address_string, 500), attributes=check_attributes(conn, service_code, attrs),
        email=e, first_name=_text("first_name", first_name, 100), last_name=_text("last_name", last_name, 100),
        phone=p, device_id=_text("device_id", device_id, 200), account_id=_text("account_id", account_id, 200),
        media_url=m)


def _coordinate_refusal(e: CoordinateError, lat: float, long: float, crs: str) -> IntakeError:
    """The refusal of a point in the form's own terms (named fields lat and long), in both languages."""
    at = f"lat={lat:g}, long={long:g}"
    if e.kind == "swapped":
        return bad("lat/long", f"lat 与 long 似乎填反了（{at}）：lat 是纬度（−90～90），long 是经度（−180～180）",
                   f"lat and long look swapped ({at}): lat is the latitude (-90 to 90), long the longitude (-180 to 180)")
    if e.kind == "outside_china":
        return bad("lat/long", f"坐标（{at}）不在中国境内：{crs} 坐标只在境内有定义",
                   f"the point ({at}) is outside China, where {crs} coordinates are defined")
    if e.kind == "range":
        return bad("lat/long", f"坐标超出范围（{at}）：lat 须在 −90～90，long 须在 −180～180",
                   f"out of range ({at}): lat must be in [-90, 90] and long in [-180, 180]")
    return bad("lat/long", f"坐标无法换算为 WGS-84（{at}，坐标系 {crs}）", str(e))


def _when(field: str, v: str | None) -> datetime | None:
    if v is None or not v.strip():
        return None
    try:
        t = datetime.fromisoformat(v.strip())
    except ValueError:
        raise bad(field, f"{v!r} 不是 ISO 8601 时间", f"{v!r} is not an ISO 8601 time") from None
    return t if t.tzinfo else t.replace(tzinfo=TZ)  # a time without zone is the district's local time


def _span(start_date: str | None, end_date: str | None) -> tuple[datetime, datetime]:
    start, end = _when("start_date", start_date), _when("end_date", end_date)
    if start is None and end is None:
        end = datetime.now(TZ)
    try:
        if start is None:
            start = end - MAX_SPAN
        if end is None:
            end = start + MAX_SPAN
    except OverflowError:  # a date at the calendar's ends (0001-01-01, 9999-12-31)
        field = "end_date" if start is None else "start_date"
        raise bad(field, "时间超出可查询的范围", "the time is out of the range that can be searched") from None
    if end < start:
        raise bad("end_date", "结束时间早于开始时间", "end_date is before start_date")
    if end - start > MAX_SPAN:
        raise bad("start_date", "start_date 与 end_date 相差不得超过 90 天", "start_date and end_date span at most 90 days")
    return start, end


def _reads(request: Request) -> dict:
    st = request.app.state
    return {"media_base": str(request.base_url).rstrip("/") + ROOT + "/media", "photo_exists": st.photos.exists}


@router.get("/requests.{fmt}", summary="Query service requests", dependencies=[Depends(read_gate)])
def get_requests(
    request: Request, fmt: Fmt, lang: Lang,
    service_request_id: Annotated[str | None, Query(description="comma-separated ids; the other filters are then ignored")] = None,
    service_code: Annotated[str | None, Query(description="comma-separated service codes")] = None,
    start_date: Annotated[str | None, Query()] = None,
    end_date: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query(description="open, closed or both, comma-separated")] = None,
    extensions: Annotated[bool, Query(description="extension: history and channel")] = False,
    page: Annotated[int, Query(ge=1, le=1_000_000, description="extension")] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_ROWS, description="extension")] = MAX_ROWS,
) -> Response:
    ids = _list("service_request_id", service_request_id)
    codes = _list("service_code", service_code)
    statuses = _list("status", status)
    if statuses and not set(statuses) <= {"open", "closed"}:
        raise bad("status", "只能是 open 或 closed", "must be open or closed")
    start, end = _span(start_date, end_date)
    with request.app.state.engine.connect() as conn:
        rows = find_requests(conn, ids=ids, service_codes=codes, start=start, end=end, statuses=statuses, page=page,
                             page_size=page_size, lang=lang, extensions=extensions, **_reads(request))
    return render(fmt.value, rows, root="service_requests", item="request")


def _list(field: str, v: str | None) -> list[str] | None:
    if v is None:
        return None
    items = [x.strip() for x in v.split(",") if x.strip()]
    if len(items) > MAX_ROWS:
        raise bad(field, f"最多 {MAX_ROWS} 项", f"at most {MAX_ROWS} items")
    if any(_CONTROL.search(x) or len(x) > 100 for x in items):
        raise bad(field, "含有无效的值", "contains an invalid value")
    return items or None


@router.get("/requests/{service_request_id}.{fmt}", summary="One service request", dependencies=[Depends(read_gate)])
def get_request(request: Request, service_request_id: str, fmt: Fmt, lang: Lang,
                extensions: Annotated[bool, Query(description="extension: history and channel")] = False) -> Response:
    with request.app.state.engine.connect() as conn:
        row = None if _CONTROL.search(service_request_id) else request_by_id(
            conn, service_request_id, lang=lang, extensions=extensions, **_reads(request))
    if row is None:
        raise not_found("service_request_id", f"案件 {service_request_id!r} 不存在", f"no request {service_request_id!r}")
    return render(fmt.value, [row], root="service_requests", item="request")


@router.get("/tokens/{token}.{fmt}", summary="Service request id from a token", dependencies=[Depends(read_gate)])
def get_token(request: Request, token: str, fmt: Fmt) -> Response:
    with request.app.state.engine.connect() as conn:
        no = None if _CONTROL.search(token) or len(token) > 100 else case_no_for_token(conn, token)
    if no is None:
        raise not_found("token", "令牌不存在", "unknown token")
    return render(fmt.value, [{"service_request_id": no, "token": token}], root="service_requests", item="request")


@router.get("/media/{ref}", summary="A stored photo (extension)", response_class=FileResponse,
            dependencies=[Depends(media_gate)])
def get_media(request: Request, ref: str) -> Response:
    st = request.app.state
    if not st.photos.exists(ref):
        raise not_found("ref", "照片不存在", "no such photo")
    return FileResponse(st.photos.path(ref), media_type="image/png" if ref.endswith(".png") else "image/jpeg",
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=86400"})
