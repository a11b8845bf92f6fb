"""Point → unit grid (落格), the one rule, defined in the database.

The rule lives in SQL (``grid_at_point`` and the ``cases_assign_grid`` trigger, migration 0001):
a point belongs to the *current* unit grid whose polygon covers it, boundary included; a point on
an edge or vertex shared by several grids goes to the grid with the lowest code. A point covered
by no grid is outside the jurisdiction: stored, flagged, queued, never snapped.

This module holds the set-based form of the same rule for many points at once, and an in-memory
form (geopandas) that tests prove agrees with the database on boundary points.
"""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.config import STORAGE_SRID

# The fast orientation (docs/measurements.md): polygons as the outer loop of the join, the GiST
# index on the points as the inner one, so each prepared polygon is reused for its points.
# The current grids with their codes and parents are joined first (a 1,035-row subquery), and the
# point test is ST_Intersects: for a point, intersects and covers are the same predicate (inside or
# on the boundary: PostGIS runs the same point-in-polygon test for both), but with ST_Covers the
# planner turns the join round (points outer, ~2x slower at 1M points, bench/join.py).
# DISTINCT ON … ORDER BY code applies the lowest-code tie-break for shared edges/vertices.
BULK_ASSIGN_SQL = """
SELECT DISTINCT ON (p.{id_col}) p.{id_col} AS point_id, gg.grid_version_id, gg.grid_id, gg.grid_code,
       gg.community_id, gg.subdistrict_id
FROM (SELECT gv.id AS grid_version_id, gv.geom, g.id AS grid_id, g.code AS grid_code,
             g.community_id, c.subdistrict_id
      FROM grid_version gv
      JOIN unit_grid g ON g.id = gv.grid_id
      JOIN community c ON c.id = g.community_id
      WHERE gv.valid_to IS NULL) gg
JOIN {points} p ON ST_Intersects(gg.geom, p.{geom_col})
ORDER BY p.{id_col}, gg.grid_code
"""

_IDENT = set("abcdefghijklmnopqrstuvwxyz0123456789_.")


def _ident(name: str) -> str:
    if not name or set(name.lower()) - _IDENT:
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def bulk_assign_sql(points: str, id_col: str = "id", geom_col: str = "geom") -> str:
    """The bulk statement over relation ``points(id_col, geom_col)``: one row per point inside."""
    return BULK_ASSIGN_SQL.format(points=_ident(points), id_col=_ident(id_col), geom_col=_ident(geom_col))


def reassign_cases(conn: Connection, *, at=None, actor_id: int | None = None, change_id: int | None = None,
                   grid_ids: list[int] | None = None) -> int:
    """Re-derive the responsible grid of open cases from the current boundaries, in one statement.

    The SQL function ``reassign_open_cases`` (migration 0007) is this rule in bulk (polygons as
    the outer loop, lowest code on shared edges): each moved case gets a ``regrid`` event in its
    log, naming the change, and its version is bumped. ``grid_ids`` limits it to the points inside
    those current grids (None: every open case). The report-time stamp
    (``reported_grid_version_id``) is not touched. Returns how many cases moved. Cases that now
    fall outside every grid keep their last responsible grid and are counted by
    ``cases_left_without_grid`` for a person to look at.
    """
    return conn.execute(text(
        "SELECT reassign_open_cases(COALESCE(CAST(:at AS timestamptz), clock_timestamp()), :actor, :change, "
        "CAST(:grids AS integer[]))"),
        {"at": at, "actor": actor_id, "change": change_id, "grids": grid_ids}).scalar_one()


def grids_at_points(conn: Connection, points: list[tuple[object, float, float]]) -> dict[object, str | None]:
    """Grid code for each ``(id, lon, lat)`` in WGS-84 by the database's rule; None outside."""
    if not points:
        return {}
    conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS _assign_in (id text, geom geometry(Point, {STORAGE_SRID})) ON COMMIT DROP"))
    conn.execute(text("TRUNCATE _assign_in"))
    conn.execute(
        text(f"INSERT INTO _assign_in SELECT :id, ST_SetSRID(ST_MakePoint(:lon, :lat), {STORAGE_SRID})"),
        [{"id": str(i), "lon": lon, "lat": lat} for i, lon, lat in points],
    )
    conn.execute(text("CREATE INDEX ON _assign_in USING gist (geom)"))
    conn.execute(text("ANALYZE _assign_in"))
    rows = conn.execute(text(bulk_assign_sql("_assign_in"))).all()
    found = {r.point_id: r.grid_code for r in rows}
    out = {i: found.get(str(i)) for i, _, _ in points}
    conn.execute(text("DROP TABLE _assign_in"))
    return out


def assign_in_memory(points: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, code_col: str = "code") -> pd.Series:
    """The same rule in memory: for each point, the covering grid with the lowest code.

    ``grids`` are the current unit grids (one polygon each). Returns a Series aligned with
    ``points.index`` holding the grid code, or None outside every grid.
    """
    if points.crs != grids.crs:
        raise ValueError(f"points are in {points.crs}, grids in {grids.crs}: convert one first")
    # 'covered_by' (not 'within') so that a point on a boundary matches every grid it touches.
    joined = gpd.sjoin(points[["geometry"]], grids[[code_col, "geometry"]], how="left", predicate="covered_by")
    joined = joined.sort_values(code_col, na_position="last")
    first = joined[~joined.index.duplicated(keep="first")][code_col]
    return first.reindex(points.index).astype(object).where(first.reindex(points.index).notna(), None)
