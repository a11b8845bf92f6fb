"""import-grids reads only local GeoJSON, GeoPackage and zipped Shapefile, recognised by content as
well as name; zips are checked before anything is unpacked; names and codes have a length cap.
Every refusal is one line naming what was wrong (or the feature), and GDAL never sees the file."""
from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import pytest
from shapely.geometry import Point, mapping

from gis.io import GridImportError, read_grid_file
from tests.zh_text import assert_chinese

CODE = "211103001001901"


def _features(**props):
    base = {"code": CODE, "name": "测试网格", **props}
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": base, "geometry": mapping(Point(121.5, 41.1).buffer(0.001))}]}


def _geojson(path, **props):
    path.write_text(json.dumps(_features(**props), ensure_ascii=False), "utf-8")
    return path


def _refused(path, *needles, crs="WGS84"):
    with pytest.raises(GridImportError) as e:
        read_grid_file(path, crs=crs)
    msg = str(e.value)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, msg
    for p in e.value.problems:  # the planner's page shows them in Chinese
        assert_chinese(p.text("zh"))
    return msg


def test_a_good_geojson_still_reads(tmp_path):
    assert [f.code for f in read_grid_file(_geojson(tmp_path / "g.geojson"), crs="WGS84")] == [CODE]


def test_a_vrt_is_refused_even_named_geojson(tmp_path):
    real = _geojson(tmp_path / "real.geojson")
    vrt = (f'<OGRVRTDataSource><OGRVRTLayer name="real"><SrcDataSource>{real}</SrcDataSource>'
           "</OGRVRTLayer></OGRVRTDataSource>")
    (tmp_path / "grids.geojson").write_text(vrt)  # GDAL itself would open it as VRT and read real.geojson
    _refused(tmp_path / "grids.geojson", "cannot be read as GeoJSON", "CSV, VRT or XML")
    (tmp_path / "grids.vrt").write_text(vrt)
    _refused(tmp_path / "grids.vrt", ".vrt is not accepted")


def test_csv_and_other_formats_are_refused(tmp_path):
    csv = "code,name,WKT\n211103001001901,x,\"POLYGON((121 41,121.1 41,121.1 41.1,121 41))\"\n"
    (tmp_path / "grids.csv").write_text(csv)
    _refused(tmp_path / "grids.csv", ".csv is not accepted")
    (tmp_path / "grids.json").write_text(csv)
    _refused(tmp_path / "grids.json", "cannot be read as GeoJSON")
    (tmp_path / "grids.gpkg").write_text(csv)
    _refused(tmp_path / "grids.gpkg", "cannot be read as GeoPackage")


def test_esri_json_opens_as_another_driver_and_is_refused(tmp_path):
    esri = {"geometryType": "esriGeometryPolygon", "spatialReference": {"wkid": 4326},
            "fields": [{"name": "code", "type": "esriFieldTypeString"}],
            "features": [{"attributes": {"code": CODE},
                          "geometry": {"rings": [[[121, 41], [121.1, 41], [121.1, 41.1], [121, 41]]]}}]}
    (tmp_path / "esri.json").write_text(json.dumps(esri))
    _refused(tmp_path / "esri.json", "ESRIJSON", "only those are accepted")


@pytest.mark.parametrize("path", ["/vsicurl/http://127.0.0.1:9/grids.geojson", "https://127.0.0.1:9/grids.geojson",
                                  "/vsizip//tmp/x.zip/grids.shp", "PG:dbname=gridgov", "CSV:/etc/passwd"])
def test_remote_and_virtual_paths_are_refused(path):
    _refused(path, "download the file")


def test_a_folder_a_missing_file_and_a_device(tmp_path):
    _refused(tmp_path, "is a folder")
    _refused(tmp_path / "nope.geojson", "no such file")
    _refused("/dev/null", "not a regular file")


def _shapefile_zip(tmp_path, name="grids.zip", extra: dict[str, bytes] | None = None, prefix=""):
    df = gpd.GeoDataFrame([{"code": CODE, "name": "x", "geometry": Point(121.5, 41.1).buffer(0.001)}], crs=4326)
    df.to_file(tmp_path / "s.shp", engine="pyogrio")
    z = tmp_path / name
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as f:
        for ext in ("shp", "shx", "dbf", "prj"):
            f.write(tmp_path / f"s.{ext}", f"{prefix}s.{ext}")
        for member, data in (extra or {}).items():
            f.writestr(member, data)
    return z


def test_a_zipped_shapefile_reads_also_from_a_folder_inside(tmp_path):
    assert [f.code for f in read_grid_file(_shapefile_zip(tmp_path, prefix="grids/"))] == [CODE]


def test_a_zip_bomb_is_refused_before_unpacking(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDGOV_MAX_GRID_FILE_MB", "1")
    z = _shapefile_zip(tmp_path, extra={"s.xml": b"\0" * (50 * 2**20)})  # 50 MiB of zeros: ~50 KiB zipped
    assert z.stat().st_size < 2**20
    _refused(z, "unpacks to 50.", "more than the 1 MiB")


@pytest.mark.parametrize("member", ["../evil.shp", "/tmp/evil.shp", "a/../../evil.dbf", "C:/evil.shp"])
def test_zip_members_outside_the_folder_are_refused(tmp_path, member):
    _refused(_shapefile_zip(tmp_path, extra={member: b"x"}), "absolute path or '..'")
    assert not (tmp_path.parent / "evil.shp").exists()


def test_a_zip_holding_anything_but_a_shapefile_is_refused(tmp_path):
    _refused(_shapefile_zip(tmp_path, extra={"more.vrt": b"<OGRVRTDataSource/>"}), "'more.vrt' is not part of a Shapefile")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as f:
        f.writestr("readme.txt", "hi")
    _refused(tmp_path / "empty.zip", "not part of a Shapefile")


@pytest.mark.parametrize("field,value,needle", [
    ("name", "网" * 5000, "grid name is 5,000 characters long"),
    ("community_name", "社" * 101, "community_name is 101 characters long"),
    ("responsibility_code", "9" * 10_000, "responsibility_code is 10,000 characters long"),
    ("code", "1" * 100_000, "grid code is 100,000 characters long"),
])
def test_long_names_and_codes_are_refused_naming_the_feature(tmp_path, field, value, needle):
    with pytest.raises(GridImportError) as e:
        read_grid_file(_geojson(tmp_path / "long.geojson", **{field: value}), crs="WGS84")
    assert [p.feature for p in e.value.problems] == [1]
    assert needle in str(e.value) and "feature 1" in str(e.value)
    assert len(str(e.value)) < 500  # the value itself is not echoed back
    assert_chinese(e.value.problems[0].text("zh"))
