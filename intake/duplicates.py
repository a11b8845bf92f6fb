"""Possible duplicates (疑似重复): link, never drop.

An open case of the same category within ``radius_m`` metres, reported in the last ``days``
days, is linked to a new report as a possible duplicate (``case_possible_duplicate``, pending).
A dispatcher confirms (then merges through the lifecycle) or rejects the link later; the report
itself is kept either way. FixMyStreet suggests nearby reports in the same spirit.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch.queries import open_sql

# The box prefilter in degrees uses the GiST index on cases.geom; the exact test is in metres on
# the spheroid (geography). 0.0012° of latitude is ~133 m and of longitude ≥ 50 m up to ~65°N,
# so the box always holds the circle for a radius up to 50 m; larger radii widen it.
# The links as a CTE, so a caller can insert its own row in the same statement (one round trip).
LINK_CTE = f"""
    linked AS (
        INSERT INTO case_possible_duplicate(case_id, candidate_id, distance_m)
        SELECT :new, c.id, ST_Distance(c.geom::geography, n.geom::geography)
        FROM cases n, cases c
        WHERE n.id = :new AND c.id <> n.id AND c.category_code = n.category_code
          AND {open_sql('c')}
          AND c.reported_at >= n.reported_at - make_interval(days => :days)
          AND c.geom && ST_Expand(n.geom, :box)
          AND ST_DWithin(c.geom::geography, n.geom::geography, :radius)
        ORDER BY 3
        LIMIT 20
        RETURNING candidate_id, distance_m)
"""
LINKED_SELECT = "SELECT c.case_no, l.distance_m FROM linked l JOIN cases c ON c.id = l.candidate_id ORDER BY l.distance_m"


def link_params(case_id: int, radius_m: float, days: int) -> dict:
    return {"new": case_id, "days": days, "box": 0.0012 * max(1.0, radius_m / 50.0), "radius": radius_m}


def as_links(rows) -> list[dict]:
    return [{"case_no": r.case_no, "distance_m": round(r.distance_m, 1)} for r in rows]


def link_possible_duplicates(conn: Connection, case_id: int, *, radius_m: float = 50.0, days: int = 30) -> list[dict]:
    """Link the open same-category cases near case ``case_id``; returns [{case_no, distance_m}] nearest first."""
    return as_links(conn.execute(text("WITH " + LINK_CTE + LINKED_SELECT), link_params(case_id, radius_m, days)))


def possible_duplicates_of(conn: Connection, case_id: int) -> list[dict]:
    """The links of case ``case_id`` with their state (pending / confirmed / rejected)."""
    return [dict(r) for r in conn.execute(text(
        "SELECT c.case_no, d.distance_m, d.status FROM case_possible_duplicate d JOIN cases c ON c.id = d.candidate_id "
        "WHERE d.case_id = :i ORDER BY d.distance_m"), {"i": case_id}).mappings()]
