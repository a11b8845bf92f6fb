"""Coordinate systems at the edge: conversions, and refusals that say what is wrong."""
from __future__ import annotations

import math

import prcoords
import pytest

from gis.crs import CoordinateError, canonical, from_wgs84, to_wgs84, to_wgs84_many

PANJIN = (122.07, 41.12)


def metres(a, b) -> float:
    return prcoords.Coords(a[1], a[0]).distance(prcoords.Coords(b[1], b[0]))


@pytest.mark.parametrize("name", ["WGS84", "wgs-84", "EPSG:4326", "epsg:4326", "4326"])
def test_wgs84_passes_through_unchanged(name):
    assert to_wgs84(*PANJIN, name) == PANJIN


@pytest.mark.parametrize("name,shift_m", [("GCJ02", (200, 1200)), ("BD09", (800, 2000))])
def test_chinese_web_map_systems_round_trip_to_sub_metre(name, shift_m):
    sent = from_wgs84(*PANJIN, name)
    lo, hi = shift_m
    assert lo < metres(sent, PANJIN) < hi  # the obfuscation is real: hundreds of metres
    back = to_wgs84(*sent, name)
    assert metres(back, PANJIN) < 0.01


def test_gcj02_agrees_with_prcoords():
    gcj = prcoords.wgs_gcj(prcoords.Coords(PANJIN[1], PANJIN[0]))
    assert from_wgs84(*PANJIN, "GCJ-02") == (gcj.lon, gcj.lat)


@pytest.mark.parametrize("code", ["EPSG:32651", "EPSG:4526", "EPSG:3857"])
def test_projected_epsg_codes_go_through_pyproj(code):
    x, y = from_wgs84(*PANJIN, code)
    assert abs(x) > 1000  # metres, not degrees
    assert to_wgs84(x, y, code) == pytest.approx(PANJIN, abs=1e-9)


def test_cgcs2000_is_geographic_and_almost_wgs84():
    assert to_wgs84(*PANJIN, "EPSG:4490") == pytest.approx(PANJIN, abs=1e-6)


@pytest.mark.parametrize("name", ["XIAN80", "EPSG:99999", "", "UTM"])
def test_unknown_system_is_refused_by_name(name):
    with pytest.raises(ValueError) as e:
        to_wgs84(*PANJIN, name)
    assert (repr(name) in str(e.value)) or "no coordinate system" in str(e.value)


@pytest.mark.parametrize("name", ["WGS84", "GCJ02", "BD09", "EPSG:4490"])
def test_latitude_first_is_detected_and_refused(name):
    with pytest.raises(CoordinateError, match="swapped order"):
        to_wgs84(PANJIN[1], PANJIN[0], name)


@pytest.mark.parametrize("x,y", [(190.0, 10.0), (10.0, 195.0), (-200.0, -100.0)])
def test_out_of_range_is_refused(x, y):
    with pytest.raises(CoordinateError, match="out of range"):
        to_wgs84(x, y, "WGS84")


@pytest.mark.parametrize("x,y", [(math.nan, 41.0), (122.0, math.inf)])
def test_non_finite_is_refused(x, y):
    with pytest.raises(CoordinateError, match="not finite"):
        to_wgs84(x, y, "WGS84")


def test_not_a_number_is_refused():
    with pytest.raises(CoordinateError, match="not numbers"):
        to_wgs84("east", 41.0, "WGS84")


@pytest.mark.parametrize("name", ["GCJ02", "BD09"])
def test_gcj02_and_bd09_outside_china_are_refused(name):
    with pytest.raises(CoordinateError, match="only defined inside China"):
        to_wgs84(2.35, 48.85, name)  # Paris


def test_canonical_names():
    assert [canonical(n) for n in ("gps", "GCJ-02", "bd09ll", "EPSG:32651", "32651")] == \
        ["WGS84", "GCJ02", "BD09", "EPSG:32651", "EPSG:32651"]


def test_many_points_at_once():
    lon, lat = to_wgs84_many([PANJIN[0]] * 3, [PANJIN[1]] * 3, "WGS84")
    assert list(lon) == [PANJIN[0]] * 3
    x, y = from_wgs84(*PANJIN, "EPSG:32651")
    lon, lat = to_wgs84_many([x, x], [y, y], "EPSG:32651")
    assert lon == pytest.approx([PANJIN[0]] * 2) and lat == pytest.approx([PANJIN[1]] * 2)
    with pytest.raises(CoordinateError, match="swapped"):
        to_wgs84_many([122.0, 41.1], [41.1, 122.0], "GCJ02")


# Known points across China; at Guangzhou prcoords' own inverse (stops at 1e-5°) is 4.6 mm off.
KNOWN = [(122.07, 41.12), (116.397, 39.908), (121.47, 31.23), (113.26, 23.13), (87.62, 43.82), (126.63, 45.75)]


@pytest.mark.parametrize("name", ["GCJ02", "BD09"])
@pytest.mark.parametrize("point", KNOWN)
def test_obfuscated_systems_round_trip_below_a_millimetre(name, point):
    back = to_wgs84(*from_wgs84(*point, name), name)
    assert metres(back, point) < 0.001
