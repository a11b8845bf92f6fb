"""Grid files (网格图层): import and export of unit grids for planners' GIS tools.

``import_grids`` reads GeoJSON, GeoPackage or Shapefile (pyogrio), converts to WGS-84, checks
every feature and lists every problem with the feature it concerns; only a clean file is
written, in the caller's one transaction, so nothing is ever half-imported. An existing grid is
redrawn by closing its current boundary version and adding a new one (history is never
overwritten); then open cases are re-assigned with the database's rule.

``export_grids`` writes the current unit grids as a WGS-84 GeoJSON FeatureCollection with their
codes, names, version and parent areas; it reads back through ``import_grids`` unchanged.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.config import STORAGE_SRID
from gis import codes
from gis.crs import BD09, GCJ02, STORAGE_CRS, WGS84, CoordinateError, canonical, to_wgs84_many

CODE_COLUMNS = ("code", "grid_code", "网格编码", "编码")
NAME_COLUMNS = ("name", "grid_name", "网格名称", "名称")
# Overlaps (and gaps) smaller than this are noise from reprojection or GCJ-02 conversion (vertices
# moved by a fraction of a millimetre along a kilometre of edge), not a drawing error.
OVERLAP_TOLERANCE_M2 = 1.0


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a grid file; ``feature`` is 1-based, 0 for the file as a whole."""
    feature: int
    code: str | None
    message: str

    def __str__(self) -> str:
        where = "file" if self.feature == 0 else f"feature {self.feature}" + (f" ({self.code})" if self.code else "")
        return f"{where}: {self.message}"


class GridImportError(ValueError):
    """A grid file that cannot be imported; ``problems`` lists everything found."""

    def __init__(self, path: str | Path, problems: list[Problem]):
        self.path, self.problems = str(path), problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s), nothing was imported:\n{lines}")


@dataclass
class GridFeature:
    feature: int
    code: str
    name: str
    geom: shapely.Polygon


@dataclass
class ImportResult:
    features: int = 0
    created: int = 0
    redrawn: int = 0
    renamed: int = 0
    cases_moved: int = 0
    change_id: int | None = None
    warnings: list[str] = field(default_factory=list)


# --- reading and checking a file --------------------------------------------------------------

def read_grid_file(path: str | Path, *, crs: str | None = None, layer: str | None = None) -> list[GridFeature]:
    """The features of a grid file in WGS-84, checked on their own (not against the database).

    Raises GridImportError listing every problem found.
    """
    features, problems, _ = _read(path, crs, layer)
    if problems:
        raise GridImportError(path, problems)
    return features


MAX_FEATURES = 100_000  # a district has about a thousand unit grids; a city a few tens of thousands


def max_file_bytes() -> int:
    """The largest grid file accepted (default 200 MiB; ``GRIDGOV_MAX_GRID_FILE_MB``)."""
    import os

    return int(float(os.environ.get("GRIDGOV_MAX_GRID_FILE_MB", "200")) * 2**20)


def _read(path: str | Path, crs: str | None, layer: str | None) -> tuple[list[GridFeature], list[Problem], set[str]]:
    """The good features of a file, every problem of the others (a file-level problem, with
    feature 0, means no feature could be read), and every well-formed code in the file."""
    import pyogrio

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such grid file: {path}")
    size = sum(f.stat().st_size for f in path.parent.glob(path.stem + ".*")) if path.suffix.lower() == ".shp" \
        else path.stat().st_size
    if size > max_file_bytes():
        return [], [Problem(0, None, f"the file is {size / 2**20:.1f} MiB, more than the "
                                     f"{max_file_bytes() / 2**20:.0f} MiB a grid layer may be "
                                     "(set GRIDGOV_MAX_GRID_FILE_MB to allow more)")], set()
    try:
        layers = pyogrio.list_layers(path)
        info = pyogrio.read_info(path, layer=layer if layer is not None else 0) if len(layers) else {}
        if info and info.get("features", 0) > MAX_FEATURES:
            return [], [Problem(0, None, f"the layer has {info['features']:,} features, more than the "
                                         f"{MAX_FEATURES:,} unit grids one import may hold")], set()
        if layer is None and len(layers) > 1:
            return [], [Problem(0, None, f"the file has {len(layers)} layers "
                                         f"({', '.join(str(n) for n in layers[:, 0])}); choose one with --layer")], set()
        df = pyogrio.read_dataframe(path, layer=layer)
    except Exception as e:  # pyogrio raises several DataSource/Field errors
        return [], [Problem(0, None, f"cannot be read as GeoJSON, GeoPackage or Shapefile: {e}")], set()

    problems: list[Problem] = []
    cols = {str(c).strip().lower(): c for c in df.columns if c != "geometry"}
    code_col = next((cols[c] for c in CODE_COLUMNS if c in cols), None)
    name_col = next((cols[c] for c in NAME_COLUMNS if c in cols), None)
    if code_col is None:
        problems.append(Problem(0, None, f"no grid code attribute (one of {', '.join(CODE_COLUMNS)})"))
    if name_col is None:
        problems.append(Problem(0, None, f"no grid name attribute (one of {', '.join(NAME_COLUMNS)})"))
    source = _source_crs(df.crs, crs, problems)
    if problems:
        return [], problems, set()

    out: list[GridFeature] = []
    first_use: dict[str, int] = {}
    geoms = list(df.geometry)
    wgs = _to_wgs84(geoms, source, problems)
    for k, (raw_code, raw_name, original, converted) in enumerate(
            zip(df[code_col], df[name_col], geoms, wgs), start=1):
        code, msg = _code(raw_code)
        if msg:
            problems.append(Problem(k, code, msg))
        elif code in first_use:
            problems.append(Problem(k, code, f"duplicate grid code: also used by feature {first_use[code]}"))
        else:
            first_use[code] = k
        name = "" if raw_name is None or (isinstance(raw_name, float) and math.isnan(raw_name)) else str(raw_name).strip()
        if not name:
            problems.append(Problem(k, code, "missing grid name"))
        geom, gmsg = _polygon(original, converted)
        if gmsg:
            problems.append(Problem(k, code, gmsg))
        if not msg and name and geom is not None:
            out.append(GridFeature(k, code, name, geom))
    problems += _overlaps_within(out)
    return out, problems, set(first_use)


def _source_crs(file_crs, given: str | None, problems: list[Problem]) -> str | None:
    """The system the coordinates are in: --crs if given, else the file's own."""
    file_name = None
    if file_crs is not None:
        epsg = file_crs.to_epsg()
        file_name = f"EPSG:{epsg}" if epsg else file_crs.to_wkt()
    if given:
        try:
            given_c = canonical(given)
        except CoordinateError as e:
            problems.append(Problem(0, None, str(e)))
            return None
        # GeoJSON always reads as WGS-84 (STORAGE_CRS), so --crs may say what it really is (e.g. GCJ02);
        # a file that declares some other system and a --crs that disagrees is a conflict.
        if file_name and file_name != STORAGE_CRS and _canonical_or_none(file_name) != given_c:
            problems.append(Problem(0, None, f"the file says its coordinates are in {file_name} but --crs says {given}"))
            return None
        return given_c
    if file_crs is None:
        problems.append(Problem(0, None, "the file has no coordinate system (e.g. a Shapefile without .prj); "
                                         "say which with --crs (WGS84, GCJ02, BD09 or EPSG:<code>)"))
        return None
    if file_name.startswith("EPSG:"):
        return canonical(file_name)
    return file_crs.to_wkt()


def _canonical_or_none(name: str) -> str | None:
    try:
        return canonical(name)
    except CoordinateError:
        return None


def _to_wgs84(geoms: list, source: str, problems: list[Problem]) -> list:
    """Each geometry converted to WGS-84 (None where it cannot be, with a problem noted)."""
    out = []
    for k, g in enumerate(geoms, start=1):
        if g is None or g.is_empty:
            out.append(None)
            continue
        g = shapely.force_2d(g)
        try:
            out.append(_convert(g, source))
        except CoordinateError as e:
            problems.append(Problem(k, None, f"cannot be converted to WGS-84: {e}"))
            out.append(None)
    return out


def _convert(g, source: str):
    if source == WGS84:
        xs, ys = shapely.get_coordinates(g).T
        to_wgs84_many(xs[:1], ys[:1], WGS84)  # range and swapped-order check on one vertex
        bad = (np.abs(xs) > 180) | (np.abs(ys) > 90)
        if bad.any():
            raise CoordinateError(f"vertex ({xs[bad][0]}, {ys[bad][0]}) is out of range for WGS84")
        return g
    if source in (GCJ02, BD09) or source.startswith("EPSG:"):
        return shapely.transform(g, lambda c: np.column_stack(to_wgs84_many(c[:, 0], c[:, 1], source)))
    from pyproj import Transformer

    tr = Transformer.from_crs(source, STORAGE_CRS, always_xy=True)
    return shapely.transform(g, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))


def _code(raw) -> tuple[str | None, str | None]:
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None, "missing grid code"
    if isinstance(raw, (int, np.integer)) or (isinstance(raw, float) and raw.is_integer()):
        raw = str(int(raw))
    code = str(raw).strip()
    try:
        codes.parse(code)
    except ValueError as e:
        return code, str(e)
    return code, None


def _polygon(original, geom) -> tuple[shapely.Polygon | None, str | None]:
    if original is None or original.is_empty:
        return None, "no geometry"
    kind = original.geom_type
    if kind == "MultiPolygon":
        if len(original.geoms) != 1:
            return None, f"a MultiPolygon of {len(original.geoms)} parts: a unit grid is one polygon"
        kind = "Polygon"
    if kind != "Polygon":
        return None, f"a {original.geom_type}, not a polygon"
    if geom is None:
        return None, None  # the conversion problem is already listed
    if geom.geom_type == "MultiPolygon":
        geom = geom.geoms[0]
    if not geom.is_valid:
        return None, f"invalid geometry: {shapely.is_valid_reason(geom)}"
    return geom, None


def _m2_per_deg2(lat: float) -> float:
    return 111320.0 * math.cos(math.radians(lat)) * 110574.0


def _overlaps_within(features: list[GridFeature]) -> list[Problem]:
    """Pairs of features of the file whose interiors overlap (beyond floating-point noise)."""
    if len(features) < 2:
        return []
    geoms = [f.geom for f in features]
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    out = []
    for i, j in zip(a.tolist(), b.tolist()):
        if i < j and shapely.relate_pattern(geoms[i], geoms[j], "2********"):
            area = shapely.intersection(geoms[i], geoms[j]).area * _m2_per_deg2(geoms[i].centroid.y)
            if area > OVERLAP_TOLERANCE_M2:
                fi, fj = features[i], features[j]
                out.append(Problem(fj.feature, fj.code,
                                   f"overlaps feature {fi.feature} ({fi.code}) by {area:.2f} m²"))
    return out


# --- importing --------------------------------------------------------------------------------

def import_grids(conn: Connection, path: str | Path, *, crs: str | None = None, layer: str | None = None,
                 actor_id: int | None = None) -> ImportResult:
    """Import a grid file in the caller's transaction; all or nothing.

    Raises GridImportError (nothing written) listing every problem, each with its feature.
    """
    features, problems, file_codes = _read(path, crs, layer)
    if not features and not problems:
        problems = [Problem(0, None, "the file has no features")]
    if any(p.feature == 0 for p in problems) or not features:
        raise GridImportError(path, problems)
    conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS _grid_import (feature int, code text, name text, "
                      f"community_code text, geom geometry(Polygon, {STORAGE_SRID})) ON COMMIT DROP"))
    conn.execute(text("TRUNCATE _grid_import"))
    conn.execute(text(
        f"INSERT INTO _grid_import SELECT x.f, x.c, x.n, left(x.c, :w), ST_GeomFromWKB(decode(x.g, 'hex'), {STORAGE_SRID}) "
        "FROM unnest(CAST(:f AS int[]), CAST(:c AS text[]), CAST(:n AS text[]), CAST(:g AS text[])) AS x(f, c, n, g)"),
        {"w": codes.width("community"), "f": [f.feature for f in features], "c": [f.code for f in features],
         "n": [f.name for f in features], "g": shapely.to_wkb([f.geom for f in features], hex=True).tolist()})
    conn.execute(text("CREATE INDEX ON _grid_import USING gist (geom)"))
    conn.execute(text("ANALYZE _grid_import"))
    problems += _problems_against_database(conn, file_codes)
    if problems:
        conn.execute(text("DROP TABLE _grid_import"))
        raise GridImportError(path, sorted(problems, key=lambda p: (p.feature, p.message)))
    result = _write(conn, Path(path).name, actor_id)
    result.features = len(features)
    conn.execute(text("DROP TABLE _grid_import"))
    return result


def _problems_against_database(conn: Connection, file_codes: set[str]) -> list[Problem]:
    problems = [Problem(r.feature, r.code, f"community {r.community_code} (the code's prefix) does not exist")
                for r in conn.execute(text(
                    "SELECT i.feature, i.code, i.community_code FROM _grid_import i "
                    "LEFT JOIN community c ON c.code = i.community_code WHERE c.id IS NULL ORDER BY i.feature"))]
    # overlaps with current grids that this file does not redraw
    rows = conn.execute(text("""
        SELECT i.feature, i.code, g.code AS other,
               ST_Area(ST_Intersection(i.geom, gv.geom)::geography) AS m2
        FROM _grid_import i
        JOIN grid_version gv ON gv.valid_to IS NULL AND ST_Intersects(gv.geom, i.geom)
        JOIN unit_grid g ON g.id = gv.grid_id
        WHERE g.code <> ALL(:file_codes) AND ST_Relate(gv.geom, i.geom, '2********')
        ORDER BY i.feature, g.code"""), {"file_codes": sorted(file_codes)})
    problems += [Problem(r.feature, r.code, f"overlaps current grid {r.other} by {r.m2:.2f} m²")
                 for r in rows if r.m2 > OVERLAP_TOLERANCE_M2]
    return sorted(problems, key=lambda p: (p.feature, p.message))


def _write(conn: Connection, source: str, actor_id: int | None) -> ImportResult:
    res = ImportResult()
    at = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    uncovered = conn.execute(text("""
        SELECT ST_Area(ST_Difference(ST_Union(gv.geom), (SELECT ST_Union(geom) FROM _grid_import))::geography)
        FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id JOIN _grid_import i ON i.code = g.code
        WHERE gv.valid_to IS NULL""")).scalar()
    if uncovered and uncovered > OVERLAP_TOLERANCE_M2:
        res.warnings.append(f"the redrawn grids leave {uncovered:.2f} m² uncovered that was covered before: "
                            "reports there will be outside the jurisdiction until another grid covers it")
    res.change_id = conn.execute(text(
        "INSERT INTO boundary_change(kind, note, created_by, created_at) VALUES ('import', :n, :a, :t) RETURNING id"),
        {"n": f"import-grids {source}", "a": actor_id, "t": at}).scalar_one()
    res.renamed = conn.execute(text(
        "UPDATE unit_grid g SET name = i.name FROM _grid_import i WHERE g.code = i.code AND g.name <> i.name")).rowcount
    res.created = conn.execute(text(
        "INSERT INTO unit_grid(community_id, code, name, created_at) "
        "SELECT c.id, i.code, i.name, :t FROM _grid_import i JOIN community c ON c.code = i.community_code "
        "WHERE NOT EXISTS (SELECT 1 FROM unit_grid g WHERE g.code = i.code) ORDER BY i.code"), {"t": at}).rowcount
    conn.execute(text(
        "UPDATE grid_version gv SET valid_to = :t FROM unit_grid g JOIN _grid_import i ON i.code = g.code "
        "WHERE gv.grid_id = g.id AND gv.valid_to IS NULL"), {"t": at})
    inserted = conn.execute(text("""
        INSERT INTO grid_version(grid_id, version_no, geom, valid_from, change_id)
        SELECT g.id, COALESCE((SELECT max(version_no) FROM grid_version v WHERE v.grid_id = g.id), 0) + 1,
               i.geom, :t, :chg
        FROM _grid_import i JOIN unit_grid g ON g.code = i.code ORDER BY i.code"""),
        {"t": at, "chg": res.change_id}).rowcount
    res.redrawn = inserted - res.created
    conn.execute(text("UPDATE unit_grid g SET retired_at = NULL FROM _grid_import i "
                      "WHERE g.code = i.code AND g.retired_at IS NOT NULL"))
    affected = [r[0] for r in conn.execute(text(
        "SELECT DISTINCT c.id FROM _grid_import i JOIN community c ON c.code = i.community_code"))]
    refresh_area_geoms(conn, community_ids=affected)
    from gis.assign import reassign_cases

    res.cases_moved = reassign_cases(conn)
    return res


def refresh_area_geoms(conn: Connection, *, district_code: str | None = None,
                       community_ids: list[int] | None = None) -> None:
    """Set community, subdistrict and district polygons to the unions of their current grids.

    Either every area of ``district_code`` or the given communities and their parents.
    """
    if district_code is not None:
        community_ids = [r[0] for r in conn.execute(text(
            "SELECT c.id FROM community c JOIN subdistrict s ON s.id = c.subdistrict_id "
            "JOIN district d ON d.id = s.district_id WHERE d.code = :d"), {"d": district_code})]
    if not community_ids:
        return
    conn.execute(text("""
        UPDATE community c SET geom = u.geom FROM (
            SELECT g.community_id, ST_Multi(ST_Union(gv.geom)) AS geom
            FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
            WHERE g.community_id = ANY(:ids) GROUP BY g.community_id) u
        WHERE c.id = u.community_id"""), {"ids": community_ids})
    conn.execute(text("""
        UPDATE subdistrict s SET geom = u.geom FROM (
            SELECT c.subdistrict_id, ST_Multi(ST_Union(gv.geom)) AS geom
            FROM community c JOIN unit_grid g ON g.community_id = c.id
            JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
            WHERE c.subdistrict_id IN (SELECT subdistrict_id FROM community WHERE id = ANY(:ids))
            GROUP BY c.subdistrict_id) u
        WHERE s.id = u.subdistrict_id"""), {"ids": community_ids})
    conn.execute(text("""
        UPDATE district d SET geom = u.geom FROM (
            SELECT s.district_id, ST_Multi(ST_Union(gv.geom)) AS geom
            FROM subdistrict s JOIN community c ON c.subdistrict_id = s.id
            JOIN unit_grid g ON g.community_id = c.id
            JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
            WHERE s.district_id IN (SELECT s2.district_id FROM subdistrict s2 JOIN community c2
                                    ON c2.subdistrict_id = s2.id WHERE c2.id = ANY(:ids))
            GROUP BY s.district_id) u
        WHERE d.id = u.district_id"""), {"ids": community_ids})


# --- exporting --------------------------------------------------------------------------------

EXPORT_SQL = """
SELECT g.code, g.name, gv.version_no AS version, gv.valid_from,
       c.code AS community_code, c.name AS community_name, c.kind AS community_kind,
       s.code AS subdistrict_code, s.name AS subdistrict_name,
       d.code AS district_code, d.name AS district_name,
       r.code AS responsibility_code, r.name AS responsibility_name,
       ST_AsBinary(gv.geom) AS wkb
FROM unit_grid g
JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
JOIN community c ON c.id = g.community_id
JOIN subdistrict s ON s.id = c.subdistrict_id
JOIN district d ON d.id = s.district_id
LEFT JOIN responsibility_grid r ON r.id = g.responsibility_grid_id
{where}
ORDER BY g.code
"""


def export_grids(conn: Connection, out: str | Path, *, district_code: str | None = None) -> int:
    """Write the current unit grids to ``out`` as a GeoJSON FeatureCollection (WGS-84, RFC 7946
    axis order lon, lat; coordinates written exactly, so shared edges stay identical)."""
    where = "WHERE d.code = :d" if district_code else ""
    rows = conn.execute(text(EXPORT_SQL.format(where=where)), {"d": district_code}).mappings().all()
    features = []
    for r in rows:
        props = {k: v for k, v in r.items() if k != "wkb"}
        props["valid_from"] = r["valid_from"].isoformat()
        features.append({"type": "Feature", "properties": props,
                         "geometry": mapping(shapely.from_wkb(bytes(r["wkb"])))})
    doc = {"type": "FeatureCollection", "name": "unit_grids", "features": features}
    Path(out).write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return len(features)
