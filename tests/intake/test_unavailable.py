"""The 503 path: a database that is gone, silent or overloaded gets the client a 503 with
``Retry-After`` and the GeoReport error array — never a 500 or a hang — and nothing half-written;
the retry under the same idempotency key then creates exactly one case.

The service runs in a subprocess (real HTTP) against the real test database through a TCP relay
this module controls (``Relay``): ``open`` passes bytes both ways; ``down`` cuts every relayed
connection and refuses new ones (the server stopped or crashed); ``silent`` cuts them and accepts
new ones without ever answering (a hung server or host: only a timeout ends the wait).
"""
from __future__ import annotations

import io
import socket
import threading
import time
import uuid
from xml.etree import ElementTree as ET

import httpx
import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.engine import make_url

from intake.process import free_port
from tests.intake.conftest import INSIDE, start_server, stop_server


class Relay:
    """A loopback TCP relay to ``target`` whose behaviour the test switches (see the module doc)."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.mode, self.port = target, "open", free_port()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._closed = False
        self._listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def _listen(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.2)
        self._listener = s

    def _accept(self) -> None:
        while not self._closed:
            with self._lock:
                listener = self._listener
            if listener is None:  # down: nothing listens, connections are refused
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._conns.append(client)
                if self.mode == "silent":
                    continue  # held open, never answered
                upstream = socket.create_connection(self.target)
                self._conns.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _cut(self) -> None:
        for s in self._conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self._conns.clear()

    def set(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            self._cut()
            if mode == "down" and self._listener is not None:
                self._listener.close()
                self._listener = None
            elif mode != "down" and self._listener is None:
                self._listen()

    def close(self) -> None:
        self._closed = True
        self.set("down")


@pytest.fixture(scope="module")
def relay(intake_db_url):
    url = make_url(intake_db_url)
    r = Relay((url.host or "127.0.0.1", url.port or 5432))
    yield r
    r.close()


@pytest.fixture(scope="module")
def relayed(relay, intake_db_url, tmp_path_factory):
    """A service reaching its database through the relay, with a small pool and short waits."""
    photos = tmp_path_factory.mktemp("photos-503")
    url = make_url(intake_db_url).set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    proc, base = start_server(url, photos, workers=1, INTAKE_PHOTO_PROCESSES=0, INTAKE_DB_POOL_SIZE=1,
                              INTAKE_DB_MAX_OVERFLOW=0, INTAKE_DB_POOL_WAIT_S=1, INTAKE_DB_CONNECT_TIMEOUT_S=2)
    with httpx.Client(base_url=base + "/open311/v2", timeout=30) as c:
        yield c, photos
    stop_server(proc)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 90, 40)).save(buf, "JPEG")
    return buf.getvalue()


def _post(api, key, desc, fmt="json", *, idem=None, photo=False, **extra):
    data = {"api_key": key, "service_code": "0103", "long": str(INSIDE[0]), "lat": str(INSIDE[1]),
            "description": desc, **extra}
    files = {"media": ("p.jpg", _jpeg(), "image/jpeg")} if photo else None
    headers = {"Idempotency-Key": idem} if idem else {}
    return api.post(f"/requests.{fmt}", data=data, files=files, headers=headers)


def _written(engine, desc) -> tuple[int, int, int]:
    with engine.connect() as c:
        return tuple(c.execute(text(
            "SELECT count(*), (SELECT count(*) FROM intake_request r JOIN cases x ON x.id = r.case_id "
            "WHERE x.description = :d), (SELECT count(*) FROM case_event e JOIN cases x ON x.id = e.case_id "
            "WHERE x.description = :d) FROM cases WHERE description = :d"), {"d": desc}).one())


def _assert_503(r, fmt):
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) > 0
    if fmt == "xml":
        root = ET.fromstring(r.content)
        assert root.tag == "errors" and root.findtext("error/code") == "503"
        assert root.findtext("error/description")
    else:
        (err,) = r.json()
        assert err["code"] == 503 and err["description"]


def _files(d):
    return sorted(p.name for p in d.rglob("*") if p.is_file())


@pytest.mark.parametrize("mode", ["down", "silent"])
def test_database_gone_or_silent_is_503_nothing_written_and_the_retry_makes_one_case(relay, relayed, key,
                                                                                     intake_engine, mode):
    api, photos = relayed
    assert _post(api, key, "warm " + uuid.uuid4().hex).status_code == 201  # a pooled connection exists
    desc, idem = f"{mode} " + uuid.uuid4().hex, uuid.uuid4().hex
    files_before = _files(photos)
    relay.set(mode)
    try:
        for fmt in ("json", "xml"):
            t0 = time.monotonic()
            r = _post(api, key, desc, fmt, idem=idem, photo=True)
            _assert_503(r, fmt)
            assert time.monotonic() - t0 < 15, "answered, but only after a long wait"
        _assert_503(api.get("/requests.json"), "json")
        _assert_503(api.get("/requests.xml", params={"lang": "en"}), "xml")
    finally:
        relay.set("open")
    assert _written(intake_engine, desc) == (0, 0, 0)
    assert _files(photos) == files_before  # the photo stored for the refused report was removed
    # the client retries with its key: exactly one case (a first try may meet a connection the cut
    # left in the pool, and is answered 503 too)
    for _ in range(5):
        r = _post(api, key, desc, idem=idem, photo=True)
        if r.status_code != 503:
            break
    assert r.status_code == 201, r.text
    assert _post(api, key, desc, idem=idem, photo=True).status_code == 200  # a replay, not a second case
    assert _written(intake_engine, desc) == (1, 1, 1)


def test_every_connection_busy_is_503_at_once_then_the_waiting_report_completes(relayed, key, intake_engine):
    """Overload: the one pooled connection is held by a report waiting on a lock (another transaction
    holds its idempotency key); the next request cannot get a connection within the pool wait and is
    answered 503 with Retry-After instead of queueing."""
    api, _ = relayed
    from intake.keys import verify

    desc, idem = "busy " + uuid.uuid4().hex, uuid.uuid4().hex
    with intake_engine.connect() as c:
        key_id = verify(c, key).id
    blocker = intake_engine.connect()
    tx = blocker.begin()
    blocker.execute(text("INSERT INTO intake_idempotency(api_key_id, idem_key, body_sha256) VALUES (:k, :i, 'x')"),
                    {"k": key_id, "i": "h:" + idem})  # the service scopes header keys so
    result: dict = {}
    waiting = threading.Thread(target=lambda: result.update(r=_post(api, key, desc, idem=idem)))
    waiting.start()
    try:
        time.sleep(1.5)  # the report now waits on the key's row, holding the pool's only connection
        assert waiting.is_alive(), result["r"].text
        t0 = time.monotonic()
        busy = api.get("/requests.xml")
        _assert_503(busy, "xml")
        assert time.monotonic() - t0 < 10
    finally:
        tx.rollback()
        blocker.close()
    waiting.join(30)
    assert result["r"].status_code == 201, result["r"].text
    assert _written(intake_engine, desc) == (1, 1, 1)


def test_more_requests_at_once_than_the_process_serves_are_503_before_any_work(intake_db_url, key, intake_engine,
                                                                                  tmp_path):
    """INTAKE_MAX_IN_FLIGHT: with one request held (waiting on a lock), the next is refused at once,
    in the request's format, without touching the database; the held one then completes."""
    from intake.keys import verify

    proc, base = start_server(intake_db_url, tmp_path, workers=1, INTAKE_PHOTO_PROCESSES=0, INTAKE_MAX_IN_FLIGHT=1)
    desc, idem, refused = "in flight " + uuid.uuid4().hex, uuid.uuid4().hex, "refused " + uuid.uuid4().hex
    with intake_engine.connect() as c:
        key_id = verify(c, key).id
    blocker = intake_engine.connect()
    tx = blocker.begin()
    blocker.execute(text("INSERT INTO intake_idempotency(api_key_id, idem_key, body_sha256) VALUES (:k, :i, 'x')"),
                    {"k": key_id, "i": "h:" + idem})
    result: dict = {}
    try:
        with httpx.Client(base_url=base + "/open311/v2", timeout=30) as api:
            waiting = threading.Thread(target=lambda: result.update(r=_post(api, key, desc, idem=idem)))
            waiting.start()
            time.sleep(1.5)
            assert waiting.is_alive()
            t0 = time.monotonic()
            for fmt in ("json", "xml"):
                _assert_503(_post(api, key, refused, fmt), fmt)
            assert time.monotonic() - t0 < 5
            assert httpx.get(base + "/healthz", timeout=5).status_code == 200  # alive, only busy
            tx.rollback()
            waiting.join(30)
    finally:
        if tx.is_active:
            tx.rollback()
        blocker.close()
        stop_server(proc)
    assert result["r"].status_code == 201, result["r"].text
    assert _written(intake_engine, desc) == (1, 1, 1) and _written(intake_engine, refused) == (0, 0, 0)
