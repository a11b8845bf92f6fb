"""Every problem a grid file can have is said in Chinese for the planner's page (``Problem.text``)
and in English for the command line (``str``), and a page's refusal built from them reads Chinese."""
from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon, box, mapping

from gis.crs import CoordinateError, to_wgs84
from gis.io import GridImportError, read_grid_file
from gis.text import Msg, in_lang
from tests.zh_text import assert_chinese

C = "211103001001"


def _fc(*features):
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": mapping(geom) if geom is not None else None}
        for props, geom in features]}


def _problems(tmp_path, fc, crs="WGS84", name="g.geojson"):
    path = tmp_path / name
    path.write_text(json.dumps(fc, ensure_ascii=False), "utf-8")
    with pytest.raises(GridImportError) as e:
        read_grid_file(path, crs=crs)
    return e.value.problems


CELL = box(121.50, 41.10, 121.501, 41.101)
CASES = {
    "no code or name column": (_fc(({"编号": "x"}, CELL)), "WGS84", "no grid code attribute"),
    "duplicate code": (_fc(({"code": C + "001", "name": "a"}, CELL),
                           ({"code": C + "001", "name": "b"}, box(121.502, 41.10, 121.503, 41.101))), "WGS84",
                       "duplicate grid code"),
    "missing name and code": (_fc(({"code": None, "name": ""}, CELL)), "WGS84", "missing grid"),
    "short code": (_fc(({"code": "123", "name": "a"}, CELL)), "WGS84", "must be 15 digits"),
    "multi-part": (_fc(({"code": C + "001", "name": "a"},
                        MultiPolygon([CELL, box(121.51, 41.10, 121.511, 41.101)]))), "WGS84", "MultiPolygon of 2"),
    "a line": (_fc(({"code": C + "001", "name": "a"}, LineString([(121.5, 41.1), (121.6, 41.2)]))), "WGS84",
               "not a polygon"),
    "no geometry": (_fc(({"code": C + "001", "name": "a"}, None)), "WGS84", "no geometry"),
    "bow-tie": (_fc(({"code": C + "001", "name": "a"},
                     Polygon([(121.5, 41.1), (121.501, 41.101), (121.501, 41.1), (121.5, 41.101)]))), "WGS84",
                "invalid geometry"),
    "overlap": (_fc(({"code": C + "001", "name": "a"}, CELL),
                    ({"code": C + "002", "name": "b"}, shapely.affinity.translate(CELL, 0.0005))), "WGS84",
                "overlaps feature 1"),
    "no datum": (_fc(({"code": C + "001", "name": "a"}, CELL)), None, "does not say which datum"),
    "unknown system": (_fc(({"code": C + "001", "name": "a"}, CELL)), "MARS", "unknown coordinate system"),
    "swapped": (_fc(({"code": C + "001", "name": "a"}, box(41.10, 121.50, 41.101, 121.501))), "WGS84",
                "cannot be converted"),
    "outside China in GCJ-02": (_fc(({"code": C + "001", "name": "a"}, box(2.0, 48.0, 2.001, 48.001))), "GCJ02",
                                "outside China"),
    "no features": (_fc(), "WGS84", "no features"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_is_said_in_chinese_and_english(tmp_path, case):
    fc, crs, english = CASES[case]
    problems = _problems(tmp_path, fc, crs)
    assert any(english in str(p) for p in problems), [str(p) for p in problems]
    for p in problems:
        assert isinstance(p.message, Msg), f"{case}: {p} has no Chinese"
        assert_chinese(p.text("zh"))
        assert p.text("en") == str(p)


def test_a_shapefile_and_geopackage_problems(tmp_path):
    df = gpd.GeoDataFrame([{"code": C + "001", "name": "a", "geometry": CELL}], crs=3857)
    df.to_file(tmp_path / "g.gpkg", layer="one", engine="pyogrio")
    df.to_file(tmp_path / "g.gpkg", layer="two", engine="pyogrio")
    df.to_file(tmp_path / "s.shp", engine="pyogrio")
    for path, crs, english in ((tmp_path / "g.gpkg", None, "has 2 layers"),
                               (tmp_path / "s.shp", "GCJ02", "but --crs says GCJ02")):
        with pytest.raises(GridImportError) as e:
            read_grid_file(path, crs=crs)
        assert english in str(e.value)
        for p in e.value.problems:
            assert_chinese(p.text("zh"))
    with pytest.raises(GridImportError) as e:
        read_grid_file(tmp_path / "s.shp", encoding="KLINGON")
    assert "unknown text encoding" in str(e.value)
    assert_chinese(e.value.problems[0].text("zh"))


@pytest.mark.parametrize("x, y, crs, kind", [(41.1, 121.5, "WGS84", "swapped"), (200, 10, "WGS84", "range"),
                                              (2.0, 48.0, "GCJ02", "outside_china"), (1, 2, "MARS", "other"),
                                              (float("nan"), 1, "WGS84", "not_finite")])
def test_coordinate_errors_carry_chinese(x, y, crs, kind):
    with pytest.raises(CoordinateError) as e:
        to_wgs84(x, y, crs)
    assert e.value.kind == kind
    assert_chinese(in_lang(e.value, "zh"))
    assert in_lang(e.value, "en") == str(e.value) and not any("\u4e00" <= ch <= "\u9fff" for ch in str(e.value))
