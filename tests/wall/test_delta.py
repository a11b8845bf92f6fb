"""wall.delta: one reading of the open cases per change, and for each wall a file of the changes in
its own filter only; on the small test district, inside a rolled-back transaction (the feed reads
through the test's own connection)."""
from __future__ import annotations

import json
from contextlib import nullcontext

import pytest
from sqlalchemy import text

from wall import delta as delta_mod
from wall.delta import DeltaFeed
from wall.frame import WallFilter
from wall.live_map import open_rows
from tests.wall.test_frame import _case, _only, district  # noqa: F401  (district: a fixture)

ORIGIN = (121.5, 40.9)


@pytest.fixture
def feed(conn, tmp_path):
    return DeltaFeed(lambda: nullcontext(conn), tmp_path)


def _file(feed: DeltaFeed, name: str) -> dict:
    return json.loads((feed.directory / name).read_text(encoding="utf-8"))


def _named(body: dict) -> set[int]:
    """Every case id a wall's file names, in changes or in removals."""
    return {i for st in body["steps"] for i in st.get("u", {}).get("i", []) + st.get("r", [])}


def _first_last(district) -> tuple[int, int]:  # noqa: F811
    """Grid indices of the test district in its first and in its last subdistrict."""
    return 0, len(district.grid_ids) - 1


def test_a_subdistrict_wall_hears_only_of_its_own_area(conn, district, feed):  # noqa: F811
    sd_a, sd_b = district.subdistrict_ids
    first, last = _first_last(district)
    wall_a = feed.register(WallFilter(subdistricts=(sd_a,)), "zh", ORIGIN)
    wall_b = feed.register(WallFilter(subdistricts=(sd_b,)), "zh", ORIGIN)
    whole = feed.register(_only(district), "zh", ORIGIN)
    feed.sync(1)
    in_a = _case(conn, district, grid=first, desc="<b>井盖</b> @@=x")
    feed.sync(2)
    a, b, w = _file(feed, wall_a), _file(feed, wall_b), _file(feed, whole)
    assert (a["to"], b["to"], w["to"]) == (feed.seq,) * 3
    assert _named(a) == {in_a} and _named(w) == {in_a}
    assert _named(b) == set(), "a case of another subdistrict reached its wall"
    (step,) = a["steps"]
    assert step["u"]["x"] == ["<b>井盖</b> @@=x"] and step["r"] == []  # text as typed, for the browser to set as text
    in_b = _case(conn, district, grid=last)
    feed.sync(3)
    assert _named(_file(feed, wall_b)) == {in_b} and _named(_file(feed, wall_a)) == {in_a}
    # closed: A hears it go; B, which never had it, hears nothing of it
    conn.execute(text("UPDATE cases SET status = 'closed', closed_at = now() WHERE id = :i"), {"i": in_a})
    feed.sync(4)
    last_a = _file(feed, wall_a)["steps"][-1]
    assert last_a["s"] == feed.seq and last_a["r"] == [in_a] and last_a["u"]["i"] == []
    assert _named(_file(feed, wall_b)) == {in_b} and _file(feed, whole)["steps"][-1]["r"] == [in_a]


def test_a_case_leaving_a_state_filter_is_removed_and_one_never_inside_is_never_named(conn, district, feed):  # noqa: F811
    disposing = feed.register(_only(district, statuses=("disposing",)), "zh", ORIGIN)
    feed.sync(1)
    shown = _case(conn, district, status="disposing")
    never = _case(conn, district, status="registered")
    feed.sync(2)
    assert _named(_file(feed, disposing)) == {shown}
    conn.execute(text("UPDATE cases SET status = 'awaiting_verification' WHERE id = :i"), {"i": shown})
    conn.execute(text("UPDATE cases SET description = 'changed' WHERE id = :i"), {"i": never})
    feed.sync(3)
    body = _file(feed, disposing)
    assert body["steps"][-1]["r"] == [shown] and body["steps"][-1]["u"]["i"] == []
    assert never not in _named(body)


def test_a_step_carries_what_the_map_draws(conn, district, feed):  # noqa: F811
    from datetime import timedelta

    from tests.wall.test_frame import NOW

    name = feed.register(_only(district), "en", ORIGIN)
    feed.sync(1)
    i = _case(conn, district, dispatched=NOW, due=NOW + timedelta(hours=2), warn=NOW + timedelta(hours=1),
              supervised=True)
    feed.sync(2)
    (step,) = _file(feed, name)["steps"]
    u = step["u"]
    due, warn, lon, lat = conn.execute(text(
        "SELECT extract(epoch FROM due_at), extract(epoch FROM warn_at), ST_X(geom), ST_Y(geom) FROM cases "
        "WHERE id = :i"), {"i": i}).one()
    assert u["i"] == [i] and u["g"] == [3]                                  # supervised: its ring group
    assert (step["t0"] + u["d"][0], step["t0"] + u["w"][0]) == (round(float(due)), round(float(warn)))
    assert (u["px"][0], u["py"][0]) == (round((lon - ORIGIN[0]) * 1e5), round((lat - ORIGIN[1]) * 1e5))
    assert u["s"] and u["n"][0].strip() and u["e"][0].startswith("due ") and u["s"] == ["In disposal"]  # English texts for an English wall
    assert _file(feed, name)["o"] == list(ORIGIN)


def test_a_step_too_big_tells_the_walls_to_take_the_whole_map(conn, district, feed, monkeypatch):  # noqa: F811
    name = feed.register(_only(district), "zh", ORIGIN)
    feed.sync(1)
    monkeypatch.setattr(delta_mod, "MAX_STEP_ROWS", 1)
    _case(conn, district)
    _case(conn, district)
    feed.sync(2)
    assert _file(feed, name)["steps"][-1] == {"s": feed.seq, "full": True}


def test_the_oldest_steps_are_dropped_and_from_follows(conn, district, tmp_path):  # noqa: F811
    small = DeltaFeed(lambda: nullcontext(conn), tmp_path)
    name = small.register(_only(district), "zh", ORIGIN)
    small.sync(1)
    w = next(iter(small._walls.values()))
    from collections import deque
    w.steps = deque(maxlen=2)
    for k in range(2, 6):
        _case(conn, district)
        small.sync(k)
    body = _file(small, name)
    assert [st["s"] for st in body["steps"]] == [small.seq - 1, small.seq]
    assert body["from"] == small.seq - 2 and body["to"] == small.seq


def test_files_are_named_by_an_unguessable_token_one_per_wall(conn, district, feed):  # noqa: F811
    f = _only(district)
    a, again = feed.register(f, "zh", ORIGIN), feed.register(f, "zh", ORIGIN)
    other = feed.register(f, "en", ORIGIN)
    assert a == again and a != other
    token = a.rsplit("-", 1)[-1].removesuffix(".json")
    assert len(token) == 32 and int(token, 16) >= 0   # 128 random bits, nothing of the filter


def test_each_session_has_its_own_file_and_loses_it_at_sign_out(conn, district, feed):  # noqa: F811
    """Session 14's review: a URL once seen kept telling a deactivated account of new cases,
    because every wall of the same filter shared one file."""
    f = _only(district)
    mine, yours = feed.register(f, "zh", ORIGIN, owner="a"), feed.register(f, "zh", ORIGIN, owner="b")
    assert mine != yours and feed.register(f, "zh", ORIGIN, owner="a") == mine
    assert feed.revoke("a") == 1
    assert mine not in feed.names() and not (feed.directory / mine).exists()
    assert yours in feed.names() and (feed.directory / yours).exists()
    _case(conn, district)
    feed.sync(99)
    assert not (feed.directory / mine).exists()   # the next reading does not write it back
    assert feed.register(f, "zh", ORIGIN, owner="a") != mine   # signing in again: a new name


def test_an_unused_wall_is_dropped_with_its_file(conn, district, tmp_path, monkeypatch):  # noqa: F811
    now = [1000.0]
    feed = DeltaFeed(lambda: nullcontext(conn), tmp_path, clock=lambda: now[0])
    old = feed.register(_only(district), "zh", ORIGIN)
    now[0] += delta_mod.ENTRY_TTL_S + 1
    feed.register(_only(district, statuses=("disposing",)), "zh", ORIGIN)
    assert old not in feed.names() and not (tmp_path / old).exists()
    monkeypatch.setattr(delta_mod, "MAX_WALLS", 2)
    feed.register(_only(district, levels=("community",)), "zh", ORIGIN)
    feed.register(_only(district, levels=("district",)), "zh", ORIGIN)
    assert len(feed.names()) == 2


def test_the_python_filter_agrees_with_the_sql_one(conn, district):  # noqa: F811
    first, last = _first_last(district)
    _case(conn, district, grid=first, status="disposing", category="1102", level="community")
    _case(conn, district, grid=last, status="registered", category="0102", level="district")
    _case(conn, district, grid=last, status="postponed", category="1102", level="community")
    every = open_rows(conn, WallFilter())
    filters = [_only(district), WallFilter(subdistricts=(district.subdistrict_ids[0],)),
               WallFilter(communities=(district.community_ids[-1],)), _only(district, statuses=("registered",)),
               _only(district, categories=("1102",), levels=("community",)), _only(district, levels=("district",)),
               _only(district, statuses=("disposing", "postponed"), categories=("1102",))]
    for f in filters:
        assert {r.id for r in every if f.matches(r)} == {r.id for r in open_rows(conn, f)}, f
