"""Replay stored event logs against the rules: ``audit_history(conn, ...) -> list[str]``.

For each audited case, its events in order (at, id) must: start with 'report' into 'reported'
at the case's report time; follow the transition table (from-state = the previous to-state,
legal move, right target); never go back in time; happen at working time (every step after
the report); be done by someone the permission rules allow for the case as it was then; and end
in the case's stored status, level and version. Returns one line per problem (empty: clean).
Used by the tests of the history simulator; the sample loader can call it too.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch import permissions
from accounts.actors import all_actors
from dispatch.calendar import WorkingCalendar
from dispatch.states import REPORT, TRANSITIONS, target


def audit_history(conn: Connection, *, case_ids: list[int] | None = None, sample: int | None = None,
                  seed: float = 0.5, check_permissions: bool = True) -> list[str]:
    """Problems found in the event logs of ``case_ids`` (or a random ``sample`` of cases, or all)."""
    cal = WorkingCalendar.from_db(conn)
    if case_ids is None:
        conn.execute(text("SELECT setseed(:s)"), {"s": seed})
        q = "SELECT id FROM cases ORDER BY random()" + (f" LIMIT {int(sample)}" if sample else "")
        case_ids = [r[0] for r in conn.execute(text(q))]
    if not case_ids:
        return []
    cases = {r["id"]: dict(r) for r in conn.execute(text(
        "SELECT id, case_no, status, level, version, reported_at, community_id, subdistrict_id, department_id "
        "FROM cases WHERE id = ANY(:ids)"), {"ids": case_ids}).mappings()}
    people = all_actors(conn)
    events: dict[int, list] = {i: [] for i in case_ids}
    for e in conn.execute(text(
            "SELECT case_id, id, at, actor_id, actor_role, action, from_status, to_status, from_level, to_level, "
            "department_id FROM case_event WHERE case_id = ANY(:ids) ORDER BY case_id, at, id"),
            {"ids": case_ids}).mappings():
        events[e["case_id"]].append(e)
    problems: list[str] = []
    for cid in case_ids:
        c = cases.get(cid)
        if c is None:
            problems.append(f"case {cid}: missing")
            continue
        problems += _audit_case(c, events[cid], cal, people if check_permissions else None)
    return problems


def _audit_case(c: dict, evs: list, cal: WorkingCalendar, people: dict | None) -> list[str]:
    no = c["case_no"]
    if not evs:
        return [f"{no}: no events"]
    out = []
    first = evs[0]
    if first["action"] != REPORT or first["from_status"] is not None or first["to_status"] != "reported":
        out.append(f"{no}: first event is {first['action']} {first['from_status']}→{first['to_status']}, not report")
    if first["at"] != c["reported_at"]:
        out.append(f"{no}: report event at {first['at']} but reported_at {c['reported_at']}")
    state = {"status": "reported", "level": None, "community_id": c["community_id"],
             "subdistrict_id": c["subdistrict_id"], "department_id": None, "case_no": no}
    prev_at = first["at"]
    for e in evs[1:]:
        act, src, dst = e["action"], e["from_status"], e["to_status"]
        where = f"{no} @{e['at']:%Y-%m-%d %H:%M} {act}"
        if e["at"] < prev_at:
            out.append(f"{where}: goes back in time")
        prev_at = e["at"]
        if src != state["status"]:
            out.append(f"{where}: from {src} but the case was {state['status']}")
        move = TRANSITIONS.get(act)
        if move is None or src not in move.sources:
            out.append(f"{where}: illegal move from {src}")
        elif dst != target(act, src):
            out.append(f"{where}: ends in {dst}, table says {target(act, src)}")
        if not cal.is_working_time(e["at"]):
            out.append(f"{where}: outside working time")
        if people is not None:
            actor = people.get(e["actor_id"])
            if actor is None:
                out.append(f"{where}: no actor")
            else:
                d = permissions.denial(actor, act, state)
                if d is not None:
                    out.append(f"{where}: {actor.username} ({actor.role}) not permitted ({d[0]})")
        state.update(status=dst, level=e["to_level"], department_id=e["department_id"])
    if state["status"] != c["status"] or state["level"] != c["level"]:
        out.append(f"{no}: events end in {state['status']}/{state['level']}, case is {c['status']}/{c['level']}")
    if c["version"] != len(evs):
        out.append(f"{no}: version {c['version']} but {len(evs)} events")
    return out
