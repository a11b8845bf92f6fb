"""wall.live_map: the wall's map for the browser, which colours cases from the clock itself.

The browser's rule (ui/wall_map/frontend/wall.js) is exercised in Chromium by
tests/e2e/test_wall.py; here the payload is checked against the database and the Python rule
``time_class`` against the lifecycle's SQL definitions (through ``wall.frame.open_cases``)."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import text

from wall import frame as wall
from wall.live_map import live_map, pack, time_class, unpack
from tests.wall.test_frame import NOW, _case, _only, district  # noqa: F401  (district: a fixture)


def _map(conn, f, now=NOW, lang="zh") -> dict:
    base = wall.base_map(conn, lang)
    lm = live_map(conn, f, lang, now, base=base, outlines_url="app/static/wall/o.json", size=(900, 620))
    return unpack(lm.payload)


def _mix(conn, d) -> list[int]:
    h = timedelta(hours=1)
    return [
        _case(conn, d, status="registered"),                                                   # no deadline
        _case(conn, d, dispatched=NOW - h, due=NOW + 9 * h, warn=NOW + 7 * h),                  # on time
        _case(conn, d, dispatched=NOW - 9 * h, due=NOW + h, warn=NOW - h),                      # at risk
        _case(conn, d, dispatched=NOW - 9 * h, due=NOW - h, warn=NOW - 3 * h),                  # overdue
        _case(conn, d, status="postponed", dispatched=NOW - h, due=NOW + 2 * h, warn=NOW + h),  # postponed
    ]


def test_time_classes_from_the_payload_match_the_lifecycle_at_any_moment(conn, district):  # noqa: F811
    """The payload is made once (at NOW); the colour the browser works out later from it is the
    one the server's SQL gives at that later moment — before, at and after each warn and due time."""
    _mix(conn, district)
    m = _map(conn, _only(district))
    c = m["cases"]
    moments = [NOW + timedelta(minutes=x) for x in (0, 59, 60, 61, 119, 120, 121, 420, 540, 541, 600)]
    for at in moments:
        server = {p["i"]: p["k"] % 4 for p in wall.open_cases(conn, _only(district), at, "zh").points}
        browser = {i: time_class(at.timestamp() - m["t0"], d, w) for i, d, w in zip(c["i"], c["d"], c["w"])}
        assert browser == server, at


def test_every_open_case_goes_once_with_its_deadlines_the_most_urgent_last(conn, district):  # noqa: F811
    ids = _mix(conn, district)
    _case(conn, district, status="closed", closed=NOW)
    m = _map(conn, _only(district))
    c = m["cases"]
    assert sorted(c["i"]) == sorted(ids)
    assert c["i"][0] == ids[0] and c["d"][0] is None and c["w"][0] is None   # no deadline: drawn first
    dues = [d for d in c["d"] if d is not None]
    assert dues == sorted(dues, reverse=True) and c["i"][-1] == ids[3]       # the overdue one on top
    due, warn = conn.execute(text("SELECT extract(epoch FROM due_at), extract(epoch FROM warn_at) FROM cases "
                                  "WHERE id = :i"), {"i": ids[1]}).one()
    k = c["i"].index(ids[1])
    assert (m["t0"] + c["d"][k], m["t0"] + c["w"][k]) == (round(float(due)), round(float(warn)))
    assert c["g"][c["i"].index(ids[4])] == wall.G_POSTPONED
    case_no = conn.execute(text("SELECT case_no FROM cases WHERE id = :i"), {"i": ids[1]}).scalar_one()
    assert m["detail"]["n"][k] == case_no and m["detail"]["e"][0] == ""   # no deadline, no due text


def test_user_text_travels_as_typed(conn, district):  # noqa: F811
    """No deck.gl JSON converter reads this payload and tooltips are set as text: nothing to escape
    or neutralise, so "@@=…" and markup arrive exactly as typed (the browser tests hover them)."""
    typed = ['@@=console.log(1)', '@@#Math.PI', '<img src=x onerror="1">']
    ids = [_case(conn, district, desc=s) for s in typed]
    m = _map(conn, _only(district))
    got = {i: m["detail"]["x"][m["cases"]["i"].index(i)] for i in ids}
    assert got == dict(zip(ids, typed))


def test_above_the_detail_budget_only_categories_go(conn, district, monkeypatch):  # noqa: F811
    import wall.live_map as lm

    _case(conn, district)
    _case(conn, district)
    monkeypatch.setattr(lm, "DETAIL_MAX_POINTS", 1)
    m = _map(conn, _only(district))
    assert m["detail"] is None and m["cats"] == ["路灯不亮"] and m["cases"]["c"] == [0, 0]


def test_pack_round_trips_and_compresses():
    data = {"cases": {"i": list(range(5000)), "x": [7] * 5000}, "cats": ["井盖 @@=x"]}
    packed = pack(data)
    assert unpack(packed) == data and len(packed) < len(json.dumps(data)) / 2
