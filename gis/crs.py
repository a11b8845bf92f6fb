"""Coordinate systems at the edge (坐标系): everything is stored in WGS-84 (``STORAGE_CRS``).

Phones report WGS-84 GPS; Chinese web maps (AMap, Tencent) give GCJ-02 and Baidu gives BD-09,
which are obfuscated systems defined only inside China (forward with ``prcoords``; the inverse
is iterated here to 1e-10°, about 0.01 mm: prcoords stops at 1e-5°, up to 17 mm off); anything else is an EPSG code handled by pyproj. A report must say which
system it is in: an unknown name, a point given latitude first, or coordinates out of range are
refused with a message that says so — never guessed, never silently fixed.

>>> to_wgs84(122.07, 41.12, "WGS84")
(122.07, 41.12)
>>> lon, lat = to_wgs84(122.0761, 41.1213, "GCJ02")
>>> round(lon, 4), round(lat, 4)
(122.0706, 41.1192)
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np
import prcoords

from db.config import STORAGE_SRID
from gis.text import Msg

WGS84, GCJ02, BD09 = "WGS84", "GCJ02", "BD09"
STORAGE_CRS = f"EPSG:{STORAGE_SRID}"  # WGS-84 as an EPSG name, the system of every stored geometry

_ALIASES = {
    "WGS84": WGS84, "WGS-84": WGS84, STORAGE_CRS: WGS84, str(STORAGE_SRID): WGS84, "GPS": WGS84,
    "GCJ02": GCJ02, "GCJ-02": GCJ02, "GCJ": GCJ02,
    "BD09": BD09, "BD-09": BD09, "BD09LL": BD09, "BAIDU": BD09,
}
_EPSG = re.compile(r"^EPSG:(\d{4,6})$")


class CoordinateError(ValueError):
    """A coordinate that cannot be taken: unknown system, swapped or out of range. ``kind`` says
    which ("swapped", "outside_china", "range", "not_finite", "other"), for callers that word the
    refusal themselves (the intake service names its fields and answers in Chinese)."""

    def __init__(self, message: str, kind: str = "other"):
        super().__init__(message)
        self.kind = kind


def canonical(crs: str) -> str:
    """The canonical name of a coordinate system: 'WGS84', 'GCJ02', 'BD09' or 'EPSG:n'.

    Raises CoordinateError naming the system if it is not known.
    """
    if not isinstance(crs, str) or not crs.strip():
        raise CoordinateError(Msg(f"no coordinate system given ({crs!r}); say WGS84, GCJ02, BD09 or EPSG:<code>",
                                  f"没有给出坐标系（{crs!r}）：请写 WGS84、GCJ02、BD09 或 EPSG:<编号>"))
    key = crs.strip().upper().replace(" ", "")
    if key in _ALIASES:
        return _ALIASES[key]
    if key.isdigit():
        key = "EPSG:" + key
    m = _EPSG.match(key)
    if m:
        if int(m.group(1)) == STORAGE_SRID:
            return WGS84
        _transformer(key)  # raises for a code pyproj does not know
        return key
    raise CoordinateError(Msg(f"unknown coordinate system {crs!r}; use WGS84, GCJ02, BD09 or EPSG:<code>",
                              f"未知的坐标系 {crs!r}：请用 WGS84、GCJ02、BD09 或 EPSG:<编号>"))


@lru_cache(maxsize=32)
def _transformer(code: str):
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        src = CRS.from_user_input(code)
    except CRSError:
        raise CoordinateError(Msg(f"unknown coordinate system {code!r}: pyproj has no such EPSG code",
                                  f"未知的坐标系 {code!r}：没有这个 EPSG 编号")) from None
    return src, Transformer.from_crs(src, STORAGE_CRS, always_xy=True)


def is_geographic(crs: str) -> bool:
    """True for a longitude/latitude system (WGS84, GCJ02, BD09, geographic EPSG codes)."""
    c = canonical(crs)
    return c in (WGS84, GCJ02, BD09) or _transformer(c)[0].is_geographic


def _in_china(lon: float, lat: float) -> bool:
    return prcoords.sanity_in_china_p(prcoords.Coords(lat, lon))


def _check_lonlat(x: float, y: float, crs: str) -> None:
    """Refuse swapped or out-of-range longitude/latitude input."""
    if not (math.isfinite(x) and math.isfinite(y)):
        raise CoordinateError(Msg(f"coordinates ({x}, {y}) in {crs} are not finite numbers",
                                  f"{crs} 坐标（{x}, {y}）不是有限的数"), "not_finite")
    ok = -180 <= x <= 180 and -90 <= y <= 90
    if crs in (GCJ02, BD09):
        if _in_china(x, y):
            return
        if _in_china(y, x):
            raise CoordinateError(_swapped(x, y, crs), "swapped")
        raise CoordinateError(Msg(
            f"({x}, {y}) in {crs} is outside China: {crs} is only defined inside China "
            "(lon 72.004–137.8347, lat 0.8293–55.8271)",
            f"{crs} 坐标（{x}, {y}）在中国境外：{crs} 只在中国境内有定义（经度 72.004–137.8347，纬度 0.8293–55.8271）"),
            "outside_china")
    if ok:
        return
    if -90 <= x <= 90 and -180 <= y <= 180:
        raise CoordinateError(_swapped(x, y, crs), "swapped")
    raise CoordinateError(Msg(f"({x}, {y}) is out of range for {crs}: longitude must be in [-180, 180], "
                              "latitude in [-90, 90]",
                              f"（{x}, {y}）超出 {crs} 的范围：经度应在 [-180, 180]，纬度在 [-90, 90]"), "range")


def _swapped(x: float, y: float, crs: str) -> Msg:
    return Msg(f"({x}, {y}) looks like latitude, longitude in swapped order: give longitude first "
               f"(x = lon, y = lat), i.e. ({y}, {x}) in {crs}",
               f"（{x}, {y}）像是纬度、经度顺序颠倒：请先写经度（x = 经度，y = 纬度），即 {crs} 的（{y}, {x}）")


# The inverse of an obfuscation is iterated until the forward image is this close to the input:
# 1e-10° is about 0.01 mm, far below any survey. The map is a small perturbation of the identity,
# so the fixed-point step converges by a factor of ~1e-5 per round: 3-4 rounds in practice.
INVERSE_EPS_DEG = 1e-10
INVERSE_MAX_ROUNDS = 30


def _inverse(x: float, y: float, forward) -> tuple[float, float]:
    """The WGS-84 point whose ``forward`` image is (x, y), to ``INVERSE_EPS_DEG``.

    >>> lon, lat = _inverse(*from_wgs84(122.07, 41.12, "BD09"), prcoords.wgs_bd)
    >>> abs(lon - 122.07) < 1e-9 and abs(lat - 41.12) < 1e-9
    True
    """
    lon, lat = x, y
    for _ in range(INVERSE_MAX_ROUNDS):
        p = forward(prcoords.Coords(lat, lon), False)
        dx, dy = p.lon - x, p.lat - y
        lon, lat = lon - dx, lat - dy
        if abs(dx) < INVERSE_EPS_DEG and abs(dy) < INVERSE_EPS_DEG:
            break
    return lon, lat


def to_wgs84(x: float, y: float, crs: str) -> tuple[float, float]:
    """(lon, lat) in WGS-84 of the point (x, y) given in ``crs``.

    Geographic systems take x = longitude, y = latitude. Raises CoordinateError (a ValueError)
    for an unknown system, a point given latitude first, coordinates out of range, or a GCJ-02 /
    BD-09 point outside China.
    """
    try:
        x, y = float(x), float(y)
    except (TypeError, ValueError):
        raise CoordinateError(Msg(f"coordinates ({x!r}, {y!r}) are not numbers",
                                  f"坐标（{x!r}, {y!r}）不是数字")) from None
    c = canonical(crs)
    if c == WGS84:
        _check_lonlat(x, y, c)
        return x, y
    if c in (GCJ02, BD09):
        _check_lonlat(x, y, c)
        return _inverse(x, y, prcoords.wgs_gcj if c == GCJ02 else prcoords.wgs_bd)
    src, tr = _transformer(c)
    if src.is_geographic:
        _check_lonlat(x, y, c)
    elif not (math.isfinite(x) and math.isfinite(y)):
        raise CoordinateError(Msg(f"coordinates ({x}, {y}) in {c} are not finite numbers",
                                  f"{c} 坐标（{x}, {y}）不是有限的数"))
    lon, lat = tr.transform(x, y, errcheck=False)
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise CoordinateError(_outside_area(x, y, c))
    return float(lon), float(lat)


def from_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """(x, y) in ``crs`` of a WGS-84 point: what a client in that system would send (for tests
    and sample data)."""
    c = canonical(crs)
    _check_lonlat(float(lon), float(lat), WGS84)
    if c == WGS84:
        return float(lon), float(lat)
    if c in (GCJ02, BD09):
        if not _in_china(lon, lat):
            raise CoordinateError(Msg(f"({lon}, {lat}) is outside China, where {c} is not defined",
                                      f"（{lon}, {lat}）在中国境外，{c} 在那里没有定义"))
        p = (prcoords.wgs_gcj if c == GCJ02 else prcoords.wgs_bd)(prcoords.Coords(lat, lon))
        return p.lon, p.lat
    src, tr = _transformer(c)
    x, y = tr.transform(lon, lat, direction="INVERSE")
    return float(x), float(y)


def to_wgs84_many(xs, ys, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`to_wgs84` for arrays in one system; the first bad point raises."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    c = canonical(crs)
    if c in (WGS84, GCJ02, BD09) or _transformer(c)[0].is_geographic:
        pts = [to_wgs84(x, y, c) for x, y in zip(xs.tolist(), ys.tolist())]
        return np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)
    _, tr = _transformer(c)
    lon, lat = tr.transform(xs, ys, errcheck=False)
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        k = int(np.argmax(bad))
        raise CoordinateError(_outside_area(xs[k], ys[k], c))
    return lon, lat


def _outside_area(x, y, c: str) -> Msg:
    return Msg(f"({x}, {y}) in {c} is outside the area where {c} can be converted to WGS-84",
               f"{c} 坐标（{x}, {y}）超出 {c} 能换算成 WGS-84 的范围")
