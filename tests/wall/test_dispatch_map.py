"""wall.dispatch_map: the dispatch page's map — the load per grid, the queue's cases, the ring —
whose size follows the queue and the grids, not the number of open cases."""
from __future__ import annotations

import json

from dispatch.desk import QueueRow
from tests.wall.test_frame import NOW, _case, _only, district  # noqa: F401  (district is a fixture)
from wall import dispatch_map as dm
from wall import frame as wall
from wall.inert import ZWSP
from wall.pick import CASE_LAYER, case_id_from_selection


def _deck(conn, d, rows, picked=None, *, monkeypatch=None, points_max=None):
    if points_max is not None:
        monkeypatch.setattr(dm, "POINTS_MAX", points_max)
    base = wall.base_map(conn, "zh")
    f = _only(d)
    view = dm.dispatch_view(base, f)
    load = dm.open_load(conn, f, NOW, "zh", base.origin)
    points = load.points if load.points is not None else [dm.queue_point(r, base.origin, "zh") for r in rows]
    ring = dm.offset(*picked, base.origin) if picked else None
    spec, tip = dm.dispatch_deck(dm.base_layers(base, view, "o.json"), view,
                                 "" if load.points is not None else dm.load_layer(base, load, "zh"),
                                 points, ring, base.origin)
    return load, {ly["id"]: ly for ly in json.loads(spec)["layers"]}, spec, tip


def _row(case_id: int, lon: float, lat: float, **kw) -> QueueRow:
    return QueueRow(id=case_id, case_no=f"N{case_id}", status=kw.pop("status", "reported"), reported_at=NOW,
                    lon=lon, lat=lat, **kw)


def test_a_small_area_sees_every_open_case_and_no_aggregate(conn, district):
    ids = [_case(conn, district, grid=g) for g in (0, 1, 2)]
    load, layers, _, _ = _deck(conn, district, [])
    assert load.total == 3 and sorted(load.grids.values()) == [1, 1, 1]
    assert sorted(p["i"] for p in layers[CASE_LAYER]["data"]) == sorted(ids)
    assert all(set(p) >= {"t", "s", "d"} for p in layers[CASE_LAYER]["data"])   # the wall's detailed tooltips
    assert dm.LOAD_LAYER not in layers and layers["outlines"]["data"] == "o.json"


def test_above_the_threshold_the_map_draws_the_queue_and_one_circle_per_grid(conn, district, monkeypatch):
    for g in (0, 0, 0, 1):
        _case(conn, district, grid=g)
    row = _row(42, 121.501, 40.901)
    load, layers, _, tip = _deck(conn, district, [row], monkeypatch=monkeypatch, points_max=2)
    assert load.points is None and sorted(load.grids.values()) == [1, 3]
    circles = layers[dm.LOAD_LAYER]["data"]
    assert len(circles) == 2 and not layers[dm.LOAD_LAYER].get("@@type") == "SolidPolygonLayer"
    assert sorted(c["t"].split()[-1] for c in circles) == ["1", "3"]   # the count, in the tooltip
    assert all(set(c) >= {"t", "s"} for c in circles) and "{d}" not in tip["html"]   # every tooltip field
    (p,) = layers[CASE_LAYER]["data"]
    assert p["i"] == 42 and p["t"].endswith("N42") and set(p) >= {"t", "s"}
    # a click on a circle picks no case; on the queue's point, that case
    assert case_id_from_selection({"selection": {"objects": {dm.LOAD_LAYER: [circles[0]]}}}) is None
    assert case_id_from_selection({"selection": {"objects": {CASE_LAYER: [p]}}}) == 42


def test_the_ring_sits_on_the_picked_case_and_is_not_pickable(conn, district):
    _case(conn, district)
    _, layers, _, _ = _deck(conn, district, [], picked=(121.5012, 40.9034))
    ring = layers[dm.SELECTED_LAYER]
    base = wall.base_map(conn, "zh")
    assert ring["data"] == [{"p": dm.offset(121.5012, 40.9034, base.origin)}] and not ring["pickable"]
    _, unpicked, _, _ = _deck(conn, district, [])
    assert unpicked[dm.SELECTED_LAYER]["data"] == []


def test_the_view_follows_the_area_never_the_pick(conn, district):
    _case(conn, district)
    base = wall.base_map(conn, "zh")
    a = json.loads(_deck(conn, district, [], picked=(121.5012, 40.9034))[2])["initialViewState"]
    b = json.loads(_deck(conn, district, [])[2])["initialViewState"]
    assert a == b == dm.dispatch_view(base, _only(district))


def test_the_deck_stays_small_however_many_cases_are_open(conn, district, monkeypatch):
    for g in range(8):
        for _ in range(30):
            _case(conn, district, grid=g % 8)
    rows = [_row(i, 121.501, 40.901) for i in range(200)]
    _, _, big, _ = _deck(conn, district, rows, monkeypatch=monkeypatch, points_max=10)
    _, _, few, _ = _deck(conn, district, rows[:1], monkeypatch=monkeypatch, points_max=10)
    # 240 open cases aggregated: the size is the queue's 200 points and 8 circles, under 100 bytes each
    assert len(big.encode()) < 30_000 and len(big.encode()) - len(few.encode()) < 199 * 100


def test_user_text_in_queue_rows_and_grid_names_is_inert(conn, district, monkeypatch):
    from sqlalchemy import text

    _case(conn, district)
    _case(conn, district)
    conn.execute(text("UPDATE unit_grid SET name = '@@#Math.PI' WHERE id = :g"), {"g": district.grid_ids[0]})
    row = _row(7, 121.501, 40.901, category_name="@@=k")
    _, layers, _, _ = _deck(conn, district, [row], monkeypatch=monkeypatch, points_max=1)
    assert layers[CASE_LAYER]["data"][0]["t"].startswith(ZWSP + "@@=k")
    assert any(c["t"].startswith(ZWSP + "@@#Math.PI") for c in layers[dm.LOAD_LAYER]["data"])
    assert layers[CASE_LAYER]["getPosition"] == "@@=p" and layers[dm.LOAD_LAYER]["getRadius"] == "@@=r"
