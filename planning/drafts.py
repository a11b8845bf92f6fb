"""Drafts (规划草稿): create, list, show, edit, undo and abandon a working copy of the grids.

A draft holds a full copy of the unit grids and responsibility grids of its scope (a district, or
some of its communities); rows outside the scope are not copied. The live boundaries are untouched
until a draft is published (``planning.publish``). Every function takes a SQLAlchemy Connection
first and works in the caller's transaction; geometry in and out is GeoJSON in WGS-84.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.statuses import open_sql
from planning import edits, state as st
from planning.errors import DraftClosed, EditError
from planning.validate import Problem, validate, validate_state


@dataclass(frozen=True)
class DraftSummary:
    id: int
    name: str
    reason: str
    status: str
    created_by: str | None  # the planner's full name
    created_at: datetime
    updated_at: datetime
    n_grids: int  # not retired
    n_steps: int
    n_errors: int


@dataclass
class EditResult:
    changed: list[str]  # grid codes whose rows the edit (or undo) wrote: changed, new, retired
    problems: list[Problem] = field(default_factory=list)  # the draft's validation after it
    seq: int | None = None  # the step written (None for undo)
    responsibilities_changed: list[str] = field(default_factory=list)

    @property
    def n_errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)


# --- create, list ---------------------------------------------------------------------------------

def create_draft(conn: Connection, *, name: str, reason: str, actor_id: int | None, district_code: str | None = None,
                 community_codes: list[str] | None = None) -> int:
    """A new open draft copying the current grids of the district (or of ``community_codes``)."""
    name, reason = (name or "").strip(), (reason or "").strip()
    if not 1 <= len(name) <= 200:
        raise EditError("草稿名称须为 1–200 个字符", "a draft needs a name of 1–200 characters")
    if len(reason) > 2000:
        raise EditError("草稿说明不能超过 2000 个字符", "a draft's reason may be at most 2,000 characters")
    district_id = _district(conn, district_code)
    scope = None
    if community_codes:
        found = dict(conn.execute(text(
            "SELECT c.code, c.id FROM community c JOIN subdistrict s ON s.id = c.subdistrict_id "
            "WHERE s.district_id = :d AND c.code = ANY(:c)"), {"d": district_id, "c": list(community_codes)}).all())
        missing = sorted(set(community_codes) - set(found))
        if missing:
            raise EditError(f"本区没有社区 {', '.join(missing)}", f"no community {', '.join(missing)} in this district")
        scope = sorted(set(found.values()))
    if actor_id is not None and conn.execute(text("SELECT 1 FROM person WHERE id = :p"), {"p": actor_id}).first() is None:
        raise EditError(f"人员 {actor_id} 不存在", f"no person {actor_id}")
    draft_id = conn.execute(text("""
        INSERT INTO boundary_draft(name, reason, district_id, scope_community_ids, base_change_id, created_by)
        VALUES (:n, :r, :d, CAST(:s AS int[]),
                (SELECT max(gv.change_id) FROM grid_version gv WHERE gv.valid_from <= now()), :a)
        RETURNING id"""), {"n": name, "r": reason, "d": district_id, "s": scope, "a": actor_id}).scalar_one()
    in_scope = ("c.id = ANY(:s)" if scope is not None else
                "c.subdistrict_id IN (SELECT id FROM subdistrict WHERE district_id = :dist)")
    params = {"d": draft_id, "s": scope, "dist": district_id}
    conn.execute(text(f"""
        INSERT INTO boundary_draft_responsibility(draft_id, code, name, community_id, responsibility_grid_id, person_ids)
        SELECT :d, r.code, r.name, r.community_id, r.id,
               COALESCE(array_agg(w.person_id ORDER BY w.person_id) FILTER (WHERE w.person_id IS NOT NULL), '{{}}')
        FROM responsibility_grid r JOIN community c ON c.id = r.community_id
        LEFT JOIN responsibility_grid_worker w ON w.responsibility_grid_id = r.id
        WHERE {in_scope} GROUP BY r.id"""), params)
    conn.execute(text(f"""
        INSERT INTO boundary_draft_grid(draft_id, code, grid_id, name, community_id, responsibility_code, geom)
        SELECT :d, g.code, g.id, g.name, g.community_id, r.code, gv.geom
        FROM unit_grid g JOIN community c ON c.id = g.community_id
        JOIN grid_version gv ON gv.grid_id = g.id AND {st.LIVE_VERSION_SQL}
        LEFT JOIN responsibility_grid r ON r.id = g.responsibility_grid_id
        WHERE {st.LIVE_GRID_SQL} AND {in_scope}"""), params)
    return draft_id


def _district(conn: Connection, code: str | None) -> int:
    rows = conn.execute(text("SELECT id, code FROM district ORDER BY code")).all()
    if code is None:
        if len(rows) == 1:
            return rows[0].id
        if not rows:
            raise EditError("数据库中还没有区县", "there is no district in the database yet")
        listed = ", ".join(r.code for r in rows)
        raise EditError(f"有多个区县（{listed}），请指定一个", f"there are several districts ({listed}): name one")
    for r in rows:
        if r.code == code:
            return r.id
    raise EditError(f"区县 {code} 不存在", f"no district {code}")


def list_drafts(conn: Connection, *, status: str | None = "open") -> list[DraftSummary]:
    """The drafts with ``status`` (None: all), newest first, each with its error count."""
    if status is not None and status not in ("open", "published", "abandoned"):
        raise EditError(f"未知的草稿状态 {status!r}", f"unknown draft status {status!r} (open, published, abandoned)")
    rows = conn.execute(text("""
        SELECT d.id, d.name, d.reason, d.status, p.full_name AS created_by, d.created_at, d.updated_at,
               (SELECT count(*) FROM boundary_draft_grid g WHERE g.draft_id = d.id AND NOT g.retired) AS n_grids,
               (SELECT count(*) FROM boundary_draft_step s WHERE s.draft_id = d.id) AS n_steps
        FROM boundary_draft d LEFT JOIN person p ON p.id = d.created_by
        WHERE CAST(:s AS text) IS NULL OR d.status = :s
        ORDER BY d.updated_at DESC, d.id DESC"""), {"s": status}).mappings().all()
    out = []
    for r in rows:
        n_errors = sum(p.severity == "error" for p in validate(conn, r["id"])) if r["status"] == "open" else 0
        out.append(DraftSummary(**r, n_errors=n_errors))
    return out


# --- showing --------------------------------------------------------------------------------------

def draft_geojson(conn: Connection, draft_id: int) -> dict:
    """The draft's grids as a FeatureCollection; ``change`` compares each with its live version.

    ``same`` means the very same vertices in the same order: a neighbour that got a vertex on a
    shared edge (so that the edge stays shared) is ``changed``, and must be published as such.
    """
    st.load_state(conn, draft_id)  # raises DraftNotFound
    rows = conn.execute(text(f"""
        SELECT d.code, d.name, c.code AS community_code, c.name AS community_name, d.responsibility_code,
               CASE WHEN d.retired THEN 'retired'
                    WHEN d.grid_id IS NULL OR gv.id IS NULL THEN 'new'
                    WHEN ST_OrderingEquals(d.geom, gv.geom) AND g.community_id = d.community_id
                         AND g.name = d.name AND r.code IS NOT DISTINCT FROM d.responsibility_code THEN 'same'
                    ELSE 'changed' END AS change,
               ST_AsGeoJSON(d.geom) AS geometry
        FROM boundary_draft_grid d JOIN community c ON c.id = d.community_id
        LEFT JOIN unit_grid g ON g.id = d.grid_id
        LEFT JOIN grid_version gv ON gv.grid_id = d.grid_id AND {st.LIVE_VERSION_SQL}
        LEFT JOIN responsibility_grid r ON r.id = g.responsibility_grid_id
        WHERE d.draft_id = :d ORDER BY d.code"""), {"d": draft_id}).mappings().all()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": r["code"], "geometry": json.loads(r["geometry"]),
         "properties": {k: r[k] for k in ("code", "name", "community_code", "community_name", "responsibility_code",
                                          "change")}} for r in rows]}


def context_geojson(conn: Connection, draft_id: int) -> dict:
    """What lies under the editor: the district, subdistrict and community outlines of the draft's
    scope with a label point each (``label``: [lon, lat]), and the open cases in scope as points."""
    s = st.load_state(conn, draft_id)
    feats = []
    areas = conn.execute(text("""
        SELECT 'district' AS kind, d.code, d.name, d.name_en, ST_AsGeoJSON(d.geom, 7) AS geometry,
               ST_X(ST_PointOnSurface(d.geom)) AS lx, ST_Y(ST_PointOnSurface(d.geom)) AS ly
        FROM district d WHERE d.id = :dist AND d.geom IS NOT NULL
        UNION ALL
        SELECT 'subdistrict', sd.code, sd.name, sd.name_en, ST_AsGeoJSON(sd.geom, 7),
               ST_X(ST_PointOnSurface(sd.geom)), ST_Y(ST_PointOnSurface(sd.geom))
        FROM subdistrict sd WHERE sd.geom IS NOT NULL
          AND sd.id IN (SELECT subdistrict_id FROM community WHERE id = ANY(:s))
        UNION ALL
        SELECT 'community', c.code, c.name, c.name_en, ST_AsGeoJSON(c.geom, 7),
               ST_X(ST_PointOnSurface(c.geom)), ST_Y(ST_PointOnSurface(c.geom))
        FROM community c WHERE c.geom IS NOT NULL AND c.id = ANY(:s)"""),
        {"dist": s.district_id, "s": s.scope}).mappings().all()
    for r in areas:
        feats.append({"type": "Feature", "geometry": json.loads(r["geometry"]),
                      "properties": {"kind": r["kind"], "code": r["code"], "name": r["name"], "name_en": r["name_en"],
                                     "label": [round(r["lx"], 7), round(r["ly"], 7)]}})
    cases = conn.execute(text(f"""
        SELECT c.id, c.case_no, c.status, c.category_code, c.grid_code, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat
        FROM cases c WHERE {open_sql('c')} AND c.community_id = ANY(:s) ORDER BY c.id"""), {"s": s.scope}).all()
    for r in cases:
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(r.lon, 7), round(r.lat, 7)]},
                      "properties": {"kind": "case", "id": r.id, "case_no": r.case_no, "status": r.status,
                                     "category_code": r.category_code, "grid_code": r.grid_code}})
    return {"type": "FeatureCollection", "features": feats}


# --- editing --------------------------------------------------------------------------------------

def apply_edit(conn: Connection, draft_id: int, op: dict, *, actor_id: int | None) -> EditResult:
    """Apply one edit (``planning.edits`` lists the ops) to an open draft, record it as a step
    and validate the draft. Raises EditError (nothing written) for an op that cannot be done."""
    s = st.load_state(conn, draft_id, lock=True, must_be_open=True)
    grids0, resps0 = s.snapshot()
    change = edits.apply(conn, s, op)
    if not change.grids and not change.responsibilities:
        raise EditError("此操作没有改变草稿", "the edit changed nothing in the draft")
    before = st.rows_of(grids0, resps0, change.grids, change.responsibilities)
    st.save(conn, s.id, {c: s.grids.get(c) for c in change.grids},
            {c: s.responsibilities.get(c) for c in change.responsibilities})
    seq = conn.execute(text("""
        INSERT INTO boundary_draft_step(draft_id, seq, op, before, actor_id)
        VALUES (:d, (SELECT COALESCE(max(seq), 0) + 1 FROM boundary_draft_step WHERE draft_id = :d),
                CAST(:op AS jsonb), CAST(:b AS jsonb), :a) RETURNING seq"""),
        {"d": s.id, "op": json.dumps(op, ensure_ascii=False), "b": json.dumps(before), "a": actor_id}).scalar_one()
    conn.execute(text("UPDATE boundary_draft SET updated_at = now() WHERE id = :d"), {"d": s.id})
    return EditResult(sorted(change.grids), validate_state(conn, s), seq, sorted(change.responsibilities))


def undo(conn: Connection, draft_id: int, *, actor_id: int | None) -> EditResult:
    """Take back the draft's last step: its rows are restored exactly as they were, the step goes."""
    s = st.load_state(conn, draft_id, lock=True, must_be_open=True)
    step = conn.execute(text("SELECT seq, before FROM boundary_draft_step WHERE draft_id = :d "
                             "ORDER BY seq DESC LIMIT 1"), {"d": s.id}).one_or_none()
    if step is None:
        raise EditError(f"草稿 {s.id} 没有可撤销的操作", f"draft {s.id} has no edit to undo")
    grids = {c: st.DraftGrid.from_row(r) if r else None for c, r in step.before["grids"].items()}
    resps = {c: st.DraftResponsibility.from_row(r) if r else None for c, r in step.before["responsibilities"].items()}
    st.save(conn, s.id, grids, resps)
    conn.execute(text("DELETE FROM boundary_draft_step WHERE draft_id = :d AND seq = :q"), {"d": s.id, "q": step.seq})
    conn.execute(text("UPDATE boundary_draft SET updated_at = now() WHERE id = :d"), {"d": s.id})
    for c, g in grids.items():
        if g is None:
            s.grids.pop(c, None)
        else:
            s.grids[c] = g
    for c, r in resps.items():
        if r is None:
            s.responsibilities.pop(c, None)
        else:
            s.responsibilities[c] = r
    return EditResult(sorted(grids), validate_state(conn, s), None, sorted(resps))


def abandon(conn: Connection, draft_id: int, *, actor_id: int | None) -> None:
    """Close an open draft without publishing it (its rows stay, for the record)."""
    s = st.load_state(conn, draft_id, lock=True)
    if s.status != "open":
        raise DraftClosed(s.id, s.status)
    conn.execute(text("UPDATE boundary_draft SET status = 'abandoned', updated_at = now() WHERE id = :d"), {"d": s.id})
