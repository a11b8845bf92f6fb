"""Read side of the lifecycle: the one definition of overdue and at-risk, queues, case detail.

Definitions (use these fragments in bigger queries, e.g. the map wall's colours):

- open: ``status`` not in closed / rejected / merged (``open_sql``, defined in ``db.statuses``).
- overdue (超期): open and ``due_at`` < now (``overdue_sql``).
- at risk (临期): open, not yet overdue, and less than a fifth of the working time between the
  start of the clock (dispatch or approved postponement) and ``due_at`` is left — i.e.
  ``warn_at`` <= now < ``due_at``; ``warn_at`` is stored with ``due_at`` (dispatch/deadlines.py)
  so the test is two comparisons on indexed columns (``at_risk_sql``).
- ``time_state_sql``: 'overdue' | 'at_risk' | 'on_track' (open with a deadline) | NULL.
- not accepted in time (超时未接收): sent to its lead department (dispatched, or back for rework)
  and not yet accepted past ``accept_due_at`` (stored at the dispatch or the failed verification,
  dispatch/deadlines.py) — ``late_accept_sql``.

The indicators (stats/indicators.py) count "overdue as it stood" at any past instant with the
same definition applied to the event log (SQL function ``case_event_deltas``); a test checks both
agree now. ``now`` in these fragments is any SQL expression (default ``now()``), so a caller can
bind ``:now``.

Working queues: every open case is in exactly one, by its status (``WORKING_QUEUES``), and
that queue is shown to the unit that must act next — ``acting_sql(actor)``: the unit owning
the case's level (dispatch.permissions.owner_level), any unit containing a case not sorted yet,
the lead department for a case it holds:

- ``awaiting_location`` 待定位: reported with an address only, no position yet (``awaiting_location_sql``):
  the command centre's and every subdistrict's (no unit contains it until it is located);
- ``awaiting_sorting`` 待分拣: reported inside the jurisdiction, or returned by a department;
- ``outside_jurisdiction`` 辖区外: reported outside every grid (the command centre's);
- ``awaiting_dispatch`` 待派遣: registered, not yet dispatched;
- ``awaiting_verification`` 待核查: fed back, waiting for the sorting unit's verification;
- ``department_queue(department_id)``: dispatched, being disposed, rework, postponed — the lead
  department's (assisting departments see them too, marked ``assist``; only the lead acts).

Watch lists (they cut across the working queues; the actor's whole area): ``overdue_cases``,
``at_risk_cases``, ``late_accept_cases``, ``supervised_cases``. Also ``case_detail(case_id)`` with ``timeline(case_id)``.
The wall draws its own points and ticker (``wall.frame``) with these definitions.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from accounts.actors import Actor
from db.partitions import case_bound, live_months, numbers
from db.statuses import open_sql  # noqa: F401  (re-exported: the one definition of open)
from dispatch.states import WITH_DEPARTMENT, label

# Open states in which the lead department must act next (awaiting_verification is the sorting
# unit's: it verifies).
DEPARTMENT_WORKING: tuple[str, ...] = tuple(s for s in WITH_DEPARTMENT if s != "awaiting_verification")
def awaiting_location_sql(a: str = "c") -> str:
    """SQL: the case came with an address only and waits for a dispatcher to locate it (待定位) —
    THE definition (migration 0011: no position; terminal cases that never got one are not waiting)."""
    return f"({a}.status = 'reported' AND {a}.geom IS NULL)"


# The dispatcher's working queues: each open case is in exactly one of these or in its lead
# department's queue (a partition by status and position; tests/dispatch/test_queue_partition.py
# checks it over the sample district).
WORKING_QUEUES: dict[str, str] = {
    "awaiting_location": awaiting_location_sql("c"),
    "awaiting_sorting": "(c.status = 'returned' OR (c.status = 'reported' AND NOT c.outside_jurisdiction "
                        "AND c.geom IS NOT NULL))",
    "outside_jurisdiction": "(c.status = 'reported' AND c.outside_jurisdiction)",
    "awaiting_dispatch": "(c.status = 'registered')",
    "awaiting_verification": "(c.status = 'awaiting_verification')",
}


def overdue_sql(a: str = "c", now: str = "now()") -> str:
    """SQL: the case is open and its deadline has passed — THE definition of overdue."""
    return f"({open_sql(a)} AND {a}.due_at < {now})"


def at_risk_sql(a: str = "c", now: str = "now()") -> str:
    """SQL: open, not overdue, less than a fifth of its working time left — THE definition of at risk."""
    return f"({open_sql(a)} AND {a}.due_at >= {now} AND {a}.warn_at <= {now})"


# The states in which the lead department has been sent a case and must accept it (接收).
TO_ACCEPT: tuple[str, ...] = ("dispatched", "rework")


def late_accept_sql(a: str = "c", now: str = "now()") -> str:
    """SQL: the case waits for its lead department to accept it past the time allowed for that —
    THE definition of not accepted in time (超时未接收)."""
    states = ", ".join(f"'{s}'" for s in TO_ACCEPT)
    return f"COALESCE({a}.status IN ({states}) AND {a}.accept_due_at < {now}, false)"


def time_state_sql(a: str = "c", now: str = "now()") -> str:
    """SQL CASE: 'overdue' | 'at_risk' | 'on_track' | NULL (closed, or no deadline yet)."""
    return (f"CASE WHEN {overdue_sql(a, now)} THEN 'overdue' WHEN {at_risk_sql(a, now)} THEN 'at_risk' "
            f"WHEN {open_sql(a)} AND {a}.due_at IS NOT NULL THEN 'on_track' END")


def scope_sql(actor: Actor | None, a: str = "c") -> tuple[str, dict]:
    """SQL condition and params limiting cases to what ``actor`` works on (TRUE for the
    command centre, admins, planners and command staff)."""
    if actor is None or actor.role in ("admin", "command_staff", "planner") or actor.unit_level == "district":
        return "TRUE", {}
    if actor.unit_level == "department":
        return (f"({a}.department_id = :_scope OR EXISTS (SELECT 1 FROM case_department cd WHERE cd.case_id = {a}.id "
                f"AND cd.department_id = :_scope))", {"_scope": actor.department_id})
    if actor.unit_level == "subdistrict":  # and the cases no unit contains yet (待定位), which it may locate
        return f"({a}.subdistrict_id = :_scope OR {a}.geom IS NULL)", {"_scope": actor.subdistrict_id}
    return f"{a}.community_id = :_scope", {"_scope": actor.community_id}


def acting_sql(actor: Actor | None, a: str = "c") -> tuple[str, dict]:
    """SQL condition and params: cases whose next step is the actor's unit's to take — the unit
    owning the case's level (grid/community level → its community, subdistrict → its
    subdistrict, district and outside the jurisdiction → the command centre), or any unit
    containing a case not yet sorted (dispatch.permissions.owner_level says the same in Python);
    a case awaiting location, which no unit contains yet, is the command centre's and every
    subdistrict's (dispatch.permissions.may_place).
    TRUE for admins and viewers, who see every queue."""
    if actor is None or actor.role in ("admin", "command_staff", "planner"):
        return "TRUE", {}
    if actor.unit_level == "district":
        return f"({a}.community_id IS NULL OR {a}.level IS NULL OR {a}.level = 'district')", {}
    if actor.unit_level == "department":
        return f"({a}.department_id = :_act)", {"_act": actor.department_id}
    if actor.unit_level == "subdistrict":
        return (f"(({a}.community_id IS NOT NULL AND {a}.subdistrict_id = :_act "
                f"AND ({a}.level IS NULL OR {a}.level = 'subdistrict')) OR {a}.geom IS NULL)",
                {"_act": actor.subdistrict_id})
    return (f"({a}.community_id = :_act AND ({a}.level IS NULL OR {a}.level IN ('grid', 'community')))",
            {"_act": actor.community_id})


LIST_COLUMNS = f"""
    c.id, c.case_no, c.status, c.level, c.category_code, cat.name AS category_name, cat.name_en AS category_name_en,
    left(c.description, 200) AS description, c.address, c.channel, c.reported_at, c.registered_at, c.dispatched_at,
    c.due_at, c.warn_at, c.accept_due_at, {late_accept_sql('c')} AS late_accept, c.closed_at, c.department_id,
    d.name AS department_name, d.name_en AS department_name_en, c.handler_id, c.grid_code,
    c.community_id, com.name AS community_name, com.name_en AS community_name_en, c.subdistrict_id, sub.name AS subdistrict_name,
    ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.outside_jurisdiction, c.geom IS NULL AS awaiting_location,
    c.supervised, c.self_handled, c.version, c.chase_count,
    c.postpone_requested_at IS NOT NULL AS postponement_pending, {time_state_sql('c')} AS time_state
"""
LIST_FROM = """
    cases c LEFT JOIN case_category cat ON cat.code = c.category_code LEFT JOIN department d ON d.id = c.department_id
    LEFT JOIN community com ON com.id = c.community_id LEFT JOIN subdistrict sub ON sub.id = c.subdistrict_id
"""


def _list(conn: Connection, where: str, order: str, *, actor: Actor | None, limit: int, params: dict | None = None,
          extra_cols: str = "", acting: bool = False) -> list[dict]:
    """``acting``: only the cases the actor's unit must act on next (working queues); else the
    actor's whole area (watch lists). Every list is of open cases: only the months holding one
    are read (db.partitions.live_months)."""
    scope, sp = acting_sql(actor) if acting else scope_sql(actor)
    sql = (f"SELECT {LIST_COLUMNS}{extra_cols} FROM {LIST_FROM} WHERE ({where}) AND {live_months(conn)} AND {scope} "
           f"ORDER BY {order} LIMIT :_limit")
    return [dict(r) for r in conn.execute(text(sql), {**(params or {}), **sp, "_limit": limit}).mappings()]


def awaiting_location(conn: Connection, *, actor: Actor | None = None, limit: int = 200) -> list[dict]:
    """待定位: reports with an address and no position, oldest first (a dispatcher sets the point)."""
    return _list(conn, WORKING_QUEUES["awaiting_location"], "c.reported_at, c.id", actor=actor, limit=limit,
                 acting=True)


def awaiting_sorting(conn: Connection, *, actor: Actor | None = None, limit: int = 200) -> list[dict]:
    """待分拣: reported cases inside the jurisdiction and cases returned by a department, oldest first."""
    return _list(conn, WORKING_QUEUES["awaiting_sorting"], "c.reported_at", actor=actor, limit=limit, acting=True)


def outside_jurisdiction(conn: Connection, *, actor: Actor | None = None, limit: int = 200) -> list[dict]:
    """辖区外: reported cases whose point lies in no grid, oldest first (placed or rejected by a person)."""
    return _list(conn, WORKING_QUEUES["outside_jurisdiction"], "c.reported_at", actor=actor, limit=limit,
                 extra_cols=", c.received_x, c.received_y, c.received_crs", acting=True)


def awaiting_dispatch(conn: Connection, *, actor: Actor | None = None, limit: int = 200) -> list[dict]:
    """待派遣: registered cases not yet dispatched, oldest registration first."""
    return _list(conn, WORKING_QUEUES["awaiting_dispatch"], "c.registered_at, c.id", actor=actor, limit=limit,
                 acting=True)


def awaiting_verification(conn: Connection, *, actor: Actor | None = None, limit: int = 200) -> list[dict]:
    """待核查: cases a department fed back, waiting for verification, oldest first."""
    return _list(conn, WORKING_QUEUES["awaiting_verification"], "c.feedback_at NULLS FIRST, c.id", actor=actor,
                 limit=limit, acting=True)


def overdue_cases(conn: Connection, *, actor: Actor | None = None, limit: int = 200) -> list[dict]:
    """超期: most overdue first."""
    return _list(conn, overdue_sql("c"), "c.due_at", actor=actor, limit=limit)


def at_risk_cases(conn: Connection, *, actor: Actor | None = None, limit: int = 200) -> list[dict]:
    """临期: nearest deadline first."""
    return _list(conn, at_risk_sql("c"), "c.due_at", actor=actor, limit=limit)


def late_accept_cases(conn: Connection, *, actor: Actor | None = None, limit: int = 200) -> list[dict]:
    """超时未接收: sent to a department and not accepted in time, longest waiting first."""
    return _list(conn, late_accept_sql("c"), "c.accept_due_at, c.id", actor=actor, limit=limit)


def supervised_cases(conn: Connection, *, actor: Actor | None = None, limit: int = 200) -> list[dict]:
    """督办: open supervised cases, nearest deadline first."""
    return _list(conn, f"c.supervised AND {open_sql('c')}", "c.due_at NULLS LAST", actor=actor, limit=limit)


def department_queue(conn: Connection, *, department_id: int, limit: int = 200, include_assisting: bool = True) -> list[dict]:
    """A department's work queue: cases it leads and must act on now (``DEPARTMENT_WORKING``),
    and those it assists, nearest deadline first. ``role`` is 'lead' or 'assist'; only the lead
    department acts on a case (a fed-back case waits for verification by the sorting unit)."""
    assist = ("OR (c.status = ANY(:_held) AND c.id IN "
              "(SELECT case_id FROM case_department WHERE department_id = :dep AND role = 'assist'))"
              if include_assisting else "")
    where = f"(c.status = ANY(:_working) AND c.department_id = :dep) {assist}"
    return _list(conn, where, "c.due_at NULLS LAST, c.id", actor=None, limit=limit,
                 params={"dep": department_id, "_held": list(WITH_DEPARTMENT), "_working": list(DEPARTMENT_WORKING)},
                 extra_cols=", CASE WHEN c.department_id = :dep THEN 'lead' ELSE 'assist' END AS role")


def queue_counts(conn: Connection, *, actor: Actor | None = None) -> dict[str, int]:
    """Sizes of the dispatcher's working queues (the actor's unit's) and watch lists (the actor's
    area), for badges; ``open``: every open case in the area."""
    scope, sp = scope_sql(actor)
    acting, ap = acting_sql(actor)
    working = ", ".join(f"count(*) FILTER (WHERE {w} AND {acting}) AS {q}" for q, w in WORKING_QUEUES.items())
    row = conn.execute(text(f"""
        SELECT {working},
               count(*) FILTER (WHERE {overdue_sql('c')}) AS overdue,
               count(*) FILTER (WHERE {at_risk_sql('c')}) AS at_risk,
               count(*) FILTER (WHERE {late_accept_sql('c')}) AS late_accept,
               count(*) FILTER (WHERE c.supervised) AS supervised,
               count(*) AS open
        FROM cases c WHERE {open_sql('c')} AND {live_months(conn)} AND {scope}"""), {**sp, **ap}).mappings().one()
    return dict(row)


def case_detail(conn: Connection, case_id: int, *, lang: str = "zh") -> dict | None:
    """Everything the detail panel shows: the case, names of its places, people and departments,
    grid workers of its responsibility grid, assisting departments, duplicates, and the timeline."""
    row = conn.execute(text(f"""
        SELECT c.*, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.geom IS NULL AS awaiting_location,
               cat.name AS category_name, cat.name_en AS category_name_en,
               cat.is_emergency, d.name AS department_name, d.name_en AS department_name_en,
               com.name AS community_name, com.name_en AS community_name_en, sub.name AS subdistrict_name,
               sub.name_en AS subdistrict_name_en, g.name AS grid_name,
               h.full_name AS handler_name, r.full_name AS reporter_person_name,
               {time_state_sql('c')} AS time_state, {late_accept_sql('c')} AS late_accept
        FROM cases c LEFT JOIN case_category cat ON cat.code = c.category_code LEFT JOIN department d ON d.id = c.department_id
        LEFT JOIN community com ON com.id = c.community_id LEFT JOIN subdistrict sub ON sub.id = c.subdistrict_id
        LEFT JOIN unit_grid g ON g.id = c.grid_id LEFT JOIN person h ON h.id = c.handler_id
        LEFT JOIN person r ON r.id = c.reporter_id
        WHERE c.id = :i AND {case_bound(conn, case_id)}"""), {"i": case_id}).mappings().one_or_none()
    if row is None:
        return None
    out = {k: v for k, v in dict(row).items() if k != "geom"}
    # the original's number, from its own month (a join by id alone would plan every month)
    dup = out["duplicate_of"]
    out["duplicate_of_case_no"] = None if dup is None else conn.execute(text(
        f"SELECT c.case_no FROM cases c WHERE c.id = :d AND {case_bound(conn, dup)}"), {"d": dup}).scalar()
    out["status_label"] = label("status", out["status"], lang)
    out["level_label"] = label("level", out["level"], lang)
    out["grid_workers"] = [dict(r) for r in conn.execute(text(
        "SELECT p.id, p.full_name, p.phone FROM unit_grid g JOIN responsibility_grid_worker w "
        "ON w.responsibility_grid_id = g.responsibility_grid_id JOIN person p ON p.id = w.person_id "
        "WHERE g.id = :g ORDER BY p.id"), {"g": out["grid_id"]}).mappings()] if out["grid_id"] else []
    out["departments"] = [dict(r) for r in conn.execute(text(
        "SELECT cd.department_id, cd.role, d.name, d.name_en FROM case_department cd JOIN department d ON d.id = cd.department_id "
        "WHERE cd.case_id = :i ORDER BY cd.role DESC, d.name"), {"i": case_id}).mappings()]
    # its duplicates: from the key table where cases is partitioned (they can lie in any month;
    # case_key carries duplicate_of with the number and report time: one index, no month read)
    out["duplicates"] = [dict(r) for r in conn.execute(text(
        f"SELECT id, case_no, reported_at FROM {numbers(conn)} WHERE duplicate_of = :i ORDER BY reported_at, id"),
        {"i": case_id}).mappings()]
    out["timeline"] = timeline(conn, case_id, lang=lang, reported_at=out["reported_at"])
    return out


def timeline(conn: Connection, case_id: int, *, lang: str = "zh", reported_at: datetime | None = None) -> list[dict]:
    """The case's events in order, with the actor's name and labels in ``lang``; from the months
    from its report on only (``reported_at``: the case's, if the caller has it; db.partitions.case_bound)."""
    rows = conn.execute(text(f"""
        SELECT e.id, e.at, e.action, e.actor_id, p.full_name AS actor_name, e.actor_role, e.from_status, e.to_status,
               e.from_level, e.to_level, e.department_id, d.name AS department_name, e.comment, e.attachments, e.data,
               e.due_at
        FROM case_event e LEFT JOIN person p ON p.id = e.actor_id LEFT JOIN department d ON d.id = e.department_id
        WHERE e.case_id = :i AND {case_bound(conn, case_id, 'e', events=True, reported_at=reported_at)}
        ORDER BY e.at, e.id"""), {"i": case_id}).mappings()
    out = []
    for r in rows:
        r = dict(r)
        r["action_label"] = label("action", r["action"], lang)
        r["role_label"] = label("role", r["actor_role"], lang)
        r["from_label"] = label("status", r["from_status"], lang)
        r["to_label"] = label("status", r["to_status"], lang)
        out.append(r)
    return out
