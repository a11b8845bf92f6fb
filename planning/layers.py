"""Reference layers (参考图层) kept per draft: roads, buildings or any GeoJSON, GeoPackage or zipped
Shapefile a planner loads to draw grids against. They lie under the grids in the editor, are
listed, shown or hidden, removed, and go when the draft is deleted (migration 0015: the rows are
keyed by the draft, ``ON DELETE CASCADE``). They never change a grid.

A file passes the same entry checks as a grid file (``gis.io.check_grid_file``: a local regular
file, its kind read from its first bytes, its size capped, a zip checked member by member before
it is unpacked), GDAL reads it only as GeoJSON, GeoPackage or Shapefile, its coordinate system
is the one declared (``crs``, required for GeoJSON, which states no datum in practice) or read
from the file, and GCJ-02/BD-09 go through ``gis.crs``. A layer is stored as PostGIS geometries
in WGS-84, one row per feature with its attributes cut to a few short values.

Every function takes a SQLAlchemy Connection first and works in the caller's transaction; every
refusal is an ``EditError`` (zh + en) naming what was wrong, with nothing written.
"""
from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.text import in_lang
from gis.io import (ALLOWED_DRIVERS, GridFileRefused, Problem, _extract_shapefile_zip, _source_crs, _to_wgs84,
                    check_grid_file)
from planning.errors import DraftClosed, DraftNotFound, EditError

# A layer is something to look at under a district's grids, not a city's whole road network:
# beyond these, clip the file to the district in a GIS tool first.
MAX_FEATURES = 10_000
MAX_VERTICES = 200_000
MAX_LAYERS = 10  # per draft
MAX_PROPERTIES = 12  # attributes kept per feature (shown on hover)
MAX_VALUE_CHARS = 200
# What goes to the browser on every rerun: a layer with more vertices than this is simplified for
# display (``ST_SimplifyPreserveTopology``, the smallest of these tolerances that fits, or the one
# after which a larger tolerance gains little: small polygons keep their corners), never in storage.
DISPLAY_MAX_VERTICES = 30_000
SIMPLIFY_STEPS_M = (1.0, 3.0, 10.0, 30.0, 100.0)
M_PER_DEG = 111_320.0  # at the equator; the tolerance is a display matter, latitude is not worth it


@dataclass(frozen=True)
class ReferenceLayer:
    id: int
    draft_id: int
    name: str
    source: str  # the file's own name
    crs: str  # the system it was read in
    n_features: int
    n_vertices: int
    shown: bool
    created_by: str | None  # the planner's full name
    created_at: datetime


def _refused(why_en: str, why_zh: str | None = None) -> EditError:
    return EditError(f"参考图层未载入：{why_zh or why_en}", f"the reference layer was not loaded: {why_en}")


def _open_draft(conn: Connection, draft_id: int) -> int:
    """The draft's id once it exists and is open; its row is locked until the transaction ends,
    so two planners adding layers to one draft take turns (the per-draft cap holds)."""
    try:
        draft_id = int(draft_id)
    except (TypeError, ValueError):
        raise DraftNotFound(draft_id) from None
    status = conn.execute(text("SELECT status FROM boundary_draft WHERE id = :d FOR UPDATE"),
                          {"d": draft_id}).scalar_one_or_none()
    if status is None:
        raise DraftNotFound(draft_id)
    if status != "open":
        raise DraftClosed(draft_id, status)
    return draft_id


# --- reading a file ---------------------------------------------------------------------------------

def read_reference_file(path: str | Path, *, crs: str | None = None, layer: str | None = None,
                        encoding: str | None = None) -> tuple[list, list[dict], str]:
    """The geometries (shapely, WGS-84, 2-D), their attributes and the system the file was read
    in. Raises EditError for a file that is refused or cannot be read, or is over the caps."""
    try:
        kind, local = check_grid_file(path)
    except GridFileRefused as e:
        raise _refused(str(e), in_lang(e, "zh")) from None
    if kind != "zip":
        return _read_local(local, path, crs, layer, encoding)
    with tempfile.TemporaryDirectory(prefix="gridgov-reference-") as tmp:
        try:
            inner = _extract_shapefile_zip(local, Path(tmp))
        except GridFileRefused as e:
            raise _refused(str(e), in_lang(e, "zh")) from None
        return _read_local(inner, path, crs, layer, encoding)


def _read_local(path: Path, shown: str | Path, crs: str | None, layer: str | None,
                encoding: str | None) -> tuple[list, list[dict], str]:
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
        if layer is None and len(layers) > 1:
            names = ", ".join(str(n) for n in layers[:, 0])
            raise _refused(f"the file has {len(layers)} layers ({names}): choose one",
                           f"文件有 {len(layers)} 个图层（{names}），请选择一个")
        info = pyogrio.read_info(path, layer=layer if layer is not None else 0, encoding=encoding)
        if info.get("driver") not in ALLOWED_DRIVERS:
            raise _refused(f"GDAL read it as {info.get('driver')}; only GeoJSON, GeoPackage and Shapefile are accepted",
                           f"GDAL 把它读成 {info.get('driver')}；只接受 GeoJSON、GeoPackage 和 Shapefile")
        if info.get("features", 0) > MAX_FEATURES:
            raise _refused(f"the layer has {info['features']:,} features, more than the {MAX_FEATURES:,} a reference "
                           "layer may have: clip it to the district in a GIS tool first",
                           f"图层有 {info['features']:,} 个要素，超过参考图层上限 {MAX_FEATURES:,}：请先在 GIS 软件中按本区裁剪")
        df = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except EditError:
        raise
    except (UnicodeDecodeError, LookupError) as e:
        raise _refused(f"its text cannot be read as {encoding or 'the encoding it declares'} ({e}): "
                       "name the encoding (e.g. GBK)", f"文字无法按 {encoding or '文件声明的编码'} 读取，请指定编码（如 GBK）") from None
    except Exception as e:  # pyogrio raises several DataSource/Field errors
        raise _refused(f"cannot be read as GeoJSON, GeoPackage or Shapefile: {e}",
                       f"不能按 GeoJSON、GeoPackage 或 Shapefile 读取：{e}") from None
    problems: list[Problem] = []
    geojson = info.get("driver") == "GeoJSON" or Path(str(shown)).suffix.lower() in (".geojson", ".json")
    source = _source_crs(df.crs, crs, problems, geojson=geojson)
    if problems:
        zh = ("GeoJSON 文件不声明坐标系，请选择坐标系（WGS84、GCJ02、BD09 或 EPSG:代码）"
              if geojson and not crs else in_lang(problems[0].message, "zh"))
        raise _refused(problems[0].message, zh)
    geoms = list(df.geometry)
    wgs = _to_wgs84([shapely.force_2d(g) if g is not None else None for g in geoms], source, problems)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        more_zh = f"（另有 {len(problems) - 1} 处）" if len(problems) > 1 else ""
        raise _refused(f"feature {problems[0].feature}: {problems[0].message}{more}",
                       f"{problems[0].text('zh')}{more_zh}")
    cols = [c for c in df.columns if c != "geometry"]
    keep, props = [], []
    for i, g in enumerate(wgs):
        if g is None or g.is_empty:
            continue  # a feature without geometry has nothing to show
        keep.append(g)
        props.append(_properties({c: df[c].iloc[i] for c in cols}))
    if not keep:
        raise _refused("the file has no feature with a geometry", "文件中没有带几何的要素")
    return keep, props, source


def _properties(row: dict) -> dict:
    """At most MAX_PROPERTIES attributes, each value a short string, number, boolean or null."""
    out = {}
    for k, v in list(row.items())[:MAX_PROPERTIES]:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            v = None
        elif hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        elif isinstance(v, (datetime, date)):
            v = v.isoformat()
        elif not isinstance(v, (int, float, bool, type(None))):
            v = str(v)[:MAX_VALUE_CHARS]
        out[str(k)[:MAX_VALUE_CHARS]] = v
    return out


# --- the layers of a draft ----------------------------------------------------------------------------

def load_layer(conn: Connection, draft_id: int, path: str | Path, *, actor_id: int | None, name: str | None = None,
               crs: str | None = None, layer: str | None = None, encoding: str | None = None,
               source: str | None = None) -> ReferenceLayer:
    """Read a file and keep it as a reference layer of the open draft (shown); ``name`` defaults
    to the file's name without its extension, ``source`` (the name shown) to the path's name."""
    draft_id = _open_draft(conn, draft_id)
    source = (source or Path(str(path)).name)[:300]
    name = (name or Path(source).stem or "").strip()
    if not 1 <= len(name) <= 200:
        raise _refused("a layer needs a name of 1–200 characters", "图层名称须为 1–200 个字符")
    taken = conn.execute(text("SELECT name FROM draft_reference_layer WHERE draft_id = :d"), {"d": draft_id}).scalars().all()
    if name in taken:
        raise _refused(f"the draft already has a layer named {name!r}: remove it first or choose another name",
                       f"草稿中已有名为「{name}」的图层：请先移除或换一个名称")
    if len(taken) >= MAX_LAYERS:
        raise _refused(f"the draft already has {len(taken)} layers, the most it may have: remove one first",
                       f"草稿已有 {len(taken)} 个参考图层（上限）：请先移除一个")
    geoms, props, read_in = read_reference_file(path, crs=crs, layer=layer, encoding=encoding)
    n_vertices = int(shapely.get_num_coordinates(geoms).sum())
    if n_vertices > MAX_VERTICES:
        raise _refused(f"the layer has {n_vertices:,} vertices, more than the {MAX_VERTICES:,} a reference layer may "
                       "have: simplify it or clip it to the district in a GIS tool first",
                       f"图层有 {n_vertices:,} 个顶点，超过参考图层上限 {MAX_VERTICES:,}：请先在 GIS 软件中简化或裁剪")
    layer_id = conn.execute(text("""
        INSERT INTO draft_reference_layer(draft_id, name, source, crs, n_features, n_vertices, created_by)
        VALUES (:d, :n, :s, :c, :f, :v, :a) RETURNING id"""),
        {"d": draft_id, "n": name, "s": source, "c": read_in, "f": len(geoms), "v": n_vertices,
         "a": actor_id}).scalar_one()
    # one statement over arrays: an executemany would cost a round trip per feature
    conn.execute(text("""
        INSERT INTO draft_reference_feature(layer_id, seq, geom, properties)
        SELECT :l, t.seq, ST_GeomFromWKB(decode(t.wkb, 'hex'), 4326), CAST(t.props AS jsonb)
        FROM unnest(CAST(:w AS text[]), CAST(:p AS text[])) WITH ORDINALITY AS t(wkb, props, seq)"""),
        {"l": layer_id, "w": [str(w) for w in shapely.to_wkb(geoms, hex=True)],
         "p": [json.dumps(p, ensure_ascii=False) for p in props]})
    return next(r for r in list_layers(conn, draft_id) if r.id == layer_id)


def list_layers(conn: Connection, draft_id: int) -> list[ReferenceLayer]:
    """The draft's reference layers, in the order they were loaded."""
    rows = conn.execute(text("""
        SELECT l.id, l.draft_id, l.name, l.source, l.crs, l.n_features, l.n_vertices, l.shown,
               p.full_name AS created_by, l.created_at
        FROM draft_reference_layer l LEFT JOIN person p ON p.id = l.created_by
        WHERE l.draft_id = :d ORDER BY l.id"""), {"d": draft_id}).mappings().all()
    return [ReferenceLayer(**r) for r in rows]


def _layer_of(conn: Connection, draft_id: int, layer_id: int) -> int:
    found = conn.execute(text("SELECT id FROM draft_reference_layer WHERE id = :l AND draft_id = :d"),
                         {"l": layer_id, "d": draft_id}).scalar_one_or_none()
    if found is None:
        raise EditError(f"草稿 {draft_id} 没有参考图层 {layer_id}", f"draft {draft_id} has no reference layer {layer_id}")
    return found


def set_shown(conn: Connection, draft_id: int, layer_id: int, shown: bool) -> None:
    """Show or hide a layer under the grids (kept with the draft, for every planner)."""
    _layer_of(conn, _open_draft(conn, draft_id), layer_id)
    conn.execute(text("UPDATE draft_reference_layer SET shown = :s WHERE id = :l"), {"s": bool(shown), "l": layer_id})


def remove_layer(conn: Connection, draft_id: int, layer_id: int) -> None:
    """Remove a layer and its features from the draft."""
    _layer_of(conn, _open_draft(conn, draft_id), layer_id)
    conn.execute(text("DELETE FROM draft_reference_layer WHERE id = :l"), {"l": layer_id})


def layer_geojson(conn: Connection, layer_id: int, *, max_vertices: int = DISPLAY_MAX_VERTICES) -> dict:
    """A layer as a FeatureCollection for the map (6 decimals, about 0.1 m), simplified for
    display when it has more than ``max_vertices`` vertices: ``simplified_m`` says by how much
    (0: not at all). A layer's rows never change once loaded, so callers may cache this by id."""
    n = conn.execute(text("SELECT n_vertices FROM draft_reference_layer WHERE id = :l"),
                     {"l": layer_id}).scalar_one_or_none()
    if n is None:
        raise EditError(f"参考图层 {layer_id} 不存在", f"no reference layer {layer_id}")
    tolerance_m, before = 0.0, n
    if n > max_vertices:
        for step in SIMPLIFY_STEPS_M:
            left = conn.execute(text("SELECT sum(ST_NPoints(ST_SimplifyPreserveTopology(geom, :t))) "
                                     "FROM draft_reference_feature WHERE layer_id = :l"),
                                {"l": layer_id, "t": step / M_PER_DEG}).scalar_one()
            if left > 0.9 * before:  # little gained (e.g. buildings: four corners each): stop here
                break
            tolerance_m, before = step, left
            if left <= max_vertices:
                break
    rows = conn.execute(text("""
        SELECT ST_AsGeoJSON(CASE WHEN :t > 0 THEN ST_SimplifyPreserveTopology(geom, :t) ELSE geom END, 6) AS g,
               properties
        FROM draft_reference_feature WHERE layer_id = :l ORDER BY seq"""),
        {"l": layer_id, "t": tolerance_m / M_PER_DEG}).all()
    return {"type": "FeatureCollection", "simplified_m": tolerance_m,
            "features": [{"type": "Feature", "geometry": json.loads(r.g), "properties": r.properties} for r in rows]}
