"""Reference layers kept per draft, on real PostGIS: loaded from GeoJSON, GeoPackage and zipped
Shapefile (GCJ-02 converted), listed, hidden and shown, removed, simplified for display, gone with
the draft; bad files refused with a message naming what was wrong and nothing written."""
from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import LineString, Point, shape
from sqlalchemy import text

from gis.crs import to_wgs84
from planning import drafts, layers
from planning.errors import DraftClosed, EditError
from tests.planning.conftest import D
from tests.zh_text import assert_chinese

HOSTILE = '<img src=x onerror="alert(1)">路 & "名"'


def new_draft(p) -> int:
    return drafts.create_draft(p.conn, name="参考图层草稿", reason="", actor_id=p.planner, district_code=D)


def roads_geojson(path, features=None):
    features = features or [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0.0, 0.005], [0.03, 0.005]]},
         "properties": {"name": HOSTILE, "lanes": 4}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0.015, 0.015]}, "properties": {"name": "站"}},
        {"type": "Feature", "geometry": None, "properties": {"name": "无几何"}},
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))
    return path


def counts(conn) -> tuple[int, int]:
    return (conn.execute(text("SELECT count(*) FROM draft_reference_layer")).scalar_one(),
            conn.execute(text("SELECT count(*) FROM draft_reference_feature")).scalar_one())


def test_a_geojson_layer_is_kept_with_the_draft_and_listed(plan, tmp_path):
    d = new_draft(plan)
    got = layers.load_layer(plan.conn, d, roads_geojson(tmp_path / "道路.geojson"), crs="WGS84", actor_id=plan.planner)
    assert (got.name, got.source, got.crs, got.n_features, got.n_vertices, got.shown) == \
        ("道路", "道路.geojson", "WGS84", 2, 3, True)  # the feature without geometry is left out
    assert got.created_by == "规划员甲"
    assert layers.list_layers(plan.conn, d) == [got]
    fc = layers.layer_geojson(plan.conn, got.id)
    assert fc["simplified_m"] == 0
    assert [f["geometry"]["type"] for f in fc["features"]] == ["LineString", "Point"]
    assert fc["features"][0]["properties"] == {"name": HOSTILE, "lanes": 4}  # kept as text: escaping is the map's
    stored = plan.conn.execute(text("SELECT ST_SRID(geom), GeometryType(geom) FROM draft_reference_feature f "
                                    "WHERE layer_id = :l ORDER BY seq"), {"l": got.id}).all()
    assert stored == [(4326, "LINESTRING"), (4326, "POINT")]


def test_a_geopackage_and_a_zipped_shapefile_load_and_gcj02_is_converted(plan, tmp_path):
    d = new_draft(plan)
    gcj = (122.0761, 41.1213)  # a point given in GCJ-02 (a Chinese web map's export)
    buildings = gpd.GeoDataFrame({"名称": ["楼一"], "floors": [6]},
                                 geometry=[shapely.box(0.001, 0.001, 0.002, 0.002)], crs="EPSG:4326")
    buildings.to_file(tmp_path / "buildings.gpkg", driver="GPKG")
    gpkg = layers.load_layer(plan.conn, d, tmp_path / "buildings.gpkg", actor_id=plan.planner)
    assert (gpkg.crs, gpkg.n_features, gpkg.n_vertices) == ("WGS84", 1, 5)
    gpd.GeoDataFrame({"name": ["井"]}, geometry=[Point(*gcj)], crs="EPSG:4326").to_file(tmp_path / "wells.shp")
    with zipfile.ZipFile(tmp_path / "wells.zip", "w") as z:
        for ext in ("shp", "shx", "dbf", "cpg"):
            z.write(tmp_path / f"wells.{ext}", f"wells.{ext}")
    shp = layers.load_layer(plan.conn, d, tmp_path / "wells.zip", crs="GCJ02", actor_id=plan.planner, name="水井")
    assert shp.crs == "GCJ02"
    lon, lat = layers.layer_geojson(plan.conn, shp.id)["features"][0]["geometry"]["coordinates"]
    want = to_wgs84(*gcj, "GCJ02")
    assert abs(lon - want[0]) < 2e-6 and abs(lat - want[1]) < 2e-6  # moved by hundreds of metres, to 0.2 m
    assert [r.name for r in layers.list_layers(plan.conn, d)] == ["buildings", "水井"]


def test_hidden_shown_and_removed(plan, tmp_path):
    d = new_draft(plan)
    got = layers.load_layer(plan.conn, d, roads_geojson(tmp_path / "r.geojson"), crs="WGS84", actor_id=plan.planner)
    layers.set_shown(plan.conn, d, got.id, False)
    assert layers.list_layers(plan.conn, d)[0].shown is False
    layers.set_shown(plan.conn, d, got.id, True)
    assert layers.list_layers(plan.conn, d)[0].shown is True
    layers.remove_layer(plan.conn, d, got.id)
    assert layers.list_layers(plan.conn, d) == [] and counts(plan.conn) == (0, 0)
    with pytest.raises(EditError, match=f"no reference layer {got.id}"):
        layers.remove_layer(plan.conn, d, got.id)


def test_a_layer_of_another_draft_cannot_be_touched(plan, tmp_path):
    d1, d2 = new_draft(plan), new_draft(plan)
    got = layers.load_layer(plan.conn, d1, roads_geojson(tmp_path / "r.geojson"), crs="WGS84", actor_id=plan.planner)
    with pytest.raises(EditError, match=f"draft {d2} has no reference layer"):
        layers.remove_layer(plan.conn, d2, got.id)
    assert len(layers.list_layers(plan.conn, d1)) == 1


def test_the_layers_go_with_the_draft(plan, tmp_path):
    d = new_draft(plan)
    layers.load_layer(plan.conn, d, roads_geojson(tmp_path / "r.geojson"), crs="WGS84", actor_id=plan.planner)
    assert counts(plan.conn) == (1, 2)
    plan.conn.execute(text("DELETE FROM boundary_draft WHERE id = :d"), {"d": d})
    assert counts(plan.conn) == (0, 0)


def test_a_closed_draft_takes_no_layer(plan, tmp_path):
    d = new_draft(plan)
    drafts.abandon(plan.conn, d, actor_id=plan.planner)
    with pytest.raises(DraftClosed):
        layers.load_layer(plan.conn, d, roads_geojson(tmp_path / "r.geojson"), crs="WGS84", actor_id=plan.planner)


def test_a_large_layer_is_simplified_for_display_only(plan, tmp_path):
    d = new_draft(plan)
    wiggle = [[0.03 * i / 2000, 0.005 + (0.000001 if i % 2 else 0)] for i in range(2001)]  # 0.1 m zig-zags
    path = roads_geojson(tmp_path / "river.geojson", [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": wiggle}, "properties": {}}])
    got = layers.load_layer(plan.conn, d, path, crs="WGS84", actor_id=plan.planner)
    assert got.n_vertices == 2001
    fc = layers.layer_geojson(plan.conn, got.id, max_vertices=100)
    assert fc["simplified_m"] == 1.0
    line = shape(fc["features"][0]["geometry"])
    assert len(line.coords) <= 100 and line.hausdorff_distance(LineString(wiggle)) < 2e-5
    stored = plan.conn.execute(text("SELECT ST_NPoints(geom) FROM draft_reference_feature WHERE layer_id = :l"),
                               {"l": got.id}).scalar_one()
    assert stored == 2001  # storage keeps every vertex


@pytest.mark.parametrize("name, content, crs, message", [
    ("r.geojson", None, None, "does not say which datum"),
    ("r.geojson", "code,name\n1,a\n", "WGS84", "its content is something else"),
    ("r.csv", "code,name\n1,a\n", "WGS84", ".csv is not accepted"),
    ("r.gpkg", '{"type": "FeatureCollection", "features": []}', None, "its content is GeoJSON"),
    ("r.geojson", '{"type": "FeatureCollection", "features": []}', "WGS84", "no feature with a geometry"),
    ("r.geojson", None, "MARS", "unknown coordinate system"),
    ("r.zip", None, None, "is not part of a Shapefile"),
])
def test_bad_files_are_refused_with_a_reason_and_nothing_written(plan, tmp_path, name, content, crs, message):
    d = new_draft(plan)
    path = tmp_path / name
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("evil.sh", "rm -rf /")
    elif content is None:
        roads_geojson(path)
    else:
        path.write_text(content)
    with pytest.raises(EditError, match=message) as e:
        layers.load_layer(plan.conn, d, path, crs=crs, actor_id=plan.planner)
    assert e.value.message_zh.startswith("参考图层未载入")
    assert_chinese(e.value.message_zh)  # the page speaks Chinese: no English reason inside
    assert counts(plan.conn) == (0, 0)


def test_remote_paths_and_folders_are_refused(plan, tmp_path):
    d = new_draft(plan)
    for path, message in (("http://example.com/roads.geojson", "remote files"), ("/vsicurl/x.gpkg", "remote files"),
                          (tmp_path, "is a folder"), (tmp_path / "none.geojson", "no such file")):
        with pytest.raises(EditError, match=message) as e:
            layers.load_layer(plan.conn, d, path, crs="WGS84", actor_id=plan.planner)
        assert_chinese(e.value.message_zh)


def test_the_caps_say_what_to_do(plan, tmp_path, monkeypatch):
    d = new_draft(plan)
    path = roads_geojson(tmp_path / "r.geojson")
    monkeypatch.setattr(layers, "MAX_FEATURES", 1)
    with pytest.raises(EditError, match="3 features, more than the 1 .* clip it"):
        layers.load_layer(plan.conn, d, path, crs="WGS84", actor_id=plan.planner)
    monkeypatch.setattr(layers, "MAX_FEATURES", 100)
    monkeypatch.setattr(layers, "MAX_VERTICES", 2)
    with pytest.raises(EditError, match="3 vertices, more than the 2"):
        layers.load_layer(plan.conn, d, path, crs="WGS84", actor_id=plan.planner)
    monkeypatch.setattr(layers, "MAX_VERTICES", 100)
    monkeypatch.setattr(layers, "MAX_LAYERS", 1)
    layers.load_layer(plan.conn, d, path, crs="WGS84", actor_id=plan.planner)
    with pytest.raises(EditError, match="already has a layer named 'r'"):
        layers.load_layer(plan.conn, d, path, crs="WGS84", actor_id=plan.planner)
    with pytest.raises(EditError, match="already has 1 layers, the most"):
        layers.load_layer(plan.conn, d, path, crs="WGS84", actor_id=plan.planner, name="另一个")
    assert counts(plan.conn) == (1, 2)


def test_a_geopackage_of_several_layers_needs_one_named(plan, tmp_path):
    d = new_draft(plan)
    path = tmp_path / "city.gpkg"
    for name, geom in (("roads", LineString([(0, 0), (0.01, 0.01)])), ("wells", Point(0.005, 0.005))):
        gpd.GeoDataFrame({"name": [name]}, geometry=[geom], crs="EPSG:4326").to_file(path, layer=name, driver="GPKG")
    with pytest.raises(EditError, match=r"2 layers \(roads, wells\): choose one") as e:
        layers.load_layer(plan.conn, d, path, actor_id=plan.planner)
    assert "2 个图层" in e.value.message_zh
    got = layers.load_layer(plan.conn, d, path, layer="wells", actor_id=plan.planner)
    assert (got.name, got.n_features) == ("city", 1)
    assert layers.layer_geojson(plan.conn, got.id)["features"][0]["geometry"]["type"] == "Point"
