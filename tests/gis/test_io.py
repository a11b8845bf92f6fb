"""Grid files: every problem named with its feature, nothing half-imported, redraws add versions."""
from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, mapping
from sqlalchemy import text

from gis.crs import from_wgs84
from gis.io import GridImportError, export_grids, import_grids
from tests.factories import report

SNAPSHOT = """
SELECT (SELECT count(*) FROM grid_version), (SELECT max(id) FROM grid_version),
       (SELECT count(*) FROM grid_version WHERE valid_to IS NULL), (SELECT count(*) FROM unit_grid),
       (SELECT count(*) FROM boundary_change), (SELECT md5(string_agg(name, ',' ORDER BY code)) FROM unit_grid),
       (SELECT md5(string_agg(ST_AsEWKB(geom)::text, ',' ORDER BY id)) FROM community)
"""


def snapshot(conn):
    return tuple(conn.execute(text(SNAPSHOT)).one())


def feature(props, geom):
    return {"type": "Feature", "properties": props, "geometry": mapping(geom) if geom is not None else None}


def write_geojson(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), "utf-8")
    return path


@pytest.fixture
def exported(conn, sample_loaded, tmp_path):
    path = tmp_path / "grids.geojson"
    n = export_grids(conn, path, district_code="211103")
    assert n == 1035
    return path, gpd.read_file(path)


def test_export_is_a_wgs84_feature_collection_with_parents(exported):
    path, df = exported
    doc = json.loads(path.read_text("utf-8"))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc  # RFC 7946: WGS-84, lon/lat
    props = doc["features"][0]["properties"]
    assert {"code", "name", "version", "community_code", "community_name", "subdistrict_code",
            "subdistrict_name", "district_code", "district_name"} <= set(props)
    assert props["district_code"] == "211103" and props["code"].startswith(props["community_code"])
    assert df.crs.to_epsg() == 4326 and len(df) == 1035
    x, y = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert 121 < x < 123 and 40 < y < 42


def test_reimporting_identical_grids_adds_no_version(conn, exported):
    path, _ = exported
    versions = conn.execute(text("SELECT count(*), max(id) FROM grid_version")).one()
    stamps = conn.execute(text("SELECT id, reported_grid_version_id, grid_id FROM cases ORDER BY id")).all()
    res = import_grids(conn, path, crs="WGS84")
    assert (res.features, res.created, res.redrawn, res.unchanged, res.renamed, res.cases_moved) == \
        (1035, 0, 0, 1035, 0, 0)
    assert res.warnings == [] and res.areas_created == [] and res.responsibility_created == 0
    assert conn.execute(text("SELECT count(*), max(id) FROM grid_version")).one() == versions
    assert conn.execute(text("SELECT id, reported_grid_version_id, grid_id FROM cases ORDER BY id")).all() == stamps


def test_a_redraw_adds_a_version_only_to_the_grids_that_changed(conn, exported, tmp_path):
    _, df = exported
    comm = df.iloc[0]["community_code"]
    part = df[df["community_code"] == comm]
    a = part.iloc[0]
    feats = [feature({"code": r["code"], "name": r["name"]}, r.geometry) for _, r in part.iterrows()]
    feats[0] = feature({"code": a["code"], "name": a["name"]}, a.geometry.buffer(-0.0002))
    res = import_grids(conn, write_geojson(tmp_path / "one.geojson", feats), crs="WGS84")
    assert (res.redrawn, res.unchanged) == (1, len(part) - 1)
    rows = conn.execute(text("""
        SELECT g.code, count(*) AS n, bool_and(gv.valid_to IS NULL OR gv.valid_to > gv.valid_from) AS ok,
               max(gv.version_no) AS last, max(gv.change_id) FILTER (WHERE gv.valid_to IS NULL) AS chg
        FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id WHERE g.community_id =
          (SELECT id FROM community WHERE code = :c) GROUP BY g.code"""), {"c": comm}).all()
    assert {r.code: r.last for r in rows} == {r["code"]: 2 if r["code"] == a["code"] else 1 for _, r in part.iterrows()}
    assert next(r for r in rows if r.code == a["code"]).chg == res.change_id


def test_every_problem_is_listed_with_its_feature_and_nothing_is_written(conn, exported, tmp_path):
    _, df = exported
    a, b = df.iloc[0], df.iloc[40]
    community = a["community_code"]
    bowtie = Polygon([(122.0, 41.0), (122.01, 41.01), (122.01, 41.0), (122.0, 41.01)])
    feats = [
        feature({"code": a["code"], "name": a["name"]}, a.geometry),                      # 1 fine
        feature({"code": community + "900", "name": "坏网格"}, bowtie),                    # 2 invalid
        feature({"code": community + "901", "name": "线"}, LineString([(122, 41), (122.01, 41.01)])),  # 3
        feature({"code": a["code"], "name": "重复"}, a.geometry),                          # 4 duplicate of 1
        feature({"code": "211103009999001", "name": "无主网格"}, Point(122, 41).buffer(0.001)),  # 5
        feature({"code": community + "902", "name": "压盖网格"}, b.geometry),              # 6 overlaps b
        feature({"code": community + "903", "name": ""}, Point(121, 40).buffer(0.001)),   # 7 no name
        feature({"code": "12345", "name": "短码"}, Point(121, 40.5).buffer(0.001)),       # 8 bad code
        feature({"code": community + "904", "name": "无图形"}, None),                      # 9 no geometry
    ]
    path = write_geojson(tmp_path / "bad.geojson", feats)
    before = snapshot(conn)
    with pytest.raises(GridImportError) as e:
        import_grids(conn, path, crs="WGS84")
    found = {(p.feature, p.message.split(":")[0].split(" (")[0]) for p in e.value.problems}
    msg = str(e.value)
    assert "nothing was imported" in msg
    assert any(p.feature == 2 and "invalid geometry" in p.message and "Self-intersection" in p.message
               for p in e.value.problems), found
    assert any(p.feature == 3 and "LineString, not a polygon" in p.message for p in e.value.problems)
    assert any(p.feature == 4 and "duplicate grid code" in p.message and "feature 1" in p.message
               for p in e.value.problems)
    assert any(p.feature == 5 and "community 211103009999 (the code's prefix) does not exist" in p.message
               for p in e.value.problems)
    assert any(p.feature == 6 and f"overlaps current grid {b['code']}" in p.message for p in e.value.problems)
    assert any(p.feature == 7 and "missing grid name" in p.message for p in e.value.problems)
    assert any(p.feature == 8 and "must be 15 digits" in p.message for p in e.value.problems)
    assert any(p.feature == 9 and "no geometry" in p.message for p in e.value.problems)
    assert not any(p.feature == 1 for p in e.value.problems)
    assert f"feature 6 ({community}902): overlaps current grid {b['code']}" in msg
    assert snapshot(conn) == before


def test_features_of_one_file_may_not_overlap_each_other(conn, exported, tmp_path):
    _, df = exported
    a = df.iloc[3]
    feats = [feature({"code": a["code"], "name": a["name"]}, a.geometry),
             feature({"code": a["community_code"] + "950", "name": "新网格"}, a.geometry.buffer(-1e-4))]
    before = snapshot(conn)
    with pytest.raises(GridImportError, match=r"feature 2 \(\d{12}950\): overlaps feature 1"):
        import_grids(conn, write_geojson(tmp_path / "twice.geojson", feats), crs="WGS84")
    assert snapshot(conn) == before


def test_a_multipolygon_of_several_parts_is_refused(conn, exported, tmp_path):
    _, df = exported
    a = df.iloc[5]
    two = shapely.MultiPolygon([Point(121, 40).buffer(0.001), Point(121.1, 40).buffer(0.001)])
    with pytest.raises(GridImportError, match="feature 1 .*MultiPolygon of 2 parts"):
        import_grids(conn, write_geojson(tmp_path / "multi.geojson", [feature({"code": a["code"], "name": "x"}, two)]), crs="WGS84")


def test_missing_columns_are_reported_for_the_file(conn, sample_loaded, tmp_path):
    path = write_geojson(tmp_path / "nocode.geojson", [feature({"名字": "x"}, Point(121, 40).buffer(0.01))])
    with pytest.raises(GridImportError) as e:
        import_grids(conn, path, crs="WGS84")
    assert [p.feature for p in e.value.problems] == [0]
    assert "no grid code attribute" in str(e.value) and "no grid name attribute" in str(e.value)
    assert "\n" not in str(e.value)  # a problem of the file as a whole: one line
    assert "the file's attributes are: 名字" in str(e.value)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_shapefile_without_a_crs_needs_crs_and_then_imports(conn, exported, tmp_path):
    _, df = exported
    one = df[df["community_code"] == df.iloc[0]["community_code"]][["code", "name", "geometry"]].set_crs(None, allow_override=True)
    shp = tmp_path / "grids.shp"
    one.to_file(shp, engine="pyogrio")
    assert not shp.with_suffix(".prj").exists()
    before = snapshot(conn)
    with pytest.raises(GridImportError, match="no coordinate system .* --crs"):
        import_grids(conn, shp)
    assert snapshot(conn) == before
    res = import_grids(conn, shp, crs="EPSG:4326")
    assert res.unchanged == len(one) and res.redrawn == 0 and res.created == 0


def test_projected_geopackage_is_reprojected_and_joins_its_neighbours(conn, exported, tmp_path):
    """One community redrawn in UTM 51N: back in WGS-84 within a millimetre (so unchanged: no new
    version), and the floating-point noise on the edges shared with untouched neighbours is not
    reported as overlap."""
    _, df = exported
    comm = df.iloc[100]["community_code"]
    part = df[df["community_code"] == comm][["code", "name", "geometry"]].to_crs(32651)
    gpkg = tmp_path / "grids.gpkg"
    part.to_file(gpkg, layer="unit_grids", engine="pyogrio")
    res = import_grids(conn, gpkg)
    assert (res.unchanged, res.redrawn, res.warnings) == (len(part), 0, [])


def test_gcj02_file_is_converted_with_the_crs_flag(conn, exported, tmp_path):
    _, df = exported
    a = df.iloc[7]
    gcj = shapely.transform(a.geometry, lambda c: [from_wgs84(x, y, "GCJ02") for x, y in c])
    path = write_geojson(tmp_path / "gcj.geojson", [feature({"code": a["code"], "name": a["name"]}, gcj)])
    res = import_grids(conn, path, crs="GCJ02")
    assert (res.unchanged, res.redrawn) == (1, 0)  # back to within a millimetre: the same grid


def test_redrawing_two_neighbours_moves_an_open_case_but_not_its_stamp(conn, exported, tmp_path):
    _, df = exported
    grids = {r["code"]: r for _, r in df.iterrows()}
    a, b = _adjacent_pair(df)
    union = a.geometry.union(b.geometry)
    ca, cb = a.geometry.centroid, b.geometry.centroid
    # a new dividing line, pushed 70 % of the way towards b's centre: a grows, b shrinks
    mx, my = ca.x + 0.7 * (cb.x - ca.x), ca.y + 0.7 * (cb.y - ca.y)
    dx, dy = cb.x - ca.x, cb.y - ca.y
    cutter = LineString([(mx - 10 * dy, my + 10 * dx), (mx + 10 * dy, my - 10 * dx)])
    pieces = list(shapely.ops.split(union, cutter).geoms)
    assert len(pieces) == 2
    new_a = next(p for p in pieces if p.covers(ca))
    new_b = next(p for p in pieces if p is not new_a)
    probe = Point(ca.x + 0.6 * dx, ca.y + 0.6 * dy)
    assert b.geometry.covers(probe) and new_a.covers(probe) and not new_b.covers(probe)
    case = report(conn, probe.x, probe.y)
    assert case["grid_code"] == b["code"]
    path = write_geojson(tmp_path / "redraw.geojson", [feature({"code": a["code"], "name": a["name"]}, new_a),
                                                         feature({"code": b["code"], "name": "改名网格"}, new_b)])
    res = import_grids(conn, path, crs="WGS84")
    assert (res.redrawn, res.renamed) == (2, 1) and res.cases_moved >= 1
    after = conn.execute(text("SELECT grid_code, reported_grid_code FROM cases WHERE id = :i"), {"i": case["id"]}).one()
    assert (after.grid_code, after.reported_grid_code) == (a["code"], b["code"])
    assert grids[b["code"]]["name"] != "改名网格"
    assert conn.execute(text("SELECT name FROM unit_grid WHERE code = :c"), {"c": b["code"]}).scalar_one() == "改名网格"


def test_leaving_a_gap_warns(conn, exported, tmp_path):
    _, df = exported
    a = df.iloc[12]
    smaller = a.geometry.buffer(-0.0005)
    res = import_grids(conn, write_geojson(tmp_path / "gap.geojson", [feature({"code": a["code"], "name": a["name"]}, smaller)]), crs="WGS84")
    assert len(res.warnings) == 1 and "uncovered" in res.warnings[0]


def _adjacent_pair(df):
    """Two grids of one urban community sharing a long edge (deterministic for the sample)."""
    for comm, grp in df[df["community_kind"] == "community"].groupby("community_code"):
        rows = list(grp.itertuples())
        for i, r in enumerate(rows):
            for s in rows[i + 1:]:
                shared = r.geometry.intersection(s.geometry)
                if shared.length > 0.6 * min(r.geometry.length, s.geometry.length) / 4:
                    a = df.loc[r.Index]
                    b = df.loc[s.Index]
                    probe_ok = _probe_ok(a.geometry, b.geometry)
                    if probe_ok:
                        return a, b
    raise AssertionError("no suitable pair of neighbouring grids")


def _probe_ok(ga, gb) -> bool:
    ca, cb = ga.centroid, gb.centroid
    dx, dy = cb.x - ca.x, cb.y - ca.y
    mx, my = ca.x + 0.7 * dx, ca.y + 0.7 * dy
    cutter = LineString([(mx - 10 * dy, my + 10 * dx), (mx + 10 * dy, my - 10 * dx)])
    pieces = list(shapely.ops.split(ga.union(gb), cutter).geoms)
    if len(pieces) != 2:
        return False
    probe = Point(ca.x + 0.6 * dx, ca.y + 0.6 * dy)
    new_a = next((p for p in pieces if p.covers(ca)), None)
    return new_a is not None and gb.covers(probe) and new_a.covers(probe) and ga.union(gb).geom_type == "Polygon"


def test_an_oversized_file_is_refused_before_it_is_read(conn, exported, tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDGOV_MAX_GRID_FILE_MB", "0.01")  # 10 KiB; the exported layer is far larger
    before = conn.execute(text("SELECT count(*) FROM grid_version")).scalar()
    with pytest.raises(GridImportError, match="MiB"):
        import_grids(conn, exported[0])
    assert conn.execute(text("SELECT count(*) FROM grid_version")).scalar() == before


def test_a_file_that_is_not_a_grid_layer_is_refused_clearly(conn, sample_loaded, tmp_path):
    junk = tmp_path / "grids.geojson"
    junk.write_bytes(b"\x00\x01not json at all" * 10)
    with pytest.raises(GridImportError, match="cannot be read"):
        import_grids(conn, junk)
