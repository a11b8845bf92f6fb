"""Real districts in and out: a fresh district built from a grid file's parent columns,
responsibility grids, multi-part features, the declared system, re-imports in other formats and
systems, Shapefile encodings. Hand-built squares in a district of their own (511999, in
Sichuan, where GCJ-02 and BD-09 are defined), each test in a rolled-back transaction."""
from __future__ import annotations

import json
import re
import zipfile

import geopandas as gpd
import pytest
import shapely
import shapely.affinity
from shapely.geometry import box, mapping
from sqlalchemy import text

import manage
from gis.crs import from_wgs84
from gis.io import GridImportError, import_grids

DISTRICT, SUB, COMM_A, COMM_B = "511999", "511999001", "511999001001", "511999001002"
X0, Y0, STEP = 100.0, 30.0, 0.004  # cells about 385 m × 445 m


def cell(i: int, j: int) -> shapely.Polygon:
    return box(X0 + i * STEP, Y0 + j * STEP, X0 + (i + 1) * STEP, Y0 + (j + 1) * STEP)


def parents(comm: str = COMM_A, **extra) -> dict:
    return {"district_code": DISTRICT, "district_name": "试验区", "subdistrict_code": SUB,
            "subdistrict_name": "试验街道", "community_code": comm,
            "community_name": {COMM_A: "甲社区", COMM_B: "乙村"}[comm],
            "community_kind": "community" if comm == COMM_A else "village", **extra}


def grid_rows() -> list[dict]:
    """A 3 × 2 lattice: the left column-pair is community A, the right column community B."""
    rows = []
    for k, (i, j) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)], start=1):
        rows.append({"code": f"{COMM_A}{k:03d}", "name": f"甲{k}", **parents(COMM_A, responsibility_code=f"{COMM_A}R{(k + 1) // 2}",
                     responsibility_name=f"甲责任网格{(k + 1) // 2}"), "geometry": cell(i, j)})
    for k, j in enumerate([0, 1], start=1):
        rows.append({"code": f"{COMM_B}{k:03d}", "name": f"乙{k}", **parents(COMM_B), "geometry": cell(2, j)})
    return rows


def to_geojson(path, rows, transform=None):
    feats = []
    for r in rows:
        g = r["geometry"] if transform is None else shapely.transform(r["geometry"], transform)
        feats.append({"type": "Feature", "properties": {k: v for k, v in r.items() if k != "geometry"},
                      "geometry": mapping(g)})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False), "utf-8")
    return path


def in_system(system):
    return lambda c: [from_wgs84(x, y, system) for x, y in c]


SNAPSHOT = """
SELECT (SELECT count(*) FROM district), (SELECT count(*) FROM subdistrict), (SELECT count(*) FROM community),
       (SELECT count(*) FROM unit_grid), (SELECT count(*) FROM grid_version), (SELECT count(*) FROM responsibility_grid),
       (SELECT count(*) FROM boundary_change)
"""


def snapshot(conn):
    return tuple(conn.execute(text(SNAPSHOT)).one())


@pytest.fixture
def fresh(conn, tmp_path):
    """The lattice imported into a database that has no such district."""
    assert conn.execute(text("SELECT count(*) FROM district WHERE code = :d"), {"d": DISTRICT}).scalar() == 0
    res = import_grids(conn, to_geojson(tmp_path / "grids.geojson", grid_rows()), crs="WGS84")
    return res


# --- the hierarchy ---------------------------------------------------------------------------

def test_a_fresh_database_gets_the_district_subdistrict_and_communities_from_parent_columns(conn, fresh):
    assert fresh.areas_created == [f"district {DISTRICT} 试验区", f"subdistrict {SUB} 试验街道",
                                   f"community {COMM_A} 甲社区", f"community {COMM_B} 乙村"]
    assert (fresh.created, fresh.redrawn, fresh.unchanged) == (6, 0, 0)
    kinds = dict(conn.execute(text("SELECT code, kind FROM community WHERE code LIKE :d"), {"d": DISTRICT + "%"}).all())
    assert kinds == {COMM_A: "community", COMM_B: "village"}
    # the district outline is derived: the union of its grids
    area = conn.execute(text("SELECT ST_Area(geom) FROM district WHERE code = :d"), {"d": DISTRICT}).scalar_one()
    assert area == pytest.approx(6 * STEP * STEP, rel=1e-9)
    c = conn.execute(text("INSERT INTO cases(channel, description, received_x, received_y, received_crs, geom) "
                          "VALUES ('hotline', '', 100.005, 30.001, 'EPSG:4326', ST_SetSRID(ST_MakePoint(100.005, 30.001), 4326)) "
                          "RETURNING grid_code")).scalar_one()
    assert c == f"{COMM_A}002"


def test_without_names_a_missing_area_is_refused_with_what_to_add(conn, tmp_path):
    rows = [{"code": r["code"], "name": r["name"], "geometry": r["geometry"]} for r in grid_rows()]
    before = snapshot(conn)
    with pytest.raises(GridImportError) as e:
        import_grids(conn, to_geojson(tmp_path / "bare.geojson", rows), crs="WGS84")
    assert f"district {DISTRICT} (the code's prefix) does not exist: give its name in a district_name column" in str(e.value)
    assert f"community {COMM_B} (the code's prefix) does not exist" in str(e.value)
    assert snapshot(conn) == before


def test_a_parent_code_that_disagrees_with_the_grid_code_is_refused(conn, tmp_path):
    rows = grid_rows()
    rows[2]["community_code"] = COMM_B
    before = snapshot(conn)
    with pytest.raises(GridImportError, match=f"feature 3 .*community_code {COMM_B} is not the code's prefix {COMM_A}"):
        import_grids(conn, to_geojson(tmp_path / "bad.geojson", rows), crs="WGS84")
    assert snapshot(conn) == before


# --- responsibility grids --------------------------------------------------------------------

def test_responsibility_codes_create_and_link_responsibility_grids(conn, fresh):
    assert (fresh.responsibility_created, fresh.responsibility_linked) == (2, 4)
    rows = conn.execute(text("""
        SELECT g.code, r.code AS r, r.name, c.code AS comm FROM unit_grid g
        LEFT JOIN responsibility_grid r ON r.id = g.responsibility_grid_id LEFT JOIN community c ON c.id = r.community_id
        WHERE g.code LIKE :d ORDER BY g.code"""), {"d": DISTRICT + "%"}).all()
    assert [(r.code[-6:], r.r) for r in rows] == [
        ("001001", f"{COMM_A}R1"), ("001002", f"{COMM_A}R1"), ("001003", f"{COMM_A}R2"), ("001004", f"{COMM_A}R2"),
        ("002001", None), ("002002", None)]
    assert {r.name for r in rows if r.r} == {"甲责任网格1", "甲责任网格2"} and {r.comm for r in rows if r.r} == {COMM_A}


def test_a_responsibility_grid_spread_over_two_communities_is_refused_with_the_reason(conn, tmp_path):
    rows = grid_rows()
    rows[4]["responsibility_code"] = f"{COMM_A}R1"  # a grid of community B
    before = snapshot(conn)
    with pytest.raises(GridImportError) as e:
        import_grids(conn, to_geojson(tmp_path / "resp.geojson", rows), crs="WGS84")
    assert f"feature 5 ({COMM_B}001): responsibility grid {COMM_A}R1 is also given to grids of community {COMM_A}" \
        in str(e.value) and "unit grids of one community" in str(e.value)
    assert snapshot(conn) == before


def test_a_responsibility_grid_of_another_community_in_the_database_is_refused(conn, fresh, tmp_path):
    rows = grid_rows()
    rows[5]["responsibility_code"] = f"{COMM_A}R2"
    with pytest.raises(GridImportError, match=f"responsibility grid {COMM_A}R2 belongs to community {COMM_A}, not {COMM_B}"):
        import_grids(conn, to_geojson(tmp_path / "resp2.geojson", rows), crs="WGS84")


# --- multi-part features ---------------------------------------------------------------------

def exclave_rows():
    rows = grid_rows()
    # community B's first grid has an exclave: a small island left of the lattice
    island = box(X0 - 2 * STEP, Y0, X0 - 1.5 * STEP, Y0 + 0.5 * STEP)
    rows[4]["geometry"] = shapely.MultiPolygon([island, cell(2, 0)])
    return rows


def test_a_multipart_feature_is_refused_naming_it_and_the_flag(conn, tmp_path):
    before = snapshot(conn)
    with pytest.raises(GridImportError) as e:
        import_grids(conn, to_geojson(tmp_path / "multi.geojson", exclave_rows()), crs="WGS84")
    assert f"feature 5 ({COMM_B}001): a MultiPolygon of 2 parts" in str(e.value) and "--split-multipart" in str(e.value)
    assert snapshot(conn) == before


def test_split_multipart_gives_the_next_free_codes_and_lists_them(conn, fresh, tmp_path):
    # retire grid 002 of community B so its code is "used": the split must not reuse it
    conn.execute(text("UPDATE unit_grid SET retired_at = now() WHERE code = :c"), {"c": f"{COMM_B}002"})
    rows = [r for r in exclave_rows() if r["code"] != f"{COMM_B}002"]
    res = import_grids(conn, to_geojson(tmp_path / "multi.geojson", rows), crs="WGS84", split_multipart=True)
    assert res.split == [f"feature 5: 2 parts → {COMM_B}001, {COMM_B}003 (the largest keeps {COMM_B}001)"]
    got = dict(conn.execute(text("SELECT g.code, ST_Area(gv.geom) FROM unit_grid g JOIN grid_version gv "
                                 "ON gv.grid_id = g.id AND gv.valid_to IS NULL WHERE g.code LIKE :c"),
                            {"c": COMM_B + "%"}).all())
    assert got[f"{COMM_B}001"] == pytest.approx(STEP * STEP) and got[f"{COMM_B}003"] == pytest.approx(STEP * STEP / 4)
    assert conn.execute(text("SELECT name FROM unit_grid WHERE code = :c"), {"c": f"{COMM_B}003"}).scalar_one() == "乙1-2"


# --- the declared system ---------------------------------------------------------------------

def test_geojson_without_crs_is_refused_with_a_hint(conn, tmp_path):
    before = snapshot(conn)
    with pytest.raises(GridImportError, match="GeoJSON file does not say which datum.*--crs.*GCJ02 for AMap"):
        import_grids(conn, to_geojson(tmp_path / "g.geojson", grid_rows()))
    assert snapshot(conn) == before


@pytest.mark.parametrize("system,declared,hint", [
    ("GCJ02", "WGS84", "looks like GCJ-02 coordinates read as WGS-84: import with --crs GCJ02"),
    ("BD09", "WGS84", "looks like BD-09 coordinates read as WGS-84: import with --crs BD09"),
    ("WGS84", "GCJ02", "looks like WGS-84 coordinates read as GCJ-02: import with --crs WGS84"),
])
def test_a_redraw_shifted_by_the_obfuscation_is_refused_with_a_hint(conn, fresh, tmp_path, system, declared, hint):
    path = to_geojson(tmp_path / "shifted.geojson", grid_rows(), None if system == "WGS84" else in_system(system))
    before = snapshot(conn)
    with pytest.raises(GridImportError) as e:
        import_grids(conn, path, crs=declared)
    assert "every redrawn grid (6) moved by the" in str(e.value) and hint in str(e.value)
    assert snapshot(conn) == before


def test_the_hint_stays_when_one_grid_of_the_shifted_file_was_really_redrawn(conn, fresh, tmp_path):
    """A redraw traced on a GCJ-02 map: most grids one offset away, one really moved (review F8)."""
    rows = grid_rows()
    rows[0]["geometry"] = shapely.affinity.scale(rows[0]["geometry"], 0.5, 0.5, origin="center")
    rows[0]["geometry"] = shapely.affinity.translate(rows[0]["geometry"], STEP / 8, 0)
    before = snapshot(conn)
    with pytest.raises(GridImportError) as e:
        import_grids(conn, to_geojson(tmp_path / "traced.geojson", rows, in_system("GCJ02")), crs="WGS84")
    assert "5 of the 6 redrawn grids moved by the GCJ-02 offset" in str(e.value), str(e.value)
    assert snapshot(conn) == before


@pytest.mark.parametrize("system", ["GCJ02", "BD09"])
def test_the_same_grids_in_another_system_are_unchanged_and_warn_of_nothing(conn, sample_loaded, tmp_path, system):
    """The whole sample district (1,035 grids) re-imported in GCJ-02 / BD-09: no version added, no
    "uncovered" warning from conversion noise along ~300 km of edges."""
    from gis.io import export_grids

    path = tmp_path / "all.geojson"
    export_grids(conn, path, district_code="211103")
    doc = json.loads(path.read_text("utf-8"))
    rows = [{"code": f["properties"]["code"], "name": f["properties"]["name"],
             "geometry": shapely.geometry.shape(f["geometry"])} for f in doc["features"]]
    versions = conn.execute(text("SELECT count(*) FROM grid_version")).scalar()
    res = import_grids(conn, to_geojson(tmp_path / "conv.geojson", rows, in_system(system)), crs=system)
    assert (res.unchanged, res.redrawn, res.warnings) == (1035, 0, [])
    assert conn.execute(text("SELECT count(*) FROM grid_version")).scalar() == versions


def test_the_same_grids_as_a_projected_geopackage_are_unchanged(conn, fresh, tmp_path):
    df = gpd.GeoDataFrame(grid_rows(), crs=4326).to_crs(32647)
    df.to_file(tmp_path / "g.gpkg", engine="pyogrio")
    res = import_grids(conn, tmp_path / "g.gpkg")
    assert (res.unchanged, res.redrawn, res.created, res.warnings) == (6, 0, 0, [])


def test_an_import_that_changes_nothing_records_no_boundary_change(conn, fresh, tmp_path):
    """An empty change in the history would count as a conflicting change for every open draft over
    these communities (session 14's review: a no-op re-import blocked a planner's publish)."""
    before = snapshot(conn)
    res = import_grids(conn, to_geojson(tmp_path / "again.geojson", grid_rows()), crs="WGS84")
    assert (res.unchanged, res.redrawn, res.created, res.change_id, res.nothing_changed) == (6, 0, 0, None, True)
    assert snapshot(conn) == before


def test_a_retired_code_is_refused_naming_it(conn, fresh, tmp_path):
    """A retired code is never reused: an import brought it back (and its new name into the old
    grid's history) until session 14."""
    code = grid_rows()[1]["code"]
    conn.execute(text("UPDATE unit_grid SET retired_at = now() WHERE code = :c"), {"c": code})
    before = snapshot(conn)
    with pytest.raises(GridImportError) as e:
        import_grids(conn, to_geojson(tmp_path / "back.geojson", grid_rows()), crs="WGS84")
    assert f"grid code {code} was retired on" in str(e.value) and "never reused" in str(e.value)
    assert snapshot(conn) == before
    assert conn.execute(text("SELECT retired_at IS NOT NULL FROM unit_grid WHERE code = :c"), {"c": code}).scalar()


def test_an_import_over_a_community_with_a_scheduled_change_is_refused(conn, fresh, tmp_path):
    """Applied later, the scheduled change would write its copy of the grids over the imported ones
    (session 14's review: a 7,271 m² hole in the live tiling)."""
    comm = conn.execute(text("SELECT id FROM community WHERE code = :c"), {"c": COMM_A}).scalar_one()
    change = conn.execute(text(
        "INSERT INTO boundary_change(kind, note, created_at, effective_at, status, community_ids) "
        "VALUES ('publish', 'waiting', now(), now() + interval '1 day', 'scheduled', ARRAY[:c]) RETURNING id"),
        {"c": comm}).scalar_one()
    rows = grid_rows()
    rows[0]["geometry"] = shapely.affinity.scale(rows[0]["geometry"], 0.9, 0.9)  # a real redraw
    before = snapshot(conn)
    with pytest.raises(GridImportError) as e:
        import_grids(conn, to_geojson(tmp_path / "redraw.geojson", rows), crs="WGS84")
    assert f"boundary change #{change}" in str(e.value) and "is scheduled" in str(e.value) \
        and COMM_A in str(e.value), str(e.value)
    assert snapshot(conn) == before


# --- Shapefiles ------------------------------------------------------------------------------

def write_shapefile(tmp_path, rows, columns, encoding="GBK", zipped=True):
    df = gpd.GeoDataFrame([{columns.get(k, k): v for k, v in r.items()} for r in rows], crs=4326)
    shp = tmp_path / "grids.shp"
    df.to_file(shp, engine="pyogrio", encoding=encoding)
    tmp_path.joinpath("grids.cpg").unlink(missing_ok=True)  # as many tools write them: no .cpg
    if not zipped:
        return shp
    zpath = tmp_path / "grids.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for ext in ("shp", "shx", "dbf", "prj"):
            z.write(tmp_path / f"grids.{ext}", f"grids.{ext}")
    return zpath


CHINESE = {"code": "网格编码", "name": "网格名称", "community_code": "社区编码", "community_name": "社区名称",
           "subdistrict_code": "街道编码", "subdistrict_name": "街道名称", "district_code": "区县编码",
           "district_name": "区县名称"}


def test_a_gbk_zipped_shapefile_without_cpg_needs_encoding_and_says_so(conn, tmp_path):
    rows = [{k: v for k, v in r.items() if not k.startswith(("responsibility", "community_kind"))} for r in grid_rows()]
    path = write_shapefile(tmp_path, rows, CHINESE)
    before = snapshot(conn)
    with pytest.raises(GridImportError) as e:
        import_grids(conn, path)
    msg = str(e.value)
    assert "no grid code attribute" in msg and "read as ISO-8859-1" in msg and "--encoding (e.g. GBK)" in msg
    assert snapshot(conn) == before
    res = import_grids(conn, path, encoding="GBK")
    assert res.created == 6 and f"community {COMM_B} 乙村" in res.areas_created


def test_chinese_field_names_cut_by_the_10_byte_limit_get_a_message(conn, tmp_path):
    shp = write_shapefile(tmp_path, [{"code": f"{COMM_A}001", "name": "甲1", "geometry": cell(0, 0)}], {},
                          encoding="UTF-8", zipped=False)
    dbf = bytearray(shp.with_suffix(".dbf").read_bytes())
    cut = "网格编码".encode()[:10]  # what a 10-byte field name keeps of 12 bytes: 3⅓ characters
    dbf[32:43] = cut + b"\0" * (11 - len(cut))
    shp.with_suffix(".dbf").write_bytes(bytes(dbf))
    shp.with_suffix(".cpg").write_text("UTF-8")
    with pytest.raises(GridImportError) as e:
        import_grids(conn, shp)
    msg = str(e.value)
    assert "cuts field names at 10 bytes" in msg and "--encoding" in msg and "Traceback" not in msg


def test_an_unknown_encoding_is_refused_by_name(conn, tmp_path):
    shp = write_shapefile(tmp_path, [{"code": f"{COMM_A}001", "name": "甲1", "geometry": cell(0, 0)}], {},
                          encoding="UTF-8", zipped=False)
    with pytest.raises(GridImportError, match="unknown text encoding 'KLINGON'"):
        import_grids(conn, shp, encoding="KLINGON")


def test_import_grids_command_prints_what_it_created(tmp_path, capsys, engine):
    """Through manage.py against the test database; the refused file leaves nothing."""
    path = to_geojson(tmp_path / "g.geojson", exclave_rows())
    assert manage.main(["import-grids", "--test", str(path)]) == 1
    assert "--crs" in capsys.readouterr().err
    assert manage.main(["import-grids", "--test", "--crs", "WGS84", str(path)]) == 1
    assert "--split-multipart" in capsys.readouterr().err
    assert manage.main(["import-grids", "--test", "--crs", "WGS84", "--as", "no_such_person", str(path)]) == 1
    assert "no active user 'no_such_person' (--as)" in capsys.readouterr().err
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM district WHERE code = :d"), {"d": DISTRICT}).scalar() == 0


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty (0 bytes)"),
    (b'{"type": "FeatureCollection", "features": []}', "the file has no features"),
])
def test_an_empty_file_is_said_to_be_empty(conn, tmp_path, content, message):
    path = tmp_path / "empty.geojson"
    path.write_bytes(content)
    before = snapshot(conn)
    with pytest.raises(GridImportError, match=re.escape(message)):
        import_grids(conn, path, crs="WGS84")
    assert snapshot(conn) == before
