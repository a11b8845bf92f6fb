"""Drafts made by inserting rows into the 0006 tables, as planning/drafts.py will make them:
a full copy of the scope's live grids and responsibility grids (with their workers)."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection


def draft_of(conn: Connection, community_ids: list[int], *, actor_id: int | None = None,
             name: str = "测试草稿") -> int:
    """A new open draft over ``community_ids`` (their live grids copied); returns its id."""
    draft_id = conn.execute(text("""
        INSERT INTO boundary_draft(name, reason, district_id, scope_community_ids, base_change_id, created_by)
        SELECT :n, '测试', s.district_id, CAST(:c AS integer[]),
               (SELECT max(id) FROM boundary_change WHERE status = 'applied'), :a
        FROM community c JOIN subdistrict s ON s.id = c.subdistrict_id WHERE c.id = :first
        RETURNING id"""), {"n": name, "c": community_ids, "a": actor_id, "first": community_ids[0]}).scalar_one()
    conn.execute(text("""
        INSERT INTO boundary_draft_responsibility(draft_id, code, name, community_id, responsibility_grid_id, person_ids)
        SELECT :d, r.code, r.name, r.community_id, r.id,
               ARRAY(SELECT w.person_id FROM responsibility_grid_worker w WHERE w.responsibility_grid_id = r.id ORDER BY 1)
        FROM responsibility_grid r WHERE r.community_id = ANY(:c)"""), {"d": draft_id, "c": community_ids})
    conn.execute(text("""
        INSERT INTO boundary_draft_grid(draft_id, code, grid_id, name, community_id, responsibility_code, geom)
        SELECT :d, g.code, g.id, g.name, g.community_id, r.code, gv.geom
        FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
        LEFT JOIN responsibility_grid r ON r.id = g.responsibility_grid_id
        WHERE g.community_id = ANY(:c) AND g.retired_at IS NULL"""), {"d": draft_id, "c": community_ids})
    return draft_id


def set_geom(conn: Connection, draft_id: int, code: str, wkt: str) -> None:
    n = conn.execute(text("UPDATE boundary_draft_grid SET geom = ST_GeomFromText(:w, 4326) "
                          "WHERE draft_id = :d AND code = :c"), {"w": wkt, "d": draft_id, "c": code}).rowcount
    assert n == 1, code


def add_grid(conn: Connection, draft_id: int, code: str, community_id: int, wkt: str,
             responsibility_code: str | None = None) -> None:
    conn.execute(text("""
        INSERT INTO boundary_draft_grid(draft_id, code, grid_id, name, community_id, responsibility_code, geom)
        VALUES (:d, :c, NULL, :n, :cm, :r, ST_GeomFromText(:w, 4326))"""),
        {"d": draft_id, "c": code, "n": f"网格{code[-3:]}", "cm": community_id, "r": responsibility_code, "w": wkt})


def retire(conn: Connection, draft_id: int, code: str) -> None:
    conn.execute(text("UPDATE boundary_draft_grid SET retired = true WHERE draft_id = :d AND code = :c"),
                 {"d": draft_id, "c": code})


def set_responsibility(conn: Connection, draft_id: int, code: str, community_id: int, person_ids: list[int],
                       grid_codes: list[str]) -> None:
    """Add (or replace) a responsibility grid in the draft and put ``grid_codes`` in it."""
    conn.execute(text("""
        INSERT INTO boundary_draft_responsibility(draft_id, code, name, community_id, person_ids)
        VALUES (:d, :c, :c, :cm, :p)
        ON CONFLICT (draft_id, code) DO UPDATE SET person_ids = EXCLUDED.person_ids"""),
        {"d": draft_id, "c": code, "cm": community_id, "p": person_ids})
    conn.execute(text("UPDATE boundary_draft_grid SET responsibility_code = :c WHERE draft_id = :d AND code = ANY(:g)"),
                 {"c": code, "d": draft_id, "g": grid_codes})
