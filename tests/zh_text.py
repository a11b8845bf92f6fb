"""A check that a message meant for a Chinese page reads as Chinese: it has Chinese in it, and
once the names it may quote are taken out (file names, codes, formats, systems, values in
quotes), no English word of three letters or more is left."""
from __future__ import annotations

import re

# Names a Chinese message may carry as they are: formats, systems, units, tools, settings.
KEEP = {"GeoJSON", "GeoPackage", "Shapefile", "GDAL", "WGS84", "WGS", "GCJ02", "GCJ", "BD09", "EPSG", "MiB", "zip",
        "CSV", "VRT", "XML", "UTF", "GBK", "GB18030", "ISO", "MultiPolygon", "Polygon", "Point", "LineString",
        "cpg", "prj", "shp", "shx", "dbf", "qix", "sbn", "sbx", "xml", "geojson", "gpkg", "json", "vsi", "code",
        "name", "GRIDGOV_MAX_GRID_FILE_MB", "ESRIJSON", "AMap", "Self", "intersection", "Ring", "Too", "few",
        "points", "grid_code", "grid_name", "GPS", "nan", "inf"}
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|「[^」]*」|b'[^']*'")
_PATH = re.compile(r"(?:[\w.-]*/)+[\w.-]*|[\w-]+\.\w+")


def assert_chinese(message: str) -> None:
    assert re.search(r"[\u4e00-\u9fff]", message), f"no Chinese in: {message}"
    rest = _PATH.sub(" ", _QUOTED.sub(" ", message))
    words = [w for w in re.findall(r"[A-Za-z_][A-Za-z_0-9]{2,}", rest) if w not in KEEP]
    assert not words, f"English words {words} in: {message}"
