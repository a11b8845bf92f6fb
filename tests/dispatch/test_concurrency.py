"""Two people act on the same case at the same moment, on two real connections: exactly one wins.

Committed rows are needed, and case events cannot be deleted, so this module works in a scratch
database (``<test db>_race``) created, migrated and dropped here.
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text

from db import config
from dispatch import service
from dispatch.errors import Conflict, IllegalTransition
from tests.world import bring_to, build_world
from tests.factories import scratch_database


@pytest.fixture(scope="module")
def race():
    with scratch_database("race") as scratch:
        eng = create_engine(scratch, pool_size=4,
                            connect_args={"options": f"-c timezone={config.TIME_ZONE} -c lock_timeout=20s"})
        with eng.begin() as c:
            w = build_world(c)
            cases = {"registered": bring_to(w, "registered"), "dispatched": bring_to(w, "dispatched")}
        try:
            yield eng, w, cases
        finally:
            eng.dispose()


def _race(eng, attempts):
    """Run the attempts at the same moment, each in its own connection and transaction; the
    winner holds its row lock a moment so that the other really has to wait for it."""
    barrier = threading.Barrier(len(attempts))
    out: dict[str, object] = {}

    def run(name, fn):
        with eng.connect() as c:
            with c.begin():
                barrier.wait()
                try:
                    fn(c)
                    time.sleep(0.5)
                    out[name] = "ok"
                except Exception as e:  # noqa: BLE001 - the loser's error is the result
                    out[name] = e

    threads = [threading.Thread(target=run, args=(n, f)) for n, f in attempts.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_two_dispatchers_same_version_exactly_one_wins(race):
    eng, w, cases = race
    case = cases["registered"]
    out = _race(eng, {
        "disp_c1": lambda c: service.transition(c, case_id=case["id"], action="dispatch", actor=w["disp_c1"],
                                                department_id=w.dept["HWC"], expected_version=case["version"]),
        "admin": lambda c: service.transition(c, case_id=case["id"], action="dispatch", actor=w["admin"],
                                              department_id=w.dept["CGZF"], expected_version=case["version"]),
    })
    winners = [n for n, r in out.items() if r == "ok"]
    losers = [r for r in out.values() if r != "ok"]
    assert len(winners) == 1 and len(losers) == 1 and isinstance(losers[0], Conflict), out
    msg = str(losers[0])
    assert case["case_no"] in msg and w[winners[0]].full_name in msg and "派遣" in msg
    assert w[winners[0]].full_name in losers[0].message("en") and "Dispatch" in losers[0].message("en")
    with eng.connect() as c:
        row = c.execute(text("SELECT status, version, department_id FROM cases WHERE id = :i"), {"i": case["id"]}).one()
        n = c.execute(text("SELECT count(*) FROM case_event WHERE case_id = :i AND action = 'dispatch'"),
                      {"i": case["id"]}).scalar()
    assert (row.status, row.version, n) == ("dispatched", case["version"] + 1, 1)
    assert row.department_id == (w.dept["HWC"] if winners[0] == "disp_c1" else w.dept["CGZF"])


def test_two_staff_accepting_without_a_version_get_an_illegal_move(race):
    eng, w, cases = race
    case = cases["dispatched"]
    out = _race(eng, {
        "staff_hwc": lambda c: service.transition(c, case_id=case["id"], action="accept", actor=w["staff_hwc"]),
        "staff_hwc2": lambda c: service.transition(c, case_id=case["id"], action="accept", actor=w["staff_hwc2"]),
    })
    winners = [n for n, r in out.items() if r == "ok"]
    losers = [r for r in out.values() if r != "ok"]
    assert len(winners) == 1 and isinstance(losers[0], IllegalTransition), out
    assert w[winners[0]].full_name in str(losers[0]) and "处置中" in str(losers[0])
    with eng.connect() as c:
        handler = c.execute(text("SELECT handler_id FROM cases WHERE id = :i"), {"i": case["id"]}).scalar()
    assert handler == w[winners[0]].person_id


def test_stale_version_is_a_conflict_even_later(race):
    eng, w, cases = race
    with eng.begin() as c:
        fresh = c.execute(text("SELECT version FROM cases WHERE id = :i"), {"i": cases["registered"]["id"]}).scalar()
        with pytest.raises(Conflict):
            service.transition(c, case_id=cases["registered"]["id"], action="supervise", actor=w["disp_d"],
                               expected_version=fresh - 1)
        assert service.transition(c, case_id=cases["registered"]["id"], action="supervise", actor=w["disp_d"],
                                  expected_version=fresh)["supervised"]
