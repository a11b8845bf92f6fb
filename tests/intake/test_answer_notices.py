"""Answers kept outside the case row send a change notice when they commit (``db.live.announce``):
a dispatcher's panel shows pending possible duplicates and a reporter's request for a second look,
and 派单's queue lists the requests; no trigger announces those tables, so without a notice a
second dispatcher kept buttons already answered (session 11's review)."""
from __future__ import annotations

import select
import time

import psycopg2
import pytest
from sqlalchemy import create_engine, text

from db.live import CHANNEL, libpq_dsn
from intake import duplicates, public
from tests.factories import scratch_database
from tests.intake.test_field_public import _closed_website_case
from tests.world import build_world
from intake.field import Place


def _notices(listen, wait: float = 3.0) -> list[str]:
    """The payloads received within ``wait`` s (at least one awaited)."""
    got, deadline = [], time.monotonic() + wait
    while time.monotonic() < deadline:
        if select.select([listen], [], [], 0.1)[0]:
            listen.poll()
            while listen.notifies:
                got.append(listen.notifies.pop(0).payload)
            if got:
                time.sleep(0.2)  # the rest of the same commit's notices
                listen.poll()
                got += [n.payload for n in listen.notifies]
                return got
    return got


@pytest.fixture()
def scratch():
    with scratch_database("answer_notices") as url:
        eng = create_engine(url)
        listen = psycopg2.connect(libpq_dsn(url))
        listen.set_session(autocommit=True)
        listen.cursor().execute(f"LISTEN {CHANNEL}")
        try:
            yield eng, listen
        finally:
            listen.close()
            eng.dispose()


def test_a_rating_a_reopen_decision_and_a_rejected_duplicate_each_send_a_notice(scratch):
    eng, listen = scratch
    with eng.begin() as c:
        w = build_world(c)
        case, token = _closed_website_case(w)
        a, _, _ = public.report_from_website(c, category_code="0102", description="", place=Place(0.5, 0.5), photo_ref=None)
        b, _, _ = public.report_from_website(c, category_code="0102", description="", place=Place(0.5, 0.5), photo_ref=None)
        ids = dict(c.execute(text("SELECT case_no, id FROM cases WHERE case_no IN (:a, :b)"), {"a": a, "b": b}).all())
        c.execute(text("DELETE FROM case_possible_duplicate WHERE case_id = :a"), {"a": ids[a]})
        c.execute(text("INSERT INTO case_possible_duplicate (case_id, candidate_id, distance_m) VALUES (:a, :b, 3)"),
                  {"a": ids[a], "b": ids[b]})
        admin = w["admin"]
    _notices(listen, 1.0)  # the set-up's own

    with eng.begin() as c:
        public.answer_satisfaction(c, token, rating="unsatisfied", comment="没修好", reopen=True)
    assert "case_satisfaction" in _notices(listen)

    with eng.begin() as c:
        public.decide_reopen(c, case_id=case["id"], decision="declined", actor=admin)
    assert "case_satisfaction" in _notices(listen)

    with eng.begin() as c:
        duplicates.decide_duplicate(c, case_id=ids[a], candidate_id=ids[b], decision="reject", actor=admin)
    assert "case_possible_duplicate" in _notices(listen)

    with eng.begin() as c:  # a refused answer (decided before) sends nothing
        with pytest.raises(public.PublicError):
            public.decide_reopen(c, case_id=case["id"], decision="accepted", actor=admin)
    assert _notices(listen, 1.0) == []
