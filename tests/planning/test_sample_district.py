"""Edits on the sample district's real grids (irregular outlines, many vertices): each keeps the
tiling (a valid coverage of the same area, no errors), and the whole-district validation is clean
to begin with."""
from __future__ import annotations

import pytest
import shapely
import shapely.affinity
import shapely.geometry
import shapely.ops
from sqlalchemy import text

from planning import drafts
from planning.state import load_state
from planning.validate import validate


@pytest.fixture
def district(conn, sample_loaded):
    planner = conn.execute(text("SELECT id FROM person WHERE role = 'planner' ORDER BY id LIMIT 1")).scalar()
    d = drafts.create_draft(conn, name="样例区草稿", reason="测试", actor_id=planner, district_code=sample_loaded.code)
    return conn, d, planner


def tiling(conn, d):
    gs = [g.geom for g in load_state(conn, d).live_grids()]
    return shapely.coverage_is_valid(gs), sum(g.area for g in gs), len(gs)


def errors(problems):
    return [(p.kind, p.codes) for p in problems if p.severity == "error"]


def test_the_sample_district_validates_clean(district):
    conn, d, _ = district
    assert errors(validate(conn, d)) == []
    ok, _, n = tiling(conn, d)
    assert ok and n == 1035


def test_split_merge_move_and_add_keep_the_real_tiling(district):
    conn, d, planner = district
    s = load_state(conn, d)
    ok, area0, n0 = tiling(conn, d)
    # split the three largest grids through their centres, along a slanted line
    big = sorted(s.live_grids(), key=lambda g: -g.geom.area)[:3]
    for g in big:
        x0, y0, x1, y1 = g.geom.bounds
        c = g.geom.representative_point()
        line = [[x0 - 0.001, c.y - 0.3 * (y1 - y0)], [x1 + 0.001, c.y + 0.3 * (y1 - y0)]]
        res = drafts.apply_edit(conn, d, {"op": "split", "code": g.code, "line": line}, actor_id=planner)
        assert errors(res.problems) == [], g.code
    ok, area, n = tiling(conn, d)
    assert ok and area == pytest.approx(area0, rel=1e-9) and n >= n0 + 3
    # merge two neighbours of one community that share an edge
    s = load_state(conn, d)
    live = s.live_grids()
    tree = shapely.STRtree([g.geom for g in live])
    a, b = next((live[i], live[j]) for i, j in zip(*tree.query([g.geom for g in live], predicate="touches"))
                if i < j and live[i].community_id == live[j].community_id
                and live[i].geom.intersection(live[j].geom).length > 0)
    res = drafts.apply_edit(conn, d, {"op": "merge", "codes": [a.code, b.code]}, actor_id=planner)
    assert errors(res.problems) == []
    # move a vertex shared by three or more grids by about 5 m
    owners: dict[tuple, int] = {}
    for g in load_state(conn, d).live_grids():
        for xy in set(g.geom.exterior.coords):
            owners[xy] = owners.get(xy, 0) + 1
    (x, y) = sorted(xy for xy, k in owners.items() if k >= 3)[len(owners) // 7 % 50]
    res = drafts.apply_edit(conn, d, {"op": "move_vertex", "from": [x, y], "to": [x + 0.00004, y + 0.00003]},
                            actor_id=planner)
    assert len(res.changed) >= 3 and errors(res.problems) == []
    ok, area, n = tiling(conn, d)
    assert ok and area == pytest.approx(area0, rel=1e-9)
    # undo all the way back: the live copy again
    for _ in range(5):
        drafts.undo(conn, d, actor_id=planner)
    assert tiling(conn, d) == (True, area0, n0)
    assert {f["properties"]["change"] for f in drafts.draft_geojson(conn, d)["features"]} == {"same"}


def test_replacing_a_community_from_a_gcj02_file_read_as_wgs84_is_refused_with_the_hint(district, tmp_path):
    """Session 14's review: replace_from_file took such a file with dozens of overlap errors and no
    word of the datum, where import-grids gave the hint. One grid really redrawn changes nothing."""
    import json

    from gis.crs import GCJ02, from_wgs84
    from planning.errors import EditError

    conn, d, planner = district
    comm = conn.execute(text("SELECT community_id FROM unit_grid GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")).scalar()
    rows = conn.execute(text(
        "SELECT g.code, g.name, ST_AsGeoJSON(gv.geom) AS gj FROM unit_grid g JOIN grid_version gv "
        "ON gv.grid_id = g.id AND gv.valid_to IS NULL WHERE g.community_id = :c AND g.retired_at IS NULL ORDER BY 1"),
        {"c": comm}).all()
    feats = []
    for n, r in enumerate(rows):
        geom = shapely.geometry.shape(json.loads(r.gj))
        geom = shapely.ops.transform(lambda x, y: from_wgs84(x, y, GCJ02), geom)  # as AMap has it
        if n == 0:  # and one grid really redrawn: shrunk into its south-west corner
            x0, y0, x1, y1 = geom.bounds
            part = geom.intersection(shapely.box(x0, y0, (x0 + x1) / 2, (y0 + y1) / 2))
            geom = max(getattr(part, "geoms", [part]), key=lambda g: g.area)
        feats.append({"type": "Feature", "properties": {"code": r.code, "name": r.name},
                      "geometry": shapely.geometry.mapping(geom)})
    path = tmp_path / "amap.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    steps = conn.execute(text("SELECT count(*) FROM boundary_draft_step WHERE draft_id = :d"), {"d": d}).scalar()
    with pytest.raises(EditError) as e:
        drafts.apply_edit(conn, d, {"op": "replace_from_file", "path": str(path), "crs": "WGS84"}, actor_id=planner)
    assert "GCJ-02 coordinates read as WGS-84" in e.value.message_en and str(tmp_path) not in e.value.message_en
    assert f"{len(rows) - 1} of the {len(rows)} redrawn grids" in e.value.message_en
    assert conn.execute(text("SELECT count(*) FROM boundary_draft_step WHERE draft_id = :d"), {"d": d}).scalar() == steps
    res = drafts.apply_edit(conn, d, {"op": "replace_from_file", "path": str(path), "crs": "GCJ02"}, actor_id=planner)
    assert res.changed  # declared right, it is taken (the shrunk grid leaves a gap: the validator's)
