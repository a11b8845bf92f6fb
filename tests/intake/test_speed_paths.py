"""What the one-statement report path (``reports.create_report``) and the database rate limits
promise: limits shared by every process on the database, no photo file left by a refused or
rolled-back report, and the same case and event rows as the lifecycle's ``report_case``."""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from dispatch import service as lifecycle
from tests.intake.conftest import INSIDE, new_key, start_server, stop_server
from tests.intake.test_open311 import errors_of, post
from tests.intake.test_photos import jpeg, post_photo


def _clear_buckets(engine) -> None:
    with engine.begin() as c:
        c.execute(text("DELETE FROM intake_rate_bucket"))


def _fresh(base: str) -> httpx.Client:
    """A client whose every request opens a new connection (so uvicorn's workers share the requests)."""
    return httpx.Client(base_url=base + "/open311/v2", limits=httpx.Limits(max_keepalive_connections=0))


def test_key_limit_is_shared_by_workers_and_processes(intake_db_url, intake_engine, tmp_path):
    """A service of 2 workers and a second service on the same database: one bucket per key, so
    a burst of 5 admits exactly 5 reports in all (per-process buckets would admit up to 15)."""
    _clear_buckets(intake_engine)
    env = {"INTAKE_RATE_PER_KEY": 0.001, "INTAKE_BURST_PER_KEY": 5}
    a, base_a = start_server(intake_db_url, tmp_path, workers=2, **env)
    b, base_b = start_server(intake_db_url, tmp_path, workers=1, **env)
    try:
        _, k = new_key(intake_engine, "wechat", "shared limit")
        codes, waits = [], []
        with _fresh(base_a) as ca, _fresh(base_b) as cb:
            for i in range(18):
                r = post(ca if i % 3 else cb, k)
                codes.append(r.status_code)
                if r.status_code == 429:
                    waits.append(int(r.headers["Retry-After"]))
                    assert errors_of(r)[0]["code"] == 429 and "api_key" in errors_of(r)[0]["description"]
        assert codes.count(201) == 5 and codes.count(429) == 13, codes
        assert codes[:5] == [201] * 5
        assert min(waits) >= 900  # a token every 1,000 s
        with intake_engine.connect() as c:
            made = c.execute(text("SELECT count(*) FROM intake_request r JOIN intake_api_key k ON k.id = r.api_key_id "
                                  "WHERE k.name = 'shared limit'")).scalar()
        assert made == 5
    finally:
        stop_server(a)
        stop_server(b)


def test_address_limit_is_shared_and_refills(intake_db_url, intake_engine, tmp_path):
    _clear_buckets(intake_engine)
    env = {"INTAKE_RATE_PER_ADDRESS": 0.5, "INTAKE_BURST_PER_ADDRESS": 4}
    a, base_a = start_server(intake_db_url, tmp_path, workers=2, **env)
    b, base_b = start_server(intake_db_url, tmp_path, workers=1, **env)
    try:
        with _fresh(base_a) as ca, _fresh(base_b) as cb:
            t0 = time.monotonic()
            codes = [(ca if i % 2 else cb).get("/services.json").status_code for i in range(8)]
            refilled = int((time.monotonic() - t0) * 0.5) + 1  # tokens back meanwhile (a loaded machine is slow)
            assert codes[:4] == [200] * 4 and codes.count(429) >= 4 - refilled, codes
            assert refilled < 4  # else this run cannot tell shared from per-process buckets (3 × 4)
            r = ca.get("/services.xml")
            assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
            time.sleep(2.1)  # a token every 2 s
            assert ca.get("/discovery.json").status_code == 200
    finally:
        stop_server(a)
        stop_server(b)


def _files(photo_dir: Path) -> set[str]:
    return {p.name for p in photo_dir.rglob("*") if p.is_file()}


def test_a_photo_report_refused_after_the_photo_is_stored_leaves_no_file(api, key, photo_dir):
    before = _files(photo_dir)
    r = post_photo(api, key, jpeg(), long=None, lat=None)  # no coordinates and no GPS in the photo
    assert r.status_code == 400 and errors_of(r)[0]["description"].startswith("lat")
    assert _files(photo_dir) == before


@pytest.fixture
def failing_intake_request(intake_db_url):
    """A trigger (owner role) that makes the report statement fail for a description starting
    with FAIL-: the statement has then already inserted the case, and PostgreSQL undoes it."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from db import config

    owner = make_url(config.test_owner_database_url()).set(database=make_url(intake_db_url).database)
    eng = create_engine(owner)
    with eng.begin() as c:
        c.execute(text("""
            CREATE FUNCTION test_fail_report() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF (SELECT description FROM cases WHERE id = NEW.case_id) LIKE 'FAIL-%' THEN
                    RAISE EXCEPTION 'test: refused by the database';
                END IF;
                RETURN NEW;
            END $$;
            CREATE CONSTRAINT TRIGGER test_fail_report AFTER INSERT ON intake_request
                FOR EACH ROW EXECUTE FUNCTION test_fail_report();"""))
    try:
        yield
    finally:
        with eng.begin() as c:
            c.execute(text("DROP TRIGGER test_fail_report ON intake_request; DROP FUNCTION test_fail_report()"))
        eng.dispose()


def test_a_photo_report_rolled_back_by_the_database_leaves_no_file_and_no_case(
        api, key, photo_dir, intake_engine, failing_intake_request):
    before = _files(photo_dir)
    desc = "FAIL-" + uuid.uuid4().hex
    r = post_photo(api, key, jpeg(), description=desc)
    assert r.status_code == 500 and errors_of(r)[0]["code"] == 500
    assert _files(photo_dir) == before
    with intake_engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM cases WHERE description = :d"), {"d": desc}).scalar() == 0
    # The next photo report is stored with its file. (A new connection: after a 500 the server
    # closes the one it answered on.)
    with httpx.Client(base_url=str(api.base_url), timeout=30) as fresh:
        ok = post_photo(fresh, key, jpeg())
    assert ok.status_code == 201 and len(_files(photo_dir)) == len(before) + 1


def test_a_replayed_photo_report_keeps_one_file(api, key, photo_dir):
    before = _files(photo_dir)
    idem = {"Idempotency-Key": uuid.uuid4().hex}
    data = jpeg()
    first = api.post("/requests.json", headers=idem, files={"media": ("p.jpg", data, "image/jpeg")},
                     data={"api_key": key, "service_code": "0103", "long": INSIDE[0], "lat": INSIDE[1]})
    again = api.post("/requests.json", headers=idem, files={"media": ("p.jpg", data, "image/jpeg")},
                     data={"api_key": key, "service_code": "0103", "long": INSIDE[0], "lat": INSIDE[1]})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()[0]["service_request_id"] == first.json()[0]["service_request_id"]
    assert len(_files(photo_dir)) == len(before) + 1


def test_the_report_statement_writes_what_report_case_writes(intake_engine):
    """``report_case_ctes`` (the intake's one statement) and ``report_case`` (everyone else) give
    the same case and 'report' event, apart from ids, numbers and times."""
    kw = {"channel": "hotline", "lon": INSIDE[0], "lat": INSIDE[1], "crs": "WGS84", "category_code": "0103",
          "description": "同一上报 " + uuid.uuid4().hex[:6], "address": "某路 1 号", "reporter_name": "张三",
          "reporter_phone": "13800000000", "photo_ref": "0" * 32 + ".jpg"}
    skip_case = {"id", "case_no", "reported_at", "updated_at", "due_at", "warn_at", "deadline_from"}
    skip_event = {"id", "case_id", "at", "due_at", "seq"}
    with intake_engine.connect() as c:
        tx = c.begin()  # report_case then works in a savepoint of it; nothing is kept
        try:
            a = lifecycle.report_case(c, **kw)
            ctes, params = lifecycle.report_case_ctes(**kw)
            b = dict(c.execute(text("WITH " + ctes + " SELECT * FROM new_case"), params).mappings().one())
            ev = {r["case_id"]: dict(r) for r in c.execute(text(
                "SELECT * FROM case_event WHERE case_id = ANY(:i)"), {"i": [a["id"], b["id"]]}).mappings()}
        finally:
            tx.rollback()
    assert {k: v for k, v in a.items() if k not in skip_case} == {k: v for k, v in b.items() if k not in skip_case}
    assert a["grid_code"].endswith("001")
    ea, eb = ev[a["id"]], ev[b["id"]]
    assert {k: v for k, v in ea.items() if k not in skip_event} == {k: v for k, v in eb.items() if k not in skip_event}


def test_a_prepared_statement_is_prepared_again_when_the_server_lost_it(intake_db_url):
    """``intake.prepared``: a statement is prepared once per connection and re-prepared when the
    connection no longer has it (``DEALLOCATE``, or a connection replaced behind the pool)."""
    from sqlalchemy import create_engine

    from intake.prepared import Prepared

    eng = create_engine(intake_db_url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
    st = Prepared("SELECT CAST(:a AS text) || '/' || :b AS v, :n + 1 AS m", {"a": "text", "n": "integer"},
                  prefix="test_prepared")
    try:
        with eng.connect() as c:
            assert st.execute(c, {"a": "x", "b": "y", "n": 1, "unused": 0}).one() == ("x/y", 2)
            assert c.execute(text("SELECT count(*) FROM pg_prepared_statements WHERE name = :n"),
                             {"n": st.name}).scalar() == 1
            c.exec_driver_sql("DEALLOCATE ALL")
            assert st.execute(c, {"a": None, "b": "z", "n": 41}).one() == (None, 42)
        with eng.connect() as c:  # the same pooled connection: prepared once, not again
            assert st.execute(c, {"a": "p", "b": "q", "n": 0}).one() == ("p/q", 1)
            assert c.execute(text("SELECT count(*) FROM pg_prepared_statements WHERE name = :n"),
                             {"n": st.name}).scalar() == 1
    finally:
        eng.dispose()


def test_a_prepared_statement_on_a_lost_connection_fails_as_sqlalchemy_would_and_the_pool_recovers(
        intake_db_url, intake_engine):
    """The DBAPI cursor is used directly, so what SQLAlchemy does on an error is done by hand: a
    disconnect comes out as ``DBAPIError`` with ``connection_invalidated`` (the service answers 503
    and the client retries) and the pool replaces the connection, where the statement is prepared
    again; a constraint refusal comes out as ``IntegrityError``."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError, IntegrityError

    from dispatch.service import db_unavailable
    from intake.prepared import Prepared

    eng = create_engine(intake_db_url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
    st = Prepared("SELECT pg_backend_pid() AS pid, :n + 1 AS m", {"n": "integer"}, prefix="test_lost")
    bad = Prepared("SELECT CAST(:v AS int) AS i", {"v": "text"}, prefix="test_lost")
    try:
        with eng.connect() as c:
            pid = st.execute(c, {"n": 1}).one().pid
        with intake_engine.begin() as killer:
            assert killer.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid}).scalar()
        with eng.connect() as c, pytest.raises(DBAPIError) as lost:
            st.execute(c, {"n": 1})
        assert lost.value.connection_invalidated and db_unavailable(lost.value)
        with eng.connect() as c:
            again = st.execute(c, {"n": 2}).one()
            assert again.pid != pid and again.m == 3
            with pytest.raises(DBAPIError) as refused:
                bad.execute(c, {"v": "not a number"})
            assert not refused.value.connection_invalidated and not db_unavailable(refused.value)
            assert st.execute(c, {"n": 4}).one().m == 5  # the connection is still good
        dup = Prepared("INSERT INTO intake_rate_bucket(who, tokens, taken, at) VALUES (:w, 1, true, now())",
                       {"w": "text"}, prefix="test_lost")
        who = "test:" + uuid.uuid4().hex
        with eng.connect() as c:
            dup.execute(c, {"w": who})
            with pytest.raises(IntegrityError):
                dup.execute(c, {"w": who})
            c.execute(text("DELETE FROM intake_rate_bucket WHERE who = :w"), {"w": who})
    finally:
        eng.dispose()
