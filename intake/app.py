"""The ASGI app factory: ``uvicorn --factory intake.app:create_app``.

One engine per process (the pool is shared by the worker threads) and the photo store live on
``app.state``. The engine's connections are in AUTOCOMMIT: every database step of the service is
one statement, atomic by itself, so no BEGIN/COMMIT round trips (a report is two statements:
``keys.check``, then ``reports.create_report``). A write of more than one statement added here
would NOT be atomic: write it as one statement (CTEs), or open ``engine.begin()`` on an engine
without the option. The rate-limit buckets are in the database, shared by all workers. Every refusal, including FastAPI's own validation, is
answered in the GeoReport error shape (an array of ``{code, description}``) in the format the
path asked for.

503 with ``Retry-After`` (and the same error array) when the database cannot be reached —
refused, dropped, or silent past ``db_connect_timeout_s`` — or the service is overloaded: every
pooled connection busy past ``db_pool_wait_s``, a statement past ``statement_timeout_ms``, the
server out of connections or resources, more than ``max_in_flight`` requests at once in this
process (``InFlightLimit``: answered before any work, rather than queued). Nothing is
half-written then: a report is one statement (it committed or it did not), and a photo stored
for it is removed (``open311._create``); the client retries with its idempotency key
(docs/intake.md).
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import create_engine
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from db.config import database_url
from dispatch.errors import LifecycleError
from dispatch.service import db_unavailable
from gis.crs import CoordinateError
from gis.text import in_lang
from intake.errors import IntakeError
from intake.formats import render
from intake.open311 import ROOT, Fmt, post_request, request_lang, router
from intake.photos import PhotoStore, photo_pool
from intake.settings import Settings
from intake.tiles import load_source, router as tiles_router

log = logging.getLogger("intake")


def _fmt(request: Request) -> str:
    return "xml" if request.url.path.endswith(".xml") else "json"


def _errors(request: Request, status: int, description: str, headers: dict | None = None):
    return render(_fmt(request), [{"code": status, "description": description}], root="errors", item="error",
                  status=status, headers=headers)


# SQLSTATEs of an overloaded server (class 53: too many connections, out of memory or disk) and of
# a statement cut by statement_timeout (57014): the request may succeed later.
def _overloaded(e: sa_exc.DBAPIError) -> bool:
    code = getattr(getattr(e, "orig", None), "pgcode", None) or ""
    return code.startswith("53") or code == "57014"


def _unavailable(request: Request, *, busy: bool):
    zh = request_lang(request) == "zh"
    if busy:
        text = "服务繁忙，请稍后重试" if zh else "the service is busy; retry shortly"
    else:
        text = "数据库暂不可用，请稍后重试" if zh else "the database is unavailable; retry shortly"
    return _errors(request, 503, text, {"Retry-After": str(RETRY_BUSY_S if busy else RETRY_DOWN_S)})


RETRY_DOWN_S = 5   # Retry-After when the database cannot be reached
RETRY_BUSY_S = 2   # … when it, or this service, is too busy to answer now


def _validation_field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


# The checks FastAPI makes of query and path parameters (types, bounds), said in Chinese; any
# other kind (none is declared today) gets the general wording.
_VALIDATION_ZH = {
    "missing": "缺少此项",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "greater_than_equal": "应不小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "应不大于 {le}",
    "less_than": "应小于 {lt}",
    "string_too_long": "最多 {max_length} 个字符",
    "string_too_short": "至少 {min_length} 个字符",
}


def _validation_zh(err: dict) -> str:
    """One pydantic error of a parameter in Chinese (pydantic words them in English only)."""
    template = _VALIDATION_ZH.get(str(err.get("type", "")))
    if template is None:
        return "取值无效"
    try:
        return template.format(**(err.get("ctx") or {}))
    except (KeyError, IndexError):
        return "取值无效"


class BodyTooLarge(IntakeError):
    """The body went past the cap while it was read (no length declared, or a wrong one)."""

    def __init__(self, max_bytes: int):
        mb, photo = max_bytes / 1048576, (max_bytes - FORM_ROOM) / 1048576
        super().__init__(400, "request", f"请求超过 {mb:.0f} MB（照片不得超过 {photo:.0f} MB）",
                         f"the request is larger than {mb:.0f} MB (a photo may be at most {photo:.0f} MB)")


FORM_ROOM = 1024 * 1024  # the body's cap: the photo's and this for the rest of the form
DRAIN_MAX = 64 * 1024 * 1024  # read and dropped after a refusal, so the client reads the answer; then the connection goes


async def _drain(receive, limit: int = DRAIN_MAX) -> None:
    n = 0
    while n <= limit:
        msg = await receive()
        if msg.get("type") != "http.request" or not msg.get("more_body"):
            return
        n += len(msg.get("body", b""))


class BodyLimit:
    """Refuse a request whose body is larger than a photo and its form could be, before the multipart
    parser spools more of it to disk. A declared ``Content-Length`` over the cap is refused before
    anything is read; without one (``Transfer-Encoding: chunked``) or with a wrong one, the bytes are
    counted as they are read, and the read that passes the cap raises ``BodyTooLarge`` (answered 400 by
    the app's handler), so at most the cap is ever spooled, whoever sends it (the key is checked
    after the form is read). The rest of the body is drained and discarded (not kept), up to
    ``DRAIN_MAX``: answering and closing while the client is still sending resets the connection,
    and the client may then lose the answer."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            await _drain(receive)
            lang = request_lang(Request(scope))
            fmt = "xml" if scope.get("path", "").endswith(".xml") else "json"
            resp = render(fmt, [{"code": 400, "description": BodyTooLarge(self.max_bytes).description(lang)}],
                          root="errors", item="error", status=400)
            await resp(scope, receive, send)
            return
        seen = 0

        async def counted():
            nonlocal seen
            msg = await receive()
            if msg.get("type") == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    if msg.get("more_body"):
                        await _drain(receive)
                    raise BodyTooLarge(self.max_bytes)
            return msg

        await self.app(scope, counted, send)


class ReportFastPath:
    """``POST requests.{json,xml}`` — the hot path — straight to its handler (``open311.post_request``),
    past FastAPI's routing, dependency solving and exit stacks, which cost about a third of the
    service's CPU per report (py-spy, docs/intake.md). The route stays declared, so the OpenAPI
    document (and schemathesis) still describe it; a refusal is answered by the app's own exception
    handlers, as on the routed path. Every other request goes on to the router."""

    def __init__(self, app):
        self.app = app
        self.paths = {f"{ROOT}/requests.{f.value}": f for f in Fmt}

    async def __call__(self, scope, receive, send):
        fmt = self.paths.get(scope.get("path")) if scope["type"] == "http" and scope["method"] == "POST" else None
        if fmt is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            try:
                response = await post_request(request, fmt)
            except Exception as e:  # noqa: BLE001  (answered as the router's handlers answer it)
                response = await _handler_for(scope["app"], e)(request, e)
            await response(scope, receive, send)
        finally:
            await request.close()  # an uploaded photo's spooled file


def _handler_for(app: FastAPI, e: Exception):
    for cls in type(e).__mro__:
        if cls in app.exception_handlers:
            return app.exception_handlers[cls]
    raise e


class InFlightLimit:
    """Answer 503 at once, before any work, when ``limit`` requests are already being served by this
    process: under overload a quick "retry later" beats a queue whose answers come too late to be
    read. ``/healthz`` is never refused (the process is alive, only busy)."""

    def __init__(self, app, limit: int):
        self.app, self.limit, self.active = app, limit, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.limit <= 0 or scope.get("path") == "/healthz":
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            while (await receive()).get("more_body"):  # drained, as BodyLimit does: no reset under the client
                pass
            await _unavailable(Request(scope), busy=True)(scope, receive, send)
            return
        self.active += 1  # one event loop per process: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.engine.dispose()
        if app.state.photo_pool is not None:
            app.state.photo_pool.shutdown(cancel_futures=True)

    app = FastAPI(lifespan=lifespan, title="网格化管理 Open311 GeoReport v2 intake", version="2",
                  description="Open311 GeoReport v2 with this platform's extensions (docs/intake.md).")
    app.state.settings = settings
    # jit off: a report writes a row or two, but the statistics triggers' plans are estimated high
    # enough to be JIT-compiled (5–9 ms a report under EXPLAIN ANALYZE; the served path's plans were
    # not, so this is insurance). No pool_pre_ping: it costs a round trip on every request. After a
    # database restart one request per stale connection fails; clients retry, and the idempotency
    # key makes the retry safe.
    app.state.engine = create_engine(
        settings.database_url or database_url(), isolation_level="AUTOCOMMIT", pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow, pool_timeout=settings.db_pool_wait_s, pool_recycle=600,
        connect_args={"options": f"-c timezone=Asia/Shanghai -c jit=off -c statement_timeout={settings.statement_timeout_ms}",
                      "application_name": "gridgov-intake", "connect_timeout": settings.db_connect_timeout_s})
    app.state.photos = PhotoStore(settings.photo_dir, max_bytes=settings.max_photo_bytes,
                                  max_pixels=settings.max_photo_pixels, max_side=settings.photo_max_side)
    app.state.photo_pool = photo_pool(settings.photo_processes)
    app.state.tiles = load_source(settings.tiles)  # None: no base map (a wrong path is logged, not fatal)
    app.include_router(router)
    app.include_router(tiles_router)
    app.add_middleware(ReportFastPath)
    app.add_middleware(BodyLimit, max_bytes=settings.max_photo_bytes + FORM_ROOM)  # outside the fast path
    app.add_middleware(InFlightLimit, limit=settings.max_in_flight)  # outermost: refuses before the rest

    @app.exception_handler(IntakeError)
    async def intake_error(request: Request, e: IntakeError):
        headers = {"Retry-After": str(e.retry_after)} if e.retry_after else None
        return _errors(request, e.status, e.description(request_lang(request)), headers)

    @app.exception_handler(LifecycleError)
    async def lifecycle_error(request: Request, e: LifecycleError):
        return _errors(request, 400, e.message(request_lang(request)))

    @app.exception_handler(CoordinateError)
    async def coordinate_error(request: Request, e: CoordinateError):
        return _errors(request, 400, f"lat/long: {in_lang(e, request_lang(request))}")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError):
        errs = e.errors()
        first = errs[0] if errs else {"loc": (), "msg": "invalid request", "type": ""}
        field = _validation_field(tuple(first.get("loc", ())))
        zh = request_lang(request) == "zh"
        if field == "fmt":  # an unknown format suffix is an unknown resource
            return _errors(request, 404, "fmt: 只有 .json 和 .xml 两种格式" if zh else "fmt: only .json and .xml exist")
        return _errors(request, 400, f"{field}: {_validation_zh(first) if zh else first.get('msg')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        status = e.status_code if e.status_code in (404, 405) else 400
        detail = e.detail
        if request_lang(request) == "zh":
            detail = {404: "没有这个资源", 405: f"不接受 {request.method} 方法"}.get(status, detail)
        return _errors(request, status, f"{request.url.path}: {detail}", getattr(e, "headers", None))

    @app.exception_handler(sa_exc.DBAPIError)
    async def database_error(request: Request, e: sa_exc.DBAPIError):
        if db_unavailable(e):  # restarting or unreachable: the client should retry (its idempotency key makes it safe)
            return _unavailable(request, busy=False)
        if _overloaded(e):
            return _unavailable(request, busy=True)
        log.exception("database error on %s", request.url.path)
        return _errors(request, 500, "internal error; it has been logged")

    @app.exception_handler(sa_exc.TimeoutError)
    async def pool_exhausted(request: Request, e: sa_exc.TimeoutError):
        # every pooled connection busy for db_pool_wait_s: overloaded, answer now rather than queue
        log.warning("no database connection free within %.1f s on %s", settings.db_pool_wait_s, request.url.path)
        return _unavailable(request, busy=True)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _errors(request, 500, "internal error; it has been logged")

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return {"ok": True, "root": ROOT}

    return app
