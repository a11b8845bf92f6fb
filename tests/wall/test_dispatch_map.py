"""wall.dispatch_map: the dispatch page's map (the wall's component, ``ui/wall_map``) — the load per
grid, the queue's cases with their deadlines, the ring — whose size follows the queue and the
grids, not the number of open cases."""
from __future__ import annotations

from tests.wall.test_frame import NOW, _case, _only, district  # noqa: F401  (district is a fixture)
from wall import dispatch_map as dm
from wall import frame as wall
from wall.live_map import unpack

T0 = int(NOW.timestamp())


def _map(conn, d, ids=(), pick=None, *, monkeypatch=None, points_max=None) -> tuple[dm.OpenArea, dict, bytes]:
    """(the area, the payload unpacked, the payload's bytes) as the page builds them."""
    if points_max is not None:
        monkeypatch.setattr(dm, "POINTS_MAX", points_max)
    base = wall.base_map(conn, "zh")
    f = _only(d)
    area = dm.open_area(conn, f)
    rows = list(area.rows) if area.rows is not None else dm.case_rows(conn, list(ids))
    ring = dm.offset(*pick, base.origin) if pick else None
    data = dm.payload(base, dm.dispatch_view(base, f), "o.json", area, rows, ring, "zh", T0)
    return area, unpack(data), data


def test_a_small_area_sees_every_open_case_with_its_deadlines(conn, district):
    ids = [_case(conn, district, grid=g) for g in (0, 1, 2)]
    area, m, _ = _map(conn, district)
    assert area.total == 3 and sorted(area.grids.values()) == [1, 1, 1]
    assert sorted(m["cases"]["i"]) == sorted(ids)
    # the browser colours them from due and warn (seconds from t0): _case's are 9 h and 7 h ahead
    assert set(m["cases"]["d"]) == {9 * 3600} and set(m["cases"]["w"]) == {7 * 3600} and m["t0"] == T0
    assert len(m["detail"]["n"]) == 3 and m["outlines"] == "o.json"   # the wall's detailed tooltips
    assert len(m["grids"]["g"]) == 3 and all(t.endswith("在办 1") for t in m["grids"]["t"])   # three grids shaded
    assert m["pick"] is None and m["radius"] == dm.RADIUS


def test_above_the_threshold_the_map_draws_the_queue_and_shades_the_grids(conn, district, monkeypatch):
    ids = [_case(conn, district, grid=g) for g in (0, 0, 0, 1)]
    area, m, _ = _map(conn, district, [ids[1]], monkeypatch=monkeypatch, points_max=2)
    assert area.rows is None and sorted(area.grids.values()) == [1, 3]
    assert m["cases"]["i"] == [ids[1]]                     # the queue's case alone is a point
    assert sorted(t.split()[-1] for t in m["grids"]["t"]) == ["1", "3"]   # every open case counted in its grid


def test_the_ring_sits_on_the_picked_case(conn, district):
    _case(conn, district)
    base = wall.base_map(conn, "zh")
    _, m, _ = _map(conn, district, pick=(121.5012, 40.9034))
    assert m["pick"] == dm.offset(121.5012, 40.9034, base.origin) and len(m["pickColor"]) == 4


def test_the_view_follows_the_area_never_the_pick(conn, district):
    _case(conn, district)
    base = wall.base_map(conn, "zh")
    a = _map(conn, district, pick=(121.5012, 40.9034))[1]["view"]
    b = _map(conn, district)[1]["view"]
    assert a == b == dm.dispatch_view(base, _only(district))


def test_the_map_stays_small_however_many_cases_are_open(conn, district, monkeypatch):
    ids = [_case(conn, district, grid=g % 8) for g in range(240)]
    _, _, big = _map(conn, district, ids[:200], monkeypatch=monkeypatch, points_max=10)
    _, _, few = _map(conn, district, ids[:1], monkeypatch=monkeypatch, points_max=10)
    # 240 open cases aggregated: the size is the queue's 200 points (gzip-compressed), a few dozen bytes each
    assert len(big) < 30_000 and len(big) - len(few) < 199 * 60


def test_user_text_travels_as_text(conn, district, monkeypatch):
    """The component builds its drawing by hand (no deck.gl JSON converter): "@@" text is kept as typed."""
    from sqlalchemy import text

    case = _case(conn, district, desc="@@=console.log(1)")
    conn.execute(text("UPDATE unit_grid SET name = '@@#Math.PI' WHERE id = :g"), {"g": district.grid_ids[0]})
    _, m, _ = _map(conn, district, [case], monkeypatch=monkeypatch, points_max=0)
    assert m["detail"]["x"] == ["@@=console.log(1)"]
    assert any(t.startswith("@@#Math.PI ") for t in m["grids"]["t"])
