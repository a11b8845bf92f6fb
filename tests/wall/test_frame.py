"""wall.frame: what the map wall shows, on the small test district, inside a rolled-back transaction."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from dispatch.calendar import TZ
from dispatch.states import WITH_DEPARTMENT
from wall import frame as wall
from wall.frame import AT_RISK, NO_DEADLINE, ON_TIME, OVERDUE, WallFilter
from tests.ui.district import build_district, report_case

NOW = datetime(2026, 3, 11, 10, 0, tzinfo=TZ)  # a Wednesday morning


@pytest.fixture
def district(conn):
    return build_district(conn, code="219998", origin=(121.50, 40.90), sd_grid=(2, 1), cm_grid=(2, 1), g_grid=(2, 2))


def _case(conn, d, *, grid=0, status="disposing", dispatched=None, due=None, warn=None, desc="路灯不亮",
          category="1102", level="community", supervised=False, reported=None, closed=None) -> int:
    """A case as the lifecycle would leave it; a department and a deadline when the state needs them."""
    if status in WITH_DEPARTMENT and due is None:
        dispatched, due, warn = NOW - timedelta(hours=1), NOW + timedelta(hours=9), NOW + timedelta(hours=7)
    x0, y0 = conn.execute(text(
        "SELECT ST_XMin(geom), ST_YMin(geom) FROM grid_version WHERE grid_id = :g"), {"g": d.grid_ids[grid]}).one()
    return conn.execute(text("""
        INSERT INTO cases(channel, category_code, description, received_x, received_y, received_crs, geom, status,
                          level, department_id, dispatched_at, due_at, warn_at, supervised, reported_at, closed_at)
        VALUES ('hotline', :cat, :d, :x, :y, 'EPSG:4326', ST_SetSRID(ST_MakePoint(:x, :y), 4326), :st, :lvl,
                (SELECT id FROM department WHERE :with_dep ORDER BY id LIMIT 1),
                :dis, :due, :warn, :sup, :rep, :clo) RETURNING id"""),
        {"cat": category, "d": desc, "x": x0 + 0.001234567, "y": y0 + 0.001, "st": status, "lvl": level,
         "with_dep": status in WITH_DEPARTMENT, "dis": dispatched, "due": due, "warn": warn, "sup": supervised,
         "rep": reported or NOW - timedelta(hours=3), "clo": closed}).scalar_one()


def _only(d, **kw) -> WallFilter:
    """A filter limited to this test's district (other committed fixtures may exist meanwhile)."""
    return WallFilter(subdistricts=kw.pop("subdistricts", tuple(d.subdistrict_ids)), **kw)


def _points(conn, f: WallFilter, lang="zh"):
    return {p["i"]: p for p in wall.open_cases(conn, f, NOW, lang).points}


def test_time_left_classes_follow_the_lifecycle_definitions(conn, district):
    h = timedelta(hours=1)
    ids = {
        NO_DEADLINE: _case(conn, district, status="registered"),
        ON_TIME: _case(conn, district, dispatched=NOW - h, due=NOW + 9 * h, warn=NOW + 7 * h),
        AT_RISK: _case(conn, district, dispatched=NOW - 9 * h, due=NOW + h, warn=NOW - h),
        OVERDUE: _case(conn, district, dispatched=NOW - 9 * h, due=NOW - h, warn=NOW - 3 * h),
    }
    pts = _points(conn, _only(district))
    assert {cls: pts[i]["k"] % 4 for cls, i in ids.items()} == {c: c for c in ids}
    cases = wall.open_cases(conn, _only(district), NOW, "zh")
    assert cases.halos == [pts[ids[OVERDUE]]["p"]]
    assert "已超期" in pts[ids[OVERDUE]]["s"]


def test_the_wall_is_valid_until_the_next_case_changes_colour(conn, district):
    h = timedelta(hours=1)
    _case(conn, district, dispatched=NOW - h, due=NOW + 9 * h, warn=NOW + 7 * h)   # turns amber in 7 h
    _case(conn, district, dispatched=NOW - 9 * h, due=NOW + 2 * h, warn=NOW - h)   # turns red in 2 h
    assert wall.open_cases(conn, _only(district), NOW, "zh").valid_until == NOW + 2 * h


def test_with_no_deadline_ahead_the_wall_is_valid_until_midnight(conn, district):
    _case(conn, district, status="registered")
    assert wall.open_cases(conn, _only(district), NOW, "zh").valid_until == datetime(2026, 3, 12, tzinfo=TZ)


def test_state_rings_mark_verification_postponement_and_supervision(conn, district):
    h = timedelta(hours=1)
    due = dict(dispatched=NOW - h, due=NOW + 9 * h, warn=NOW + 7 * h)
    verify = _case(conn, district, status="awaiting_verification", **due)
    postponed = _case(conn, district, status="postponed", **due)
    supervised = _case(conn, district, supervised=True, **due)
    pts = _points(conn, _only(district))
    assert [pts[i]["k"] // 4 for i in (verify, postponed, supervised)] == [wall.G_VERIFY, wall.G_POSTPONED,
                                                                           wall.G_SUPERVISED]


def test_closed_rejected_and_merged_cases_are_not_drawn(conn, district):
    shown = _case(conn, district)
    _case(conn, district, status="closed", closed=NOW)
    _case(conn, district, status="rejected")
    assert list(_points(conn, _only(district))) == [shown]


def test_points_are_compact(conn, district):
    _case(conn, district)
    (p,) = _points(conn, _only(district)).values()
    assert set(p) == {"i", "p", "k", "t", "s", "d"}
    assert all(isinstance(v, int) for v in p["p"])           # 1e-5° offsets, not decimals


def test_positions_are_offsets_from_the_base_map_origin(conn, district):
    i = _case(conn, district)
    base = wall.base_map(conn, "zh")
    points = {p["i"]: p for p in wall.open_cases(conn, _only(district), NOW, "zh", base.origin).points}
    x, y = points[i]["p"]
    lon, lat = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM cases WHERE id = :i"), {"i": i}).one()
    assert (base.origin[0] + x * wall.UNIT, base.origin[1] + y * wall.UNIT) == pytest.approx((lon, lat), abs=6e-6)


def test_above_the_detail_budget_tooltips_name_only_the_category(conn, district, monkeypatch):
    _case(conn, district)
    _case(conn, district)
    monkeypatch.setattr(wall, "DETAIL_MAX_POINTS", 1)
    cases = wall.open_cases(conn, _only(district), NOW, "zh")
    assert not cases.detailed and all(set(p) == {"i", "p", "k", "t"} for p in cases.points)
    assert {p["t"] for p in cases.points} == {"路灯不亮"}
    spec, tip = wall.deck_json(wall.base_map(conn, "zh"), cases, wall.view_for(None), "zh", outlines_url="o.json")
    assert tip["html"] == "<b>{t}</b>"


def test_user_text_goes_out_raw_for_the_tooltip_to_escape(conn, district):
    # Streamlit 1.67 escapes every value it puts into an html tooltip (tests/e2e checks this in
    # the browser); escaping here as well would show "&lt;" on the wall.
    raw = '<b onclick="x">坏</b>'
    _case(conn, district, desc=raw)
    cases = wall.open_cases(conn, _only(district), NOW, "zh")
    spec, tip = wall.deck_json(wall.base_map(conn, "zh"), cases, wall.view_for(None), "zh", outlines_url="o.json")
    (p,) = next(layer for layer in json.loads(spec)["layers"] if layer["id"] == "cases")["data"]
    assert p["d"] == raw and "&lt;" not in spec
    assert tip["html"] == "<b>{t}</b><br/>{s}<br/><span style='color:#94a3b8'>{d}</span>"


@pytest.mark.parametrize("field, value, expect_shown", [
    ("statuses", ("disposing",), True), ("statuses", ("registered",), False),
    ("categories", ("1102",), True), ("categories", ("0102",), False),
    ("levels", ("community",), True), ("levels", ("district",), False),
])
def test_filters_narrow_the_points(conn, district, field, value, expect_shown):
    i = _case(conn, district)
    assert (i in _points(conn, _only(district, **{field: value}))) is expect_shown


def test_area_filters(conn, district):
    in_first = _case(conn, district, grid=0)
    in_last = _case(conn, district, grid=len(district.grid_ids) - 1)
    sd_first = district.subdistrict_ids[0]
    assert set(_points(conn, WallFilter(subdistricts=(sd_first,)))) == {in_first}
    assert set(_points(conn, WallFilter(communities=(district.community_ids[-1],)))) == {in_last}


def test_kpis_count_today_open_overdue_and_closed_today(conn, district):
    h = timedelta(hours=1)
    _case(conn, district, status="registered", reported=NOW - h)                     # reported today, open
    _case(conn, district, reported=NOW - 30 * h, dispatched=NOW - 20 * h, due=NOW - h, warn=NOW - 3 * h)  # overdue
    _case(conn, district, status="closed", reported=NOW - 30 * h, closed=NOW - 2 * h)  # closed today
    _case(conn, district, status="closed", reported=NOW - 50 * h, closed=NOW - 26 * h)  # closed yesterday
    sd = (district.subdistrict_ids[0], district.subdistrict_ids[1])
    k = wall.kpis(conn, WallFilter(subdistricts=sd), NOW)
    assert (k["reported_today"], k["open"], k["overdue"], k["closed_today"]) == (1, 2, 1, 1)
    assert set(k) >= {"closure_rate", "on_time_rate"}


def test_kpis_count_cases_registered_and_dispatched_today_from_the_event_log(conn, district):
    h = timedelta(hours=1)
    sd = (district.subdistrict_ids[0], district.subdistrict_ids[1])
    before = wall.kpis(conn, WallFilter(subdistricts=sd), NOW)
    a, b, c, d = (_case(conn, district, reported=NOW - 30 * h) for _ in range(4))
    events = [(a, NOW - 2 * h, "register"), (a, NOW - h, "dispatch"),       # registered and dispatched today
              (b, NOW - 26 * h, "register"), (b, NOW - 3 * h, "dispatch"),  # registered yesterday, dispatched today
              (b, NOW - 2 * h, "dispatch"),                                 # … twice: one case
              (c, NOW - 2 * h, "self_handle"),                              # resolved on the spot: registered
              (d, NOW - 26 * h, "register"), (d, NOW - 25 * h, "dispatch")]  # yesterday only
    for case_id, at, action in events:
        conn.execute(text("INSERT INTO case_event(case_id, at, action) VALUES (:i, :at, :a)"),
                     {"i": case_id, "at": at, "a": action})
    k = wall.kpis(conn, WallFilter(subdistricts=sd), NOW)
    assert k["registered_today"] - before["registered_today"] == 2
    assert k["dispatched_today"] - before["dispatched_today"] == 2
    other = tuple(i for i in district.subdistrict_ids if i not in sd)
    if other:  # a filter that leaves these cases out leaves their events out
        assert wall.kpis(conn, WallFilter(subdistricts=other), NOW)["dispatched_today"] == 0


def test_ticker_shows_events_and_reports_that_came_without_one(conn, district):
    plain = report_case(conn, 121.501, 40.9005, "SQL 直接写入")
    other = _case(conn, district)
    conn.execute(text("INSERT INTO case_event(case_id, at, action, from_status, to_status) "
                      "VALUES (:i, now(), 'dispatch', 'registered', 'dispatched')"), {"i": other})
    items = wall.latest_events(conn, WallFilter(), "zh", datetime.now(TZ))
    whats = {(i.case_no, i.what) for i in items}
    no = dict(conn.execute(text("SELECT id, case_no FROM cases WHERE id IN (:a, :b)"), {"a": plain["id"], "b": other}).all())
    assert {(no[plain["id"]], "上报"), (no[other], "派遣")} <= whats
    assert re.fullmatch(r"(\d\d-\d\d )?\d\d:\d\d", items[0].at)


def test_english_labels(conn, district):
    i = _case(conn, district)
    p = _points(conn, _only(district), lang="en")[i]
    assert p["t"].startswith("Street light out") and p["s"].startswith("In disposal")


def test_deck_is_offline_and_compact(conn, district, tmp_path):
    for g in range(len(district.grid_ids) - 1):   # every grid but the last has an open case
        _case(conn, district, grid=g)
    base = wall.base_map(conn, "zh")
    name = wall.write_outlines(base, tmp_path)
    cases = wall.open_cases(conn, _only(district), NOW, "zh")
    spec, tip = wall.deck_json(base, cases, wall.view_for(base.bbox), "zh", outlines_url="app/static/wall/" + name)
    deck = json.loads(spec)
    assert deck["mapStyle"] == "__MAP_STYLE__"          # what pydeck writes for map_provider=None
    assert not re.search(r"https?://", spec)
    assert "\n" not in spec and ", " not in spec         # compact separators
    layers = {layer["id"]: layer for layer in deck["layers"]}
    assert list(layers) == ["grids", "outlines", "area-labels", "overdue-rings", "cases"]
    assert layers["outlines"]["data"] == "app/static/wall/" + name   # fetched once by the browser
    assert layers["area-labels"]["characterSet"] == "auto"  # CJK glyphs built from the names themselves
    assert len(layers["cases"]["data"]) == len(district.grid_ids) - 1
    assert len(layers["grids"]["data"]) == len(district.grid_ids) - 1  # only grids with open cases are shaded


def test_outline_file_holds_every_boundary_once_and_is_named_by_its_content(conn, district, tmp_path):
    base = wall.base_map(conn, "zh")
    name = wall.write_outlines(base, tmp_path)
    rows = json.loads((tmp_path / name).read_text(encoding="utf-8"))
    levels = [r["l"] for r in rows]
    assert levels == sorted(levels)                       # grids first, the district last (on top)
    n_grids = conn.execute(text("SELECT count(*) FROM grid_version WHERE valid_to IS NULL")).scalar_one()
    assert levels.count(0) == n_grids
    assert wall.write_outlines(base, tmp_path) == name and len(list(tmp_path.iterdir())) == 1


def test_labels_never_overlap():
    labels = [{"p": [121.5 + i * 0.0001, 40.9], "n": "很长很长的社区名", "z": 14, "b": (121.0, 40.5, 122.0, 41.5)}
              for i in range(5)]
    assert len(wall.place_labels(labels, 12, 1.0)) == 1
    small_area = [{"p": [121.5, 40.9], "n": "社区", "z": 14, "b": (121.5, 40.9, 121.5001, 40.9001)}]
    assert wall.place_labels(small_area, 12, 1.0) == []


def test_view_fits_the_filtered_area(conn, district):
    base = wall.base_map(conn, "zh")
    one = wall.filter_bbox(base, WallFilter(subdistricts=(district.subdistrict_ids[0],)))
    whole = wall.filter_bbox(base, WallFilter())
    assert one[2] - one[0] < whole[2] - whole[0]
    assert wall.view_for(one)["zoom"] > wall.view_for(whole)["zoom"]


def test_load_colours_use_equal_count_classes():
    bounds, colours = wall.load_colours({1: 1, 2: 2, 3: 3, 4: 4, 5: 10, 6: 0})
    assert bounds == [1, 2, 3, 4, 10]
    assert colours[5] == wall.LOAD_RAMP[-1] and colours[1] == wall.LOAD_RAMP[0] and 6 not in colours


def test_cases_awaiting_location_are_counted_in_a_tile_not_drawn(conn, district):
    """待定位 (an address only, migration 0011): no point to draw; the KPI tile counts them (the whole
    district's wall only: no area contains them yet), and the ticker names them."""
    from dispatch.service import report_case as lifecycle_report

    before = wall.kpis(conn, WallFilter(), NOW)["awaiting_location"]
    drawn = wall.open_cases(conn, WallFilter(), NOW, "zh")
    case = lifecycle_report(conn, channel="hotline", lon=None, lat=None, category_code="1102", address="某路 9 号")
    assert wall.kpis(conn, WallFilter(), NOW)["awaiting_location"] == before + 1
    assert wall.kpis(conn, _only(district), NOW)["awaiting_location"] == 0
    after = wall.open_cases(conn, WallFilter(), NOW, "zh")
    assert case["id"] not in {p["i"] for p in after.points} and len(after.points) == len(drawn.points)
    assert all(None not in p["p"] for p in after.points)
    items = wall.latest_events(conn, WallFilter(), "zh", datetime.now(TZ))
    assert any(i.case_no == case["case_no"] and i.area == "待定位" for i in items)
