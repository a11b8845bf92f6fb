"""What the dispatch page (派单) and the department work queue ask of the lifecycle.

Plain Python, no UI imports: the pages lay out what these functions return. Status, permissions,
deadlines and the definitions of overdue / at risk stay in the lifecycle modules
(``dispatch.service``, ``dispatch.permissions``, ``dispatch.deadlines``, ``dispatch.queries``);
this module only shapes their answers for a screen, as typed rows. Actions do not pass through
here: a submitted form goes to ``dispatch.service.transition`` as it is.

- ``queue_rows`` / ``queue_counts``: the dispatcher's working queues (awaiting sorting, awaiting
  dispatch, awaiting verification, outside the jurisdiction: what the actor's unit must act on
  next) and watch lists (overdue, at risk, not accepted in time, supervised: the actor's whole
  area); ``QueueRow``.
- ``case_panel``: the detail panel (``CasePanel``) — the case, its places and people, the
  timeline, the actions the service allows this actor now, the deadline a dispatch would get,
  who else has it open; ``holder`` / ``holder_for_level`` / ``keeps_case``: which unit holds it
  now, and which would at another level (the 立案 form says so before submitting).
- ``department_cases``: a department's queue with working hours left; ``QueueRow`` with ``role``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any, Mapping, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch import permissions, queries, service
from accounts.actors import Actor
from db.partitions import case_bound, numbers
from dispatch.calendar import TZ, WorkingCalendar
from dispatch.deadlines import ACCEPT_LIMIT, deadline, working_hours_left  # noqa: F401  (ACCEPT_LIMIT: for the pages)
from dispatch.queries import TO_ACCEPT  # noqa: F401  (for the pages: the states waiting for 接收)
from dispatch.states import LEVELS, OPEN_STATUSES, level_rank

# Working queues (each open case is in exactly one, of the unit that must act next, or in its
# lead department's queue), then watch lists across the actor's area (dispatch/queries.py).
WORKING_QUEUES: tuple[str, ...] = ("awaiting_sorting", "awaiting_dispatch", "awaiting_verification", "outside_jurisdiction",
                                   "awaiting_location")
WATCH_LISTS: tuple[str, ...] = ("overdue", "at_risk", "late_accept", "supervised")
QUEUES: tuple[str, ...] = WORKING_QUEUES + WATCH_LISTS
assert set(WORKING_QUEUES) == set(queries.WORKING_QUEUES)
_QUEUE_READERS = {
    "awaiting_sorting": queries.awaiting_sorting,
    "awaiting_dispatch": queries.awaiting_dispatch,
    "awaiting_verification": queries.awaiting_verification,
    "outside_jurisdiction": queries.outside_jurisdiction,
    "awaiting_location": queries.awaiting_location,
    "overdue": queries.overdue_cases,
    "at_risk": queries.at_risk_cases,
    "late_accept": queries.late_accept_cases,
    "supervised": queries.supervised_cases,
}
PRESENCE_SECONDS = 60          # presence older than this is ignored ("being handled by")
DUPLICATE_RADIUS_M = 300       # merge candidates: cases this close …
DUPLICATE_DAYS = 30            # … reported within this many days


# --- typed rows ------------------------------------------------------------------------------------

_Row = TypeVar("_Row")


def _typed(cls: type[_Row], row: Mapping[str, Any]) -> _Row:
    """``cls`` from the keys of ``row`` it declares (a row carries more columns than a screen needs)."""
    return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})


@dataclass(frozen=True)
class QueueRow:
    """One line of a dispatcher queue or of a department's work queue."""
    id: int
    case_no: str
    status: str
    reported_at: datetime
    category_name: str | None = None
    category_name_en: str | None = None
    community_name: str | None = None   # None: outside the jurisdiction
    community_name_en: str | None = None
    due_at: datetime | None = None
    time_state: str | None = None       # 'overdue' | 'at_risk' | 'on_track' | None
    role: str | None = None             # department queue only: 'lead' | 'assist'
    hours_left: float | None = None     # department queue only: working hours to the deadline
    address: str | None = None
    chase_count: int = 0                # 催办 so far (migration 0032)
    awaiting_location: bool = False     # 待定位: an address only, no position yet
    lon: float | None = None            # where it lies (the dispatch map draws the queue shown)
    lat: float | None = None
    supervised: bool = False
    accept_due_at: datetime | None = None  # sent to a department: to be accepted by (migration 0035)
    late_accept: bool = False           # 超时未接收: not accepted by then
    department_name: str | None = None  # the lead department
    department_name_en: str | None = None


@dataclass(frozen=True)
class GridWorker:
    id: int
    full_name: str
    phone: str | None = None


@dataclass(frozen=True)
class CaseDepartment:
    department_id: int
    role: str                           # 'lead' | 'assist'
    name: str
    name_en: str | None = None


@dataclass(frozen=True)
class TimelineEvent:
    """One step of a case's history, with labels in the panel's language."""
    at: datetime
    action: str
    action_label: str
    role_label: str
    from_status: str | None = None
    to_status: str | None = None
    from_label: str = ""
    to_label: str = ""
    actor_name: str | None = None
    department_name: str | None = None
    comment: str | None = None
    attachments: list | None = None     # [{"kind", "ref"}]


@dataclass(frozen=True)
class DuplicateCandidate:
    """A case that may be the original of the one being sorted."""
    id: int
    case_no: str
    status: str
    reported_at: datetime
    metres: int
    category_code: str | None = None
    category_name: str | None = None
    category_name_en: str | None = None


@dataclass(frozen=True)
class Presence:
    """Someone else who has the case open."""
    person_id: int
    full_name: str
    role: str
    seen_at: datetime


# --- queues ----------------------------------------------------------------------------------------

def queue_rows(conn: Connection, *, queue: str, actor: Actor, limit: int = 200) -> list[QueueRow]:
    """One dispatcher queue: a working queue of the actor's unit, or a watch list of their area
    (dispatch.queries does the work)."""
    if queue not in _QUEUE_READERS:
        raise ValueError(f"queue must be one of {QUEUES}, not {queue!r}")
    return [_typed(QueueRow, r) for r in _QUEUE_READERS[queue](conn, actor=actor, limit=limit)]


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


def visible_to(conn: Connection, *, case_id: int, actor: Actor) -> bool:
    """Whether the case lies in the area the actor works on (dispatch.queries.scope_sql)."""
    scope, params = queries.scope_sql(actor)
    return conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM cases c WHERE c.id = :i AND {case_bound(conn, case_id)} "
                             f"AND {scope})"),
                        {**params, "i": case_id}).scalar_one()


def find_case(conn: Connection, *, case_no: str, actor: Actor) -> int | None:
    """The id of case ``case_no`` if the actor may see it."""
    cid = conn.execute(text(f"SELECT id FROM {numbers(conn)} WHERE case_no = :n"), {"n": (case_no or "").strip()}).scalar()
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


# Moves the service accepts only for a case outside every grid (relocate), only inside
# (register, resolve on the spot) or only without a position (locate), and escalation below
# district level: the state table allows them either way and the service refuses the wrong one
# with a message. Offered only where they can succeed.
_OUTSIDE_ONLY = frozenset({"relocate"})
_INSIDE_ONLY = frozenset({"register", "self_handle"})
_UNLOCATED_ONLY = frozenset({"locate"})
# 待定位: locate it, or reject / merge it as it is; and tell its reporter (an address-only report
# came through Open311, whose status_notes are the reporter's only way back)
_UNLOCATED_MAY = _UNLOCATED_ONLY | {"reject", "merge", "reply"}


def allowed_actions(actor: Actor, case: Mapping) -> list[str]:
    """The moves the lifecycle allows this actor on this case now (state table × permissions),
    less those its own input checks would refuse for where the case lies."""
    if case.get("awaiting_location"):
        return [a for a in permissions.available_actions(actor, case) if a in _UNLOCATED_MAY]
    outside = bool(case.get("outside_jurisdiction"))
    skip = set(_INSIDE_ONLY if outside else _OUTSIDE_ONLY) | _UNLOCATED_ONLY
    if not levels_above(case.get("level")):
        skip.add("escalate")  # already at district level
    skip |= _refused_by_the_case(case)
    return [a for a in permissions.available_actions(actor, case) if a not in skip]


def _refused_by_the_case(case: Mapping) -> set[str]:
    """Moves the state table allows but the service's own checks refuse for this case as it is:
    a second supervision or evaluation, a decision on a postponement nobody asked for, a second
    request while one waits (session 14's review: buttons offered only to be refused)."""
    out = set()
    if case.get("supervised"):
        out.add("supervise")
    if case.get("evaluated_at") is not None:
        out.add("evaluate")
    if "postpone_requested_at" in case:
        out |= ({"request_postponement"} if case["postpone_requested_at"] is not None
                else {"approve_postponement", "deny_postponement"})
    return out


@dataclass(frozen=True)
class CasePanel:
    """Everything the detail panel shows of one case (``case_panel``)."""
    id: int
    case_no: str
    version: int                        # what an action form was drawn from (expected_version)
    status: str
    level: str | None
    channel: str
    reported_at: datetime
    lon: float | None                   # None: awaiting location (待定位)
    lat: float | None
    outside_jurisdiction: bool
    supervised: bool
    time_state: str | None
    category_code: str | None
    category_name: str | None
    category_name_en: str | None
    description: str | None
    address: str | None
    received_x: float | None
    received_y: float | None
    received_crs: str | None
    subdistrict_name: str | None
    community_name: str | None
    grid_name: str | None
    grid_code: str | None
    department_id: int | None           # the lead department
    department_name: str | None
    department_name_en: str | None
    community_id: int | None
    subdistrict_id: int | None
    handler_name: str | None
    due_at: datetime | None
    postpone_requested_at: datetime | None
    postpone_requested_due_at: datetime | None
    postpone_request_reason: str | None
    duplicate_of_case_no: str | None
    photo_ref: str | None
    grid_workers: tuple[GridWorker, ...]
    departments: tuple[CaseDepartment, ...]
    timeline: tuple[TimelineEvent, ...]
    actions: tuple[str, ...]            # what the lifecycle allows this actor now
    deadline_preview: DeadlinePreview | None    # when dispatch is allowed
    duplicate_candidates: tuple[DuplicateCandidate, ...]  # when merge is allowed
    others: tuple[Presence, ...]        # who else has it open
    subdistrict_name_en: str | None = None
    community_name_en: str | None = None
    awaiting_location: bool = False     # 待定位: an address only; the dispatcher locates it
    chase_count: int = 0                # 催办 (migration 0032): how often, and when last
    last_chased_at: datetime | None = None
    public_reply: str | None = None     # 答复市民 (migration 0034): what the reporter was last told, and when
    public_reply_at: datetime | None = None
    accept_due_at: datetime | None = None  # to be accepted by its lead department by (migration 0035)
    late_accept: bool = False           # 超时未接收


def case_version(conn: Connection, *, case_id: int) -> int | None:
    """Case ``case_id``'s row version (None: no such case): whether a panel drawn from it is out of date."""
    return conn.execute(text("SELECT version FROM cases WHERE id = :i"), {"i": case_id}).scalar()


def case_panel(conn: Connection, *, case_id: int, actor: Actor, lang: str = "zh") -> CasePanel | None:
    """Everything the detail panel shows, or None if the case does not exist or is not the actor's to see."""
    if not visible_to(conn, case_id=case_id, actor=actor):
        return None
    detail = queries.case_detail(conn, case_id, lang=lang)
    if detail is None:
        return None
    actions = allowed_actions(actor, detail)
    return _typed(CasePanel, {
        **detail,
        "grid_workers": tuple(_typed(GridWorker, w) for w in detail["grid_workers"]),
        "departments": tuple(_typed(CaseDepartment, d) for d in detail["departments"]),
        "timeline": tuple(_typed(TimelineEvent, e) for e in detail["timeline"]),
        "actions": tuple(actions),
        "deadline_preview": preview_deadline(conn, detail) if "dispatch" in actions else None,
        "duplicate_candidates": tuple(duplicate_candidates(conn, detail, actor=actor)) if "merge" in actions else (),
        "others": tuple(others_on_case(conn, case_id=case_id, actor=actor)),
    })


def duplicate_candidates(conn: Connection, case: Mapping, *, actor: Actor | None = None,
                         limit: int = 8) -> list[DuplicateCandidate]:
    """Cases that may be the original of ``case``: near it, reported shortly before or after, not
    duplicates themselves, in the area ``actor`` works on (the only ones a merge accepts); nearest first."""
    scope, params = queries.scope_sql(actor, "o") if actor is not None else ("TRUE", {})
    # the box first (the GiST of each half of the points: open, then closed, migration 0018), then
    # metres on the sphere; the days as a difference, a filter on the few rows in the box (as a
    # range on reported_at the planner ANDs in the index of a month of cases, ten times slower)
    near = ("o.id <> c.id AND o.geom && ST_Expand(c.geom, :r / 111320.0 / cos(radians(ST_Y(c.geom)))) "
            "AND ST_DWithin(o.geom::geography, c.geom::geography, :r) "
            "AND o.reported_at - c.reported_at BETWEEN -make_interval(days => :d) AND make_interval(days => :d)")
    rows = conn.execute(text(f"""
        SELECT o.id, o.case_no, o.status, o.category_code, k.name AS category_name, k.name_en AS category_name_en,
               o.reported_at, round(ST_Distance(o.geom::geography, c.geom::geography))::int AS metres
        FROM cases c
        -- not merged or rejected: the open cases and the closed ones
        CROSS JOIN LATERAL (SELECT o.* FROM cases o WHERE {queries.open_sql('o')} AND {near}
                            UNION ALL
                            SELECT o.* FROM cases o WHERE o.status = 'closed' AND {near}) o
        LEFT JOIN case_category k ON k.code = o.category_code
        WHERE c.id = :i AND {case_bound(conn, case['id'])} AND {scope}
        ORDER BY (o.category_code IS NOT DISTINCT FROM c.category_code) DESC, metres, o.reported_at DESC
        LIMIT :n"""), {**params, "i": case["id"], "r": DUPLICATE_RADIUS_M, "d": DUPLICATE_DAYS, "n": limit}).mappings()
    return [_typed(DuplicateCandidate, r) for r in rows]


# --- who holds a case (the level trap: say where a case goes before and after) ----------------------

@dataclass(frozen=True)
class Holder:
    """The unit that must act next on a case (办理单位)."""
    kind: str                           # 'community' | 'subdistrict' | 'district' | 'department' | 'unsorted'
    name: str | None = None             # the community's, subdistrict's or department's name
    name_en: str | None = None


def _where(p: CasePanel, level: str | None) -> dict:
    return {"status": "registered", "level": level, "community_id": p.community_id, "subdistrict_id": p.subdistrict_id}


def holder_for_level(p: CasePanel, level: str | None) -> Holder:
    """The unit that sorts and dispatches case ``p`` once it is at ``level`` (permissions.owner_level)."""
    owner = permissions.owner_level(_where(p, level))
    if owner == "community":
        return Holder("community", p.community_name)
    if owner == "subdistrict":
        return Holder("subdistrict", p.subdistrict_name)
    return Holder(owner or "unsorted")


def holder(p: CasePanel) -> Holder | None:
    """Who must act next on case ``p`` now: its lead department while the department works on
    it, else the unit owning its level; None once it is closed."""
    if p.status not in OPEN_STATUSES:
        return None
    if p.status in queries.DEPARTMENT_WORKING:
        return Holder("department", p.department_name, p.department_name_en)
    return holder_for_level(p, p.level)


def keeps_case(actor: Actor, p: CasePanel, level: str) -> bool:
    """Whether the actor's unit would still dispatch case ``p`` at ``level`` (else it hands it over)."""
    return permissions.may(actor, "dispatch", _where(p, level))


# --- presence ("being handled by X") ------------------------------------------------------------------

def others_on_case(conn: Connection, *, case_id: int, actor: Actor) -> list[Presence]:
    """Other people who had the case open within the last minute."""
    return [_typed(Presence, r)
            for r in service.others_present(conn, case_id=case_id, actor=actor, within_seconds=PRESENCE_SECONDS)]


def keep_presence(conn: Connection, *, case_id: int, actor: Actor) -> list[Presence]:
    """Record that the actor has the case open now, and no other case (one panel a person);
    returns who else has it open."""
    service.leave_cases(conn, actor=actor, keep_case_id=case_id)
    service.mark_presence(conn, case_id=case_id, actor=actor)
    return others_on_case(conn, case_id=case_id, actor=actor)


def leave_cases(conn: Connection, *, actor: Actor) -> None:
    """The actor has no case open any more (the panel let go of it, or they signed out)."""
    service.leave_cases(conn, actor=actor)


# --- form helpers ------------------------------------------------------------------------------------

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

def department_cases(conn: Connection, *, department_id: int, limit: int = 200) -> list[QueueRow]:
    """Cases the department leads or assists now, nearest deadline first, with working hours left."""
    rows = queries.department_queue(conn, department_id=department_id, limit=limit)
    if not rows:
        return []
    cal = WorkingCalendar.from_db(conn)
    now = conn.execute(text("SELECT now()")).scalar_one()
    return [_typed(QueueRow, {**r, "hours_left": round(working_hours_left(cal, now, r["due_at"]), 1)
                                                 if r.get("due_at") else None}) for r in rows]


# Filters of the department queue: what the department must do next, or how late it is.
DEPARTMENT_FILTERS: tuple[str, ...] = ("all", "to_accept", "late_accept", "disposing", "overdue", "at_risk")
_DEPARTMENT_FILTER = {
    "all": lambda r: True,
    "to_accept": lambda r: r.status in TO_ACCEPT,
    "late_accept": lambda r: r.late_accept and r.role != "assist",  # only the lead accepts
    "disposing": lambda r: r.status in ("disposing", "postponed"),
    "overdue": lambda r: r.time_state == "overdue",
    "at_risk": lambda r: r.time_state == "at_risk",
}
assert set(_DEPARTMENT_FILTER) == set(DEPARTMENT_FILTERS)


def department_filter(rows: list[QueueRow], name: str) -> list[QueueRow]:
    """The rows of a department queue that ``name`` (one of ``DEPARTMENT_FILTERS``) keeps."""
    if name not in _DEPARTMENT_FILTER:
        raise ValueError(f"filter must be one of {DEPARTMENT_FILTERS}, not {name!r}")
    return [r for r in rows if _DEPARTMENT_FILTER[name](r)]


def default_due_choice(preview: DeadlinePreview | None, now: datetime | None = None) -> datetime:
    """The deadline the dispatch form starts with: the computed one, else tomorrow's close of business."""
    if preview is not None:
        return preview.due_at
    base = (now or datetime.now(TZ)).astimezone(TZ) + timedelta(days=1)
    return base.replace(hour=17, minute=30, second=0, microsecond=0)
