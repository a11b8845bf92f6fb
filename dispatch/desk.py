"""What the dispatch page (派单) and the department work queue ask of the lifecycle.

Plain Python, no UI imports: the pages lay out what these functions return. Status, permissions,
deadlines and the definitions of overdue / at risk stay in the lifecycle modules
(``dispatch.service``, ``dispatch.permissions``, ``dispatch.deadlines``, ``dispatch.queries``);
this module only shapes their answers for a screen and turns a submitted form into one call of
the matching service wrapper.

- ``queue_rows`` / ``queue_counts``: the dispatcher's queues (awaiting sorting, outside the
  jurisdiction, overdue, at risk, supervised), limited to the actor's area.
- ``case_panel``: the detail panel — the case, its places and people, the timeline, the actions
  the service allows this actor now, the deadline a dispatch would get, who else has it open.
- ``ACTION_FORMS`` / ``perform_action``: the inputs each action takes, and the call that does it.
- ``department_cases``: a department's queue with working hours left.
- ``case_id_from_selection``: the case a map click picked (by the object's own id field).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch import permissions, queries, service
from accounts.actors import Actor
from dispatch.calendar import TZ, WorkingCalendar
from dispatch.deadlines import deadline, working_hours_left
from dispatch.errors import InvalidInput
from dispatch.states import LEVELS, level_rank
from gis.crs import STORAGE_CRS

QUEUES: tuple[str, ...] = ("awaiting_sorting", "outside_jurisdiction", "overdue", "at_risk", "supervised")
_QUEUE_READERS = {
    "awaiting_sorting": queries.awaiting_sorting,
    "outside_jurisdiction": queries.outside_jurisdiction,
    "overdue": queries.overdue_cases,
    "at_risk": queries.at_risk_cases,
    "supervised": queries.supervised_cases,
}
PRESENCE_SECONDS = 60          # presence older than this is ignored ("being handled by")
MAP_LAYER = "cases"            # the wall's pickable case layer (wall/frame.py); its objects carry the id in "i"
MAP_ID_FIELD = "i"
DUPLICATE_RADIUS_M = 300       # merge candidates: cases this close …
DUPLICATE_DAYS = 30            # … reported within this many days
PHOTO_ROOT = Path(os.environ.get("GRIDGOV_PHOTO_DIR", Path(__file__).resolve().parent.parent / "var" / "photos"))


# --- queues ----------------------------------------------------------------------------------------

def queue_rows(conn: Connection, *, queue: str, actor: Actor, limit: int = 200) -> list[dict]:
    """One dispatcher queue, scoped to the actor's area (dispatch.queries does the work)."""
    if queue not in _QUEUE_READERS:
        raise ValueError(f"queue must be one of {QUEUES}, not {queue!r}")
    return _QUEUE_READERS[queue](conn, actor=actor, limit=limit)


def queue_counts(conn: Connection, *, actor: Actor) -> dict[str, int]:
    """Badge sizes of the queues in the actor's area."""
    counts = queries.queue_counts(conn, actor=actor)
    return {q: int(counts.get(q, 0)) for q in QUEUES}


def area_of(actor: Actor) -> dict[str, tuple[int, ...]]:
    """The map area a dispatcher works in: their community, their subdistrict, or everything."""
    if actor.role == "dispatcher" and actor.unit_level == "community" and actor.community_id:
        return {"communities": (actor.community_id,)}
    if actor.role == "dispatcher" and actor.unit_level == "subdistrict" and actor.subdistrict_id:
        return {"subdistricts": (actor.subdistrict_id,)}
    return {}


def case_id_from_selection(selection: Mapping | None) -> int | None:
    """The case picked on the map: ``{"selection": {"objects": {"cases": [{"i": id, …}]}}}``.

    Resolved from the object's own id field, never from its index (the data may have changed
    between the draw and the click). A click on a grid or anything else gives None.
    """
    if not selection:
        return None
    sel = selection.get("selection", selection) if isinstance(selection, Mapping) else None
    objects = (sel or {}).get("objects") or {}
    picked = objects.get(MAP_LAYER) or []
    if not picked:
        return None
    value = picked[0].get(MAP_ID_FIELD) if isinstance(picked[0], Mapping) else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def visible_to(conn: Connection, *, case_id: int, actor: Actor) -> bool:
    """Whether the case lies in the area the actor works on (dispatch.queries.scope_sql)."""
    scope, params = queries.scope_sql(actor)
    return conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM cases c WHERE c.id = :i AND {scope})"),
                        {**params, "i": case_id}).scalar_one()


def find_case(conn: Connection, *, case_no: str, actor: Actor) -> int | None:
    """The id of case ``case_no`` if the actor may see it."""
    cid = conn.execute(text("SELECT id FROM cases WHERE case_no = :n"), {"n": (case_no or "").strip()}).scalar()
    return cid if cid is not None and visible_to(conn, case_id=cid, actor=actor) else None


# --- the detail panel --------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeadlinePreview:
    due_at: datetime
    value: float
    unit: str
    source: str  # 'policy' | 'default'


def preview_deadline(conn: Connection, case: Mapping, *, now: datetime | None = None) -> DeadlinePreview:
    """The deadline a dispatch now would get (the service computes it again at dispatch)."""
    now = now or conn.execute(text("SELECT now()")).scalar_one()
    dl = deadline(conn, WorkingCalendar.from_db(conn), category_code=case.get("category_code"),
                  level=case.get("level"), start=now)
    return DeadlinePreview(dl.due_at.astimezone(TZ), dl.value, dl.unit, dl.source)


# Moves the service accepts only for a case outside every grid (relocate) or only inside
# (register, resolve on the spot), and escalation below district level: the state table allows
# them either way and the service refuses the wrong one with a message. Offered only where they
# can succeed.
_OUTSIDE_ONLY = frozenset({"relocate"})
_INSIDE_ONLY = frozenset({"register", "self_handle"})


def allowed_actions(actor: Actor, case: Mapping) -> list[str]:
    """The moves the lifecycle allows this actor on this case now (state table × permissions),
    less those its own input checks would refuse for where the case lies."""
    outside = bool(case.get("outside_jurisdiction"))
    skip = set(_INSIDE_ONLY if outside else _OUTSIDE_ONLY)
    if not levels_above(case.get("level")):
        skip.add("escalate")  # already at district level
    return [a for a in permissions.available_actions(actor, case) if a not in skip]


def case_panel(conn: Connection, *, case_id: int, actor: Actor, lang: str = "zh") -> dict | None:
    """Everything the detail panel shows, or None if the case does not exist or is not the actor's to see."""
    if not visible_to(conn, case_id=case_id, actor=actor):
        return None
    detail = queries.case_detail(conn, case_id, lang=lang)
    if detail is None:
        return None
    detail["actions"] = allowed_actions(actor, detail)
    detail["deadline_preview"] = preview_deadline(conn, detail) if "dispatch" in detail["actions"] else None
    detail["duplicate_candidates"] = duplicate_candidates(conn, detail) if "merge" in detail["actions"] else []
    detail["others"] = others_on_case(conn, case_id=case_id, actor=actor)
    detail["photo_file"] = photo_file(detail.get("photo_ref"))
    return detail


def duplicate_candidates(conn: Connection, case: Mapping, *, limit: int = 8) -> list[dict]:
    """Cases that may be the original of ``case``: near it, reported shortly before or after, not
    duplicates themselves; nearest first."""
    rows = conn.execute(text("""
        SELECT o.id, o.case_no, o.status, o.category_code, k.name AS category_name, k.name_en AS category_name_en,
               o.reported_at, round(ST_Distance(o.geom::geography, c.geom::geography))::int AS metres
        FROM cases c JOIN cases o ON o.id <> c.id AND o.status NOT IN ('merged', 'rejected')
             -- the box first (GiST on cases.geom), then metres on the sphere
             AND o.geom && ST_Expand(c.geom, :r / 111320.0 / cos(radians(ST_Y(c.geom))))
             AND ST_DWithin(o.geom::geography, c.geom::geography, :r)
             AND o.reported_at BETWEEN c.reported_at - make_interval(days => :d) AND c.reported_at + make_interval(days => :d)
        LEFT JOIN case_category k ON k.code = o.category_code
        WHERE c.id = :i
        ORDER BY (o.category_code IS NOT DISTINCT FROM c.category_code) DESC, metres, o.reported_at DESC
        LIMIT :n"""), {"i": case["id"], "r": DUPLICATE_RADIUS_M, "d": DUPLICATE_DAYS, "n": limit}).mappings()
    return [dict(r) for r in rows]


def photo_file(ref: str | None) -> Path | None:
    """The stored photo behind a reference, if this server holds it (references may point to
    another system; then only the reference is shown)."""
    if not ref or ref.startswith("/") or ".." in Path(ref).parts:
        return None
    path = PHOTO_ROOT / ref
    return path if path.is_file() else None


# --- presence ("being handled by X") ------------------------------------------------------------------

def others_on_case(conn: Connection, *, case_id: int, actor: Actor) -> list[dict]:
    """Other people who had the case open within the last minute."""
    return service.others_present(conn, case_id=case_id, actor=actor, within_seconds=PRESENCE_SECONDS)


def keep_presence(conn: Connection, *, case_id: int, actor: Actor) -> list[dict]:
    """Record that the actor has the case open now; returns who else has it open."""
    service.mark_presence(conn, case_id=case_id, actor=actor)
    return others_on_case(conn, case_id=case_id, actor=actor)


# --- actions -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    name: str
    kind: str   # note | reason | level | level_up | category | department | departments | due | datetime
    #             | case | photo | bool | score | number | crs
    required: bool = False


_NOTE = Field("comment", "note")
ACTION_FORMS: dict[str, tuple[Field, ...]] = {
    "register": (Field("level", "level"), Field("category_code", "category"), _NOTE),
    "reject": (Field("reason", "reason", True),),
    "merge": (Field("duplicate_of", "case", True), _NOTE),
    "relocate": (Field("lon", "number", True), Field("lat", "number", True), Field("crs", "crs"), _NOTE),
    "set_level": (Field("level", "level", True), Field("reason", "note")),
    "escalate": (Field("to_level", "level_up"), Field("major", "bool"), Field("reason", "reason", True)),
    "dispatch": (Field("department_id", "department", True), Field("assist_department_ids", "departments"),
                 Field("due_at", "due"), Field("due_reason", "reason"), _NOTE),
    "close": (Field("comment", "note", True), Field("result_photo_ref", "photo")),
    "self_handle": (Field("after_photo_ref", "photo", True), Field("before_photo_ref", "photo"), _NOTE),
    "accept": (_NOTE,),
    "return": (Field("reason", "reason", True),),
    "request_postponement": (Field("until", "datetime"), Field("reason", "reason", True)),
    "approve_postponement": (Field("due_at", "datetime"), _NOTE),
    "deny_postponement": (Field("comment", "reason", True),),
    "feed_back": (Field("note", "note", True), Field("photo_ref", "photo")),
    "verify_pass": (_NOTE,),
    "verify_fail": (Field("comment", "reason", True),),
    "supervise": (_NOTE,),
    "evaluate": (Field("score", "score", True), _NOTE),
}

_CALLS = {
    "register": lambda c, v: service.register_case(c, level=v.get("level"), category_code=v.get("category_code"),
                                                   comment=v.get("comment"), **v["_kw"]),
    "reject": lambda c, v: service.reject_case(c, reason=v.get("reason"), **v["_kw"]),
    "merge": lambda c, v: service.merge_case(c, duplicate_of=v.get("duplicate_of"), comment=v.get("comment"), **v["_kw"]),
    "relocate": lambda c, v: service.relocate_case(c, lon=v.get("lon"), lat=v.get("lat"),
                                                   crs=v.get("crs") or STORAGE_CRS, comment=v.get("comment"), **v["_kw"]),
    "set_level": lambda c, v: service.set_level(c, level=v.get("level"), reason=v.get("reason"), **v["_kw"]),
    "escalate": lambda c, v: service.escalate_case(c, reason=v.get("reason"), to_level=v.get("to_level"),
                                                   major=bool(v.get("major")), **v["_kw"]),
    "dispatch": lambda c, v: service.dispatch_case(c, department_id=v.get("department_id"), due_at=v.get("due_at"),
                                                   due_reason=v.get("due_reason"),
                                                   assist_department_ids=v.get("assist_department_ids") or (),
                                                   comment=v.get("comment"), **v["_kw"]),
    "close": lambda c, v: service.close_case(c, comment=v.get("comment"), result_photo_ref=v.get("result_photo_ref"),
                                             **v["_kw"]),
    "self_handle": lambda c, v: service.self_handle_case(c, after_photo_ref=v.get("after_photo_ref"),
                                                         before_photo_ref=v.get("before_photo_ref"),
                                                         comment=v.get("comment"), **v["_kw"]),
    "accept": lambda c, v: service.accept_case(c, comment=v.get("comment"), **v["_kw"]),
    "return": lambda c, v: service.return_case(c, reason=v.get("reason"), **v["_kw"]),
    "request_postponement": lambda c, v: service.postpone_case(c, reason=v.get("reason"), until=v.get("until"), **v["_kw"]),
    "approve_postponement": lambda c, v: service.approve_postponement(c, approve=True, due_at=v.get("due_at"),
                                                                      comment=v.get("comment"), **v["_kw"]),
    "deny_postponement": lambda c, v: service.approve_postponement(c, approve=False, comment=v.get("comment"), **v["_kw"]),
    "feed_back": lambda c, v: service.feed_back(c, note=v.get("note"), photo_ref=v.get("photo_ref"), **v["_kw"]),
    "verify_pass": lambda c, v: service.verify_case(c, passed=True, comment=v.get("comment"), **v["_kw"]),
    "verify_fail": lambda c, v: service.verify_case(c, passed=False, comment=v.get("comment"), **v["_kw"]),
    "supervise": lambda c, v: service.supervise_case(c, comment=v.get("comment"), **v["_kw"]),
    "evaluate": lambda c, v: service.evaluate_case(c, score=v.get("score"), comment=v.get("comment"), **v["_kw"]),
}
assert set(_CALLS) == set(ACTION_FORMS)


def _clean(values: Mapping[str, Any]) -> dict:
    out = {}
    for k, v in values.items():
        if isinstance(v, str):
            v = v.strip() or None
        if v in ((), []):
            v = None
        out[k] = v
    return out


def perform_action(conn: Connection, *, case_id: int, action: str, actor: Actor, values: Mapping[str, Any],
                   expected_version: int | None = None) -> dict:
    """Carry out ``action`` with the submitted form ``values`` through the lifecycle service.

    ``expected_version`` is the case version the form was drawn from: if someone acted in
    between, the service raises ``Conflict`` naming who did what. Every permission and input
    check is the service's; an action the form does not know is refused here too.
    """
    if action not in _CALLS:
        raise InvalidInput(f"未知操作 {action!r}", f"Unknown action {action!r}")
    v = _clean(values)
    if action == "merge" and isinstance(v.get("duplicate_of"), str):
        found = conn.execute(text("SELECT id FROM cases WHERE case_no = :n"), {"n": v["duplicate_of"]}).scalar()
        if found is None:
            raise InvalidInput(f"案件 {v['duplicate_of']} 不存在", f"No case {v['duplicate_of']}")
        v["duplicate_of"] = found
    v["_kw"] = {"case_id": case_id, "actor": actor, "expected_version": expected_version}
    return _CALLS[action](conn, v)


def due_override(chosen: datetime | None, computed: datetime | None) -> datetime | None:
    """The deadline to send with a dispatch: None (let the service compute it at the dispatch
    instant) when the dispatcher kept the proposed one, to the minute."""
    if chosen is None:
        return None
    if computed is not None and abs((chosen - computed).total_seconds()) < 60:
        return None
    return chosen


def local_datetime(d: date | None, t: time | None) -> datetime | None:
    """A date and a time picked on screen, as Asia/Shanghai wall time."""
    if d is None:
        return None
    return datetime.combine(d, t or time(17, 30), tzinfo=TZ)


def levels_above(level: str | None) -> list[str]:
    """Levels an escalation may go to: the next one, and district (for a major problem)."""
    rank = level_rank(level)
    if rank >= len(LEVELS) - 1:
        return []
    nxt = LEVELS[rank + 1]
    return [nxt] if nxt == "district" else [nxt, "district"]


# --- reference lists ---------------------------------------------------------------------------------

def departments(conn: Connection) -> list[dict]:
    """Active departments: id, code, name, name_en."""
    return [dict(r) for r in conn.execute(text(
        "SELECT id, code, name, name_en FROM department WHERE active ORDER BY code")).mappings()]


def categories(conn: Connection) -> list[dict]:
    """Case categories: code, name, name_en, default level and department."""
    return [dict(r) for r in conn.execute(text(
        "SELECT code, name, name_en, major_name, default_level, default_department_id FROM case_category "
        "ORDER BY code")).mappings()]


# --- the department work queue -----------------------------------------------------------------------

def department_cases(conn: Connection, *, department_id: int, limit: int = 200) -> list[dict]:
    """Cases the department leads or assists now, nearest deadline first, with working hours left."""
    rows = queries.department_queue(conn, department_id=department_id, limit=limit)
    if not rows:
        return rows
    cal = WorkingCalendar.from_db(conn)
    now = conn.execute(text("SELECT now()")).scalar_one()
    for r in rows:
        r["hours_left"] = round(working_hours_left(cal, now, r["due_at"]), 1) if r.get("due_at") else None
    return rows


def default_due_choice(preview: DeadlinePreview | None, now: datetime | None = None) -> datetime:
    """The deadline the dispatch form starts with: the computed one, else tomorrow's close of business."""
    if preview is not None:
        return preview.due_at
    base = (now or datetime.now(TZ)).astimezone(TZ) + timedelta(days=1)
    return base.replace(hour=17, minute=30, second=0, microsecond=0)
