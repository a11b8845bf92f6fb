"""Boundary history (边界版本): list the changes, compare two, export one, roll back to one.

Boundaries change only by adding versions (grid_version rows with valid_from / valid_to), so
"the boundaries as of change N" are the versions valid at N's effective time: those N added,
and the older ones N left alone. Rolling back publishes those again as a new change (history
kept): the grids that differ from then get a new version, grids made since are retired, grids
retired since come back. A grid's community and responsibility grid, and a responsibility grid's
workers, are not versioned; "as of N" (a rollback, an export, a compare) takes them from the last
change at or before N that set them, else as they are now.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from planning.publish import PublishRefused, PublishResult, apply_change, check_conflict

# The versions valid at :t (a grid's version covers [valid_from, valid_to)).
_AT = "gv.valid_from <= :t AND (gv.valid_to IS NULL OR gv.valid_to > :t)"


@dataclass(frozen=True)
class ChangeSummary:
    id: int
    kind: str            # publish | rollback | import | sample
    note: str
    reason: str
    by: str | None
    created_at: datetime
    effective_at: datetime
    applied_at: datetime | None
    status: str          # scheduled | applied | cancelled
    draft_id: int | None
    rollback_of: int | None
    versions: int        # grid versions it added
    result: dict | None


def list_changes(conn: Connection) -> list[ChangeSummary]:
    """Every boundary change, newest first."""
    rows = conn.execute(text("""
        SELECT bc.id, bc.kind, bc.note, bc.reason, p.full_name AS by, bc.created_at, bc.effective_at, bc.applied_at,
               bc.status, bc.draft_id, bc.rollback_of, bc.result,
               (SELECT count(*) FROM grid_version gv WHERE gv.change_id = bc.id) AS versions
        FROM boundary_change bc LEFT JOIN person p ON p.id = bc.created_by
        ORDER BY bc.effective_at DESC, bc.id DESC""")).mappings()
    return [ChangeSummary(**r) for r in rows]


def change_time(conn: Connection, change_id: int) -> datetime:
    """The instant whose boundaries are "the version of change N" (refused if not applied)."""
    row = conn.execute(text("SELECT status, effective_at FROM boundary_change WHERE id = :i"),
                       {"i": change_id}).one_or_none()
    if row is None:
        raise PublishRefused(f"边界变更 #{change_id} 不存在", f"boundary change #{change_id} does not exist")
    if row.status != "applied":
        raise PublishRefused(f"边界变更 #{change_id} 尚未生效（{row.status}）",
                             f"boundary change #{change_id} is {row.status}, not applied: it has no version yet")
    return row.effective_at


def grids_at(conn: Connection, t: datetime, *, district_code: str | None = None) -> dict[str, dict]:
    """{code: {grid_id, name, parents' codes and names, version_no, valid_from/_to, change_id,
    geojson, area_m2}} of the unit grids valid at ``t`` (of one district, or all)."""
    rows = conn.execute(text(f"""
        SELECT g.id AS grid_id, g.code, g.name, c.code AS community_code, c.name AS community_name,
               s.code AS subdistrict_code, s.name AS subdistrict_name, d.code AS district_code, d.name AS district_name,
               {_RESP_AT} AS responsibility_code, gv.version_no, gv.valid_from, gv.valid_to, gv.change_id,
               ST_AsGeoJSON(gv.geom, 9) AS geojson, ST_Area(gv.geom::geography) AS area_m2
        FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
        JOIN community c ON c.id = g.community_id JOIN subdistrict s ON s.id = c.subdistrict_id
        JOIN district d ON d.id = s.district_id
        LEFT JOIN responsibility_grid r ON r.id = g.responsibility_grid_id
        LEFT JOIN ({_LAST_SET}) last ON last.code = g.code
        WHERE {_AT} AND (CAST(:d AS text) IS NULL OR d.code = :d) ORDER BY g.code"""),
        {"t": t, "d": district_code}).mappings()
    return {r["code"]: dict(r) for r in rows}


# Per grid code, what the last applied change at or before :t set for it (its responsibility grid;
# a grid's responsibility is not versioned, so "as of N" is that, or today's where no change set it).
_LAST_SET = """
    SELECT DISTINCT ON (s.code) s.code, s.community_id, s.responsibility_code
    FROM boundary_change_grid s JOIN boundary_change b ON b.id = s.change_id
    WHERE b.status = 'applied' AND b.effective_at <= :t
    ORDER BY s.code, b.effective_at DESC, b.id DESC"""
_RESP_AT = "CASE WHEN last.code IS NOT NULL THEN last.responsibility_code ELSE r.code END"


def compare(conn: Connection, change_a: int, change_b: int) -> dict:
    """The grids added, removed and changed from the version of ``change_a`` to that of ``change_b``.

    Returns {"added", "removed", "changed": FeatureCollection (changed: the polygon at b, with
    the one at a as property "before"), "table": [{"code", "name", "change", "area_a_m2",
    "area_b_m2"}]}.
    """
    ta, tb = change_time(conn, change_a), change_time(conn, change_b)
    changed_codes = {r[0] for r in conn.execute(text(f"""
        SELECT g.code FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
        JOIN grid_version gb ON gb.grid_id = gv.grid_id
          AND gb.valid_from <= :tb AND (gb.valid_to IS NULL OR gb.valid_to > :tb)
        WHERE {_AT} AND gb.id <> gv.id AND NOT ST_Equals(gv.geom, gb.geom)"""), {"t": ta, "tb": tb})}
    a, b = grids_at(conn, ta), grids_at(conn, tb)
    out = {"added": _fc([], "added"), "removed": _fc([], "removed"), "changed": _fc([], "changed"), "table": []}
    for code in sorted(set(a) | set(b)):
        if code not in a:
            kind, row = "added", b[code]
        elif code not in b:
            kind, row = "removed", a[code]
        elif code in changed_codes:
            kind, row = "changed", b[code]
        else:
            continue
        props = {"code": code, "name": row["name"], "community_code": row["community_code"], "change": kind}
        if kind == "changed":
            props["before"] = json.loads(a[code]["geojson"])
        out[kind]["features"].append({"type": "Feature", "geometry": json.loads(row["geojson"]), "properties": props})
        out["table"].append({"code": code, "name": row["name"], "change": kind,
                             "area_a_m2": round(a[code]["area_m2"], 1) if code in a else None,
                             "area_b_m2": round(b[code]["area_m2"], 1) if code in b else None})
    return out


def _fc(features: list, name: str) -> dict:
    return {"type": "FeatureCollection", "name": name, "features": features}


EXPORT_COLUMNS = ("code", "name", "community_code", "community_name", "subdistrict_code", "subdistrict_name",
                  "district_code", "district_name", "responsibility_code", "version_no", "valid_from", "valid_to",
                  "change_id")


def export_version(conn: Connection, path: str | Path, *, at: datetime | None = None,
                   change_id: int | None = None, district_code: str | None = None) -> int:
    """Write the unit grids valid at ``at`` (or as of ``change_id``; default now) to a GeoPackage
    (layer ``unit_grid``, EPSG:4326, the parent columns export-grids writes, so import-grids
    reads it back); how many grids."""
    import geopandas as gpd
    import shapely

    if at is not None and change_id is not None:
        raise ValueError("give at or change_id, not both")
    if change_id is not None:
        at = change_time(conn, change_id)
    elif at is None:
        at = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    rows = list(grids_at(conn, at, district_code=district_code).values())
    data = {c: [r[c].isoformat() if isinstance(r[c], datetime) else r[c] for r in rows] for c in EXPORT_COLUMNS}
    geoms = [shapely.geometry.shape(json.loads(r["geojson"])) for r in rows]
    gdf = gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise ValueError(f"{path.name}: a GeoPackage file name ends in .gpkg")
    path.unlink(missing_ok=True)
    gdf.to_file(path, layer="unit_grid", driver="GPKG", engine="pyogrio")
    return len(rows)


def rollback(conn: Connection, change_id: int, *, actor_id: int | None, reason: str) -> PublishResult:
    """Publish the boundaries as of ``change_id`` again, as a new change (``rollback_of``)."""
    reason = (reason or "").strip()
    if not reason:
        raise PublishRefused("回退须填写原因", "a rollback needs a reason")
    with conn.begin_nested():
        t = change_time(conn, change_id)
        now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        new_id = conn.execute(text("""
            INSERT INTO boundary_change(kind, note, reason, created_by, created_at, effective_at, status, rollback_of)
            VALUES ('rollback', :note, :reason, :actor, :now, :now, 'scheduled', :of) RETURNING id"""),
            {"note": f"rollback to #{change_id}", "reason": reason, "actor": actor_id, "now": now,
             "of": change_id}).scalar_one()
        # grids whose polygon then differs from now (or that were retired since): that polygon again;
        # community and responsibility from the last change at or before N that set them
        conn.execute(text(f"""
            INSERT INTO boundary_change_grid(change_id, code, name, community_id, responsibility_code, geom, retired)
            SELECT :new, g.code, g.name, COALESCE(last.community_id, g.community_id), {_RESP_AT}, gv.geom, false
            FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
            LEFT JOIN responsibility_grid r ON r.id = g.responsibility_grid_id
            LEFT JOIN grid_version cur ON cur.grid_id = g.id AND cur.valid_to IS NULL
            LEFT JOIN ({_LAST_SET}) last ON last.code = g.code
            WHERE {_AT} AND (cur.id IS NULL OR g.retired_at IS NOT NULL OR NOT ST_Equals(cur.geom, gv.geom)
                             OR g.community_id IS DISTINCT FROM COALESCE(last.community_id, g.community_id)
                             OR r.code IS DISTINCT FROM {_RESP_AT})"""),
            {"new": new_id, "t": t})
        # responsibility grids whose name, community or workers then differ from now: as they were
        # (the last change at or before N that set them); ones made since stay, as they are
        conn.execute(text("""
            INSERT INTO boundary_change_responsibility(change_id, code, name, community_id, person_ids)
            SELECT :new, last.code, last.name, last.community_id, last.person_ids
            FROM (SELECT DISTINCT ON (s.code) s.code, s.name, s.community_id, s.person_ids
                  FROM boundary_change_responsibility s JOIN boundary_change b ON b.id = s.change_id
                  WHERE b.status = 'applied' AND b.effective_at <= :t
                  ORDER BY s.code, b.effective_at DESC, b.id DESC) last
            LEFT JOIN responsibility_grid x ON x.code = last.code
            WHERE x.id IS NULL OR (x.name, x.community_id) IS DISTINCT FROM (last.name, last.community_id)
               OR ARRAY(SELECT w.person_id FROM responsibility_grid_worker w WHERE w.responsibility_grid_id = x.id
                        ORDER BY 1) IS DISTINCT FROM ARRAY(SELECT DISTINCT unnest(last.person_ids) ORDER BY 1)"""),
            {"new": new_id, "t": t})
        # grids live now that did not exist (or were retired) then: retired again
        conn.execute(text(f"""
            INSERT INTO boundary_change_grid(change_id, code, name, community_id, responsibility_code, geom, retired)
            SELECT :new, g.code, g.name, g.community_id, r.code, cur.geom, true
            FROM grid_version cur JOIN unit_grid g ON g.id = cur.grid_id
            LEFT JOIN responsibility_grid r ON r.id = g.responsibility_grid_id
            WHERE cur.valid_to IS NULL AND g.retired_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM grid_version gv WHERE gv.grid_id = g.id AND {_AT})"""),
            {"new": new_id, "t": t})
        comms = list(conn.execute(text("""
            SELECT DISTINCT x FROM (SELECT s.community_id AS x FROM boundary_change_grid s WHERE s.change_id = :new
                                    UNION SELECT g.community_id FROM boundary_change_grid s JOIN unit_grid g
                                    ON g.code = s.code WHERE s.change_id = :new
                                    UNION SELECT r.community_id FROM boundary_change_responsibility r
                                    WHERE r.change_id = :new) u ORDER BY 1"""),
            {"new": new_id}).scalars())
        if not comms:
            raise PublishRefused(f"边界与变更 #{change_id} 生效时相同，无需回退",
                                 f"the boundaries are as they were after change #{change_id}: nothing to roll back")
        # a change still waiting over the same communities would undo this one: refused
        last = conn.execute(text("SELECT max(id) FROM boundary_change")).scalar_one()
        check_conflict(conn, comms, base_change_id=last, since=now, except_change=new_id)
        conn.execute(text("UPDATE boundary_change SET community_ids = :c WHERE id = :i"), {"c": comms, "i": new_id})
        return apply_change(conn, new_id)
