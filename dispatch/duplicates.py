"""The possible-duplicate search (疑似重复): the one rule, for a new report and for a located one.

An open case of the same category within ``RADIUS_M`` metres, reported no earlier than
``DAYS`` days before the case, is linked to it as a possible duplicate
(``case_possible_duplicate``, ``pending``): never merged or dropped here; a dispatcher confirms or
rejects the link (``intake.duplicates.decide_duplicate``). Two paths run it:

- the intake writes a report and its links in one statement (``link_cte("new_case")``, the
  case row being inserted by the same statement);
- the lifecycle's ``locate`` move (``dispatch.service``) links a report that came with an address
  only (待定位) once a dispatcher gives it its point (``link_possible_duplicates``): the same SQL,
  measured from the case's own report time, so it is linked as it would have been had its point
  come with it (and to open cases reported since); ``relocate`` (a case outside the jurisdiction
  given a point inside a grid) runs the same search from its new point. A link the case already
  has (found from its first, outside point) is kept as it is, decided or not, and not returned
  again (``ON CONFLICT DO NOTHING``).

It lives here, below the intake (which may import the lifecycle, not the other way round), so
that both paths share one text of the rule.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch.queries import open_sql

RADIUS_M = 50.0
DAYS = 30


# The box prefilter in degrees uses the GiST index on cases.geom; the exact test is in metres on
# the spheroid (geography). 0.0012° of latitude is ~133 m and of longitude ≥ 50 m up to ~65°N,
# so the box always holds the circle for a radius up to 50 m; larger radii widen it.
def link_cte(new_case: str = "(SELECT * FROM cases WHERE id = :new)") -> str:
    """The links as a CTE ``linked``, so a caller can insert its own rows in the same statement (one
    round trip); only the links new to the case are returned. ``new_case``: a FROM item with the new case's row (a CTE's name when the case is
    inserted by the same statement, which cannot see it in ``cases``). A case without a point
    (待定位) links nothing."""
    return f"""
    linked AS (
        INSERT INTO case_possible_duplicate(case_id, candidate_id, distance_m)
        SELECT n.id, c.id, ST_Distance(c.geom::geography, n.geom::geography)
        FROM {new_case} n, cases c
        WHERE c.id <> n.id AND c.category_code = n.category_code
          AND {open_sql('c')}
          AND c.reported_at >= n.reported_at - make_interval(days => :days)
          AND c.geom && ST_Expand(n.geom, :box)
          AND ST_DWithin(c.geom::geography, n.geom::geography, :radius)
        ORDER BY 3
        LIMIT 20
        ON CONFLICT (case_id, candidate_id) DO NOTHING
        RETURNING candidate_id, distance_m)
"""


LINKED_SELECT = "SELECT c.case_no, l.distance_m FROM linked l JOIN cases c ON c.id = l.candidate_id ORDER BY l.distance_m"


def link_params(case_id: int | None, radius_m: float = RADIUS_M, days: int = DAYS) -> dict:
    """The parameters of ``link_cte`` (``case_id`` None when the case comes from a CTE)."""
    return {"new": case_id, "days": days, "box": 0.0012 * max(1.0, radius_m / 50.0), "radius": radius_m}


def as_links(rows) -> list[dict]:
    return [{"case_no": r.case_no, "distance_m": round(r.distance_m, 1)} for r in rows]


def link_possible_duplicates(conn: Connection, case_id: int, *, radius_m: float = RADIUS_M, days: int = DAYS) -> list[dict]:
    """Link the open same-category cases near case ``case_id``; returns [{case_no, distance_m}] nearest first."""
    return as_links(conn.execute(text("WITH " + link_cte() + LINKED_SELECT), link_params(case_id, radius_m, days)))
