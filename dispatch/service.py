"""The case lifecycle service: one transition function owns case status.

``transition(conn, *, case_id, action, actor, expected_version=None, at=None, comment=None,
attachments=None, **values) -> dict`` locks the case row, checks the version
(``expected_version``: the ``cases.version`` the caller saw; a different one raises
``Conflict`` naming who did what and when), checks the move against the transition table
(``IllegalTransition``) and the actor's permission (``PermissionDenied``), validates the
values (``InvalidInput``), updates the case and appends one ``case_event`` — atomically: in a
savepoint if the caller has a transaction open (the caller then commits), else in a
transaction of its own that commits. It returns the updated case row as a dict.

Each move has one handler here that declares the values it takes as keyword-only parameters
(``_dispatch(ctx, *, department_id=None, due_at=None, due_reason=None,
assist_department_ids=())``); ``parameters(action)`` lists them. ``comment`` is every move's
event comment (the reason of a rejection, a return, an escalation …). A value the move does not
take, or a required one that is missing (``None`` counts as not given), is an ``InvalidInput``
naming the field. The dispatch page's forms name their fields after these parameters and pass
what was submitted straight through.

``report_case(...)`` creates a case (the database puts it in its grid) with its 'report' event.
A report with an address and no position (``lon``/``lat`` None) is stored awaiting location
(待定位: no grid, queued for a dispatcher); ``locate`` gives it its point once, and the database
then assigns the grid by the same rule as for a new report (migration 0011); the possible
duplicates are then linked by the same search as a new report's (``dispatch.duplicates``), as
they are when ``relocate`` moves a case from outside the jurisdiction into a grid.
``at`` (default: the database clock) exists for imports and tests; it may not go back before
the case's last event.

Every event records the case's state after it (status, level, lead department, handler,
deadline, postponed, grid, and whether it still awaits location); the indicators are computed
from those events.
"""
from __future__ import annotations

import inspect
import json
import re
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from dispatch import duplicates, permissions, queries
from accounts.actors import Actor, UnknownActor, load_actor
from db.config import STORAGE_SRID
from db.models import CaseCategory, Department
from db.partitions import case_bound
from dispatch.calendar import FIRST_DAY, LAST_DAY, TZ, WorkingCalendar
from dispatch.deadlines import accept_due, deadline, time_limit, warn_instant
from dispatch.errors import (CaseNotFound, Conflict, DatabaseUnavailable, IllegalTransition, InvalidInput, LifecycleError,
                             PermissionDenied)
from dispatch.states import CHANNELS, LEVELS, TRANSITIONS, can, label, level_rank, target
from gis.crs import STORAGE_CRS
from gis.crs import to_wgs84 as convert_to_wgs84

_BUSY_CODES = {"55P03", "40001", "40P01"}  # lock not available, serialization failure, deadlock


@contextmanager
def _atomic(conn: Connection):
    try:
        if conn.in_transaction():
            with conn.begin_nested():
                yield
        else:
            with conn.begin():
                yield
    except sa_exc.DBAPIError as e:
        if db_unavailable(e):  # every service call: "try again", never a traceback
            raise DatabaseUnavailable() from e
        raise


def _db_busy(e: sa_exc.DBAPIError) -> bool:
    return getattr(getattr(e, "orig", None), "pgcode", None) in _BUSY_CODES


# Connection lost or refused (server restarting, shutting down, not accepting yet): SQLSTATE class
# 08 and 57P01–57P03; psycopg2 reports a dropped socket with no code at all, which SQLAlchemy marks
# ``connection_invalidated``. The transaction did not commit (a connection lost during COMMIT itself
# is the one ambiguous case: a retry with ``expected_version`` then gets a Conflict naming the move).
def db_unavailable(e: BaseException) -> bool:
    if not isinstance(e, sa_exc.DBAPIError):
        return False
    code = getattr(getattr(e, "orig", None), "pgcode", None) or ""
    return (e.connection_invalidated or code.startswith("08") or code in ("57P01", "57P02", "57P03")
            or (isinstance(e, sa_exc.OperationalError) and not code))


def _last_event(conn: Connection, case_id: int) -> dict | None:
    row = conn.execute(text(
        "SELECT e.at, e.action, e.actor_role AS role, p.full_name AS by FROM case_event e "
        f"LEFT JOIN person p ON p.id = e.actor_id WHERE e.case_id = :c AND {case_bound(conn, case_id, 'e', events=True)} "
        "ORDER BY e.at DESC, e.id DESC LIMIT 1"),
        {"c": case_id}).mappings().one_or_none()
    return dict(row) if row else None


class _Ctx:
    """What an action handler sees."""

    def __init__(self, conn, row, actor, now, comment):
        self.conn, self.row, self.actor, self.now, self.comment = conn, row, actor, now, comment
        self.data: dict[str, Any] = {}
        self.attachments: list = []
        self.after: list = []  # callables run after the case update (side tables)
        self._cal: WorkingCalendar | None = None

    @property
    def cal(self) -> WorkingCalendar:
        if self._cal is None:
            self._cal = WorkingCalendar.from_db(self.conn)
        return self._cal

    def need_comment(self, zh: str, en: str) -> str:
        c = (self.comment or "").strip()
        if not c:
            raise InvalidInput(zh, en)
        return c

    def wh_since(self, start: datetime | None) -> float:
        return self.cal.working_hours_between(start, self.now) if start else 0.0


# --- action handlers: each declares the values it takes; returns the column updates ----------------

def _need_position(ctx: _Ctx) -> None:
    if ctx.row["geom"] is None:
        raise InvalidInput("案件待定位：请先根据地址定位", "The case awaits location: locate it from its address first")


def _register(ctx: _Ctx, *, level=None, category_code=None) -> dict:
    row = ctx.row
    _need_position(ctx)
    if row["outside_jurisdiction"]:
        raise InvalidInput("案件位置在辖区外：请先重新定位或不予立案",
                           "The case lies outside the jurisdiction: relocate or reject it first")
    category = category_code or row["category_code"]
    cat = _category(ctx.conn, category) if category else None
    level = level or (cat["default_level"] if cat else "community")
    _check_level(level)
    ctx.data.update(category_code=category, level=level)
    return {"registered_at": ctx.now, "level": level, "category_code": category}


def _reject(ctx: _Ctx) -> dict:
    reason = ctx.need_comment("不予立案须填写理由", "A rejection needs a reason")
    return {"rejected_at": ctx.now, "reject_reason": reason}


def _merge(ctx: _Ctx, *, duplicate_of) -> dict:
    """``duplicate_of``: the original's id, or its case number as typed (a string)."""
    dup = duplicate_of
    # A string is a case number (what a person types); an id comes as a number.
    by = "case_no" if isinstance(dup, str) else "id"
    try:
        value = dup.strip() if by == "case_no" else int(dup)
    except (TypeError, ValueError):
        raise InvalidInput(f"原案件 {dup!r} 不是案件编号", f"{dup!r} is not a case number") from None
    # Only a case the actor may see (the area they work on, queries.scope_sql, as the desk's
    # visible_to): a case elsewhere is answered like a missing one, so its existence is not told.
    scope, params = queries.scope_sql(ctx.actor, "o")
    orig = ctx.conn.execute(text(f"SELECT id, case_no, status, {scope} AS visible FROM cases o WHERE {by} = :v"),
                            {**params, "v": value}).one_or_none()
    if orig is None or not orig.visible:
        raise InvalidInput(f"原案件 {dup} 不存在或不在您的工作范围内", f"No case {dup} in the area you work on")
    if orig.id == ctx.row["id"]:
        raise InvalidInput("案件不能与自身合并", "A case cannot duplicate itself")
    if orig.status == "merged":
        raise InvalidInput(f"案件 {orig.case_no} 本身是重复案件，请合并到其原案件",
                           f"Case {orig.case_no} is itself a duplicate: merge into its original")
    ctx.data.update(duplicate_of=orig.id, duplicate_case_no=orig.case_no)
    return {"duplicate_of": orig.id, "merged_at": ctx.now}


def _relocate(ctx: _Ctx, *, lon, lat, crs=STORAGE_CRS) -> dict:
    if not ctx.row["outside_jurisdiction"]:
        raise InvalidInput("只有辖区外的案件可以重新定位", "Only a case outside the jurisdiction can be relocated")
    x, y = to_wgs84(float(lon), float(lat), crs)
    this = case_bound(ctx.conn, ctx.row["id"], "cases", reported_at=ctx.row["reported_at"])
    ctx.conn.execute(text(f"UPDATE cases SET geom = ST_SetSRID(ST_MakePoint(:x, :y), {STORAGE_SRID}) WHERE id = :i AND {this}"),
                     {"x": x, "y": y, "i": ctx.row["id"]})
    placed = ctx.conn.execute(text("SELECT grid_id, grid_code, community_id, subdistrict_id, outside_jurisdiction, "
                                   f"reported_grid_version_id, reported_grid_code FROM cases WHERE id = :i AND {this}"),
                              {"i": ctx.row["id"]}).mappings().one()
    if placed["outside_jurisdiction"]:
        raise InvalidInput("新位置仍在辖区外", "The new location is still outside the jurisdiction")
    ctx.data.update(lon=x, lat=y, crs=crs, grid_code=placed["grid_code"])
    _link_duplicates(ctx)
    return dict(placed)


def _link_duplicates(ctx: _Ctx) -> None:
    """Once a case has its point in a grid (``locate``, ``relocate``): the possible-duplicate search a
    report with its point gets on arrival (the one rule, dispatch.duplicates), linked for the
    dispatcher to confirm or reject on the panel; the newly linked numbers go into the event's data."""
    links = duplicates.link_possible_duplicates(ctx.conn, ctx.row["id"])
    if links:
        ctx.data["possible_duplicates"] = [d["case_no"] for d in links]


def _locate(ctx: _Ctx, *, lon, lat, crs=STORAGE_CRS) -> dict:
    """定位: the point of a report that came with an address only, typed (or picked) by a dispatcher
    in ``crs``; stored as received and in WGS-84, and the database assigns the grid (trigger
    cases_assign_grid, as for a new report). A point outside every grid makes it an
    outside-the-jurisdiction case (the command centre's); a subdistrict may place it only inside
    its own area. Once placed, its possible duplicates are linked by the intake's rule
    (``dispatch.duplicates``; their numbers go into the event's data)."""
    row = ctx.row
    if row["geom"] is not None:
        raise InvalidInput("案件已有位置，不能再定位（辖区外案件请用“重新定位”）",
                           "The case already has a location (a case outside the jurisdiction is relocated instead)")
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InvalidInput(f"坐标 {lon!r}, {lat!r} 不是数字", f"Coordinates {lon!r}, {lat!r} are not numbers") from None
    x, y = to_wgs84(lon, lat, crs)  # a system it cannot convert from is refused, naming it
    this = case_bound(ctx.conn, row["id"], "cases", reported_at=row["reported_at"])
    ctx.conn.execute(text(
        "UPDATE cases SET received_x = :rx, received_y = :ry, received_crs = :crs, "
        f"geom = ST_SetSRID(ST_MakePoint(:x, :y), {STORAGE_SRID}) WHERE id = :i AND {this}"),
        {"rx": lon, "ry": lat, "crs": crs, "x": x, "y": y, "i": row["id"]})
    placed = dict(ctx.conn.execute(text(
        "SELECT grid_id, grid_code, community_id, subdistrict_id, outside_jurisdiction, reported_grid_version_id, "
        f"reported_grid_code FROM cases WHERE id = :i AND {this}"), {"i": row["id"]}).mappings().one())
    if not permissions.may(ctx.actor, "locate", placed):  # the savepoint undoes the point
        raise InvalidInput("该位置不在本街道辖区内：请由指挥中心定位",
                           "The point is outside your subdistrict: the command centre locates this case")
    ctx.data.update(lon=x, lat=y, crs=crs, received_x=lon, received_y=lat, address=row["address"],
                    grid_code=placed["grid_code"], outside_jurisdiction=placed["outside_jurisdiction"])
    _link_duplicates(ctx)
    return placed


def _set_level(ctx: _Ctx, *, level) -> dict:
    _check_level(level)
    if level == ctx.row["level"]:
        raise InvalidInput("层级未改变", "The level is unchanged")
    if ctx.row["community_id"] is None and level != "district":
        raise InvalidInput("辖区外案件只能由区级处置", "A case outside the jurisdiction stays at district level")
    return {"level": level}


def _escalate(ctx: _Ctx, *, to_level=None, major=False) -> dict:
    ctx.need_comment("上报升级须填写理由", "An escalation needs a reason")
    cur = ctx.row["level"]
    if cur == "district":
        raise InvalidInput("案件已在最高层级（区）", "The case is already at district level")
    nxt = LEVELS[level_rank(cur) + 1]
    to = to_level or nxt
    major = bool(major)
    _check_level(to)
    if to != nxt and to != "district":
        raise InvalidInput("只能逐级上报，重大问题可直接上报到区", "Escalate one step; only a major problem goes straight to district")
    if level_rank(to) <= level_rank(cur):
        raise InvalidInput("上报只能提高层级", "Escalation raises the level")
    ctx.data.update(major=major or (to == "district" and to != nxt))
    return {"level": to}


def _dispatch(ctx: _Ctx, *, department_id=None, due_at=None, due_reason=None, assist_department_ids=()) -> dict:
    row, conn = ctx.row, ctx.conn
    dept = department_id
    cat = _category(conn, row["category_code"]) if row["category_code"] else None
    if dept is None:
        dept = cat["default_department_id"] if cat else None
    if dept is None:
        raise InvalidInput("请指定主办部门", "Choose the lead department")
    dept = int(dept)
    _check_department(conn, dept)
    assists = sorted({int(d) for d in (assist_department_ids or ())})
    if dept in assists:
        raise InvalidInput("协办部门不能与主办部门相同", "An assisting department cannot also be the lead")
    for d in assists:
        _check_department(conn, d)
    due_override = _as_time(due_at, "处置时限")
    if due_override is not None:
        if not (due_reason or "").strip():
            raise InvalidInput("修改处置时限须填写理由", "Changing the deadline needs a reason")
        if due_override <= ctx.now:
            raise InvalidInput("处置时限必须晚于派遣时间", "The deadline must be after the dispatch time")
    dl = deadline(conn, ctx.cal, category_code=row["category_code"], level=row["level"], start=ctx.now,
                  override_due=due_override)
    ctx.data.update(due_at=dl.due_at.isoformat(), limit=[dl.value, dl.unit], limit_source=dl.source,
                    assist_department_ids=assists)
    if due_reason:
        ctx.data["due_reason"] = due_reason
    case_id = row["id"]

    def side():
        conn.execute(text("DELETE FROM case_department WHERE case_id = :c"), {"c": case_id})
        conn.execute(text("INSERT INTO case_department(case_id, department_id, role) VALUES (:c, :d, :r)"),
                     [{"c": case_id, "d": dept, "r": "lead"}] + [{"c": case_id, "d": d, "r": "assist"} for d in assists])
    ctx.after.append(side)
    return {"department_id": dept, "dispatched_at": ctx.now, "due_at": dl.due_at, "warn_at": dl.warn_at,
            "deadline_from": ctx.now, "time_limit_value": dl.value, "time_limit_unit": dl.unit,
            "handler_id": None, "accepted_at": None, "accept_due_at": accept_due(ctx.cal, ctx.now, dl.due_at),
            **_NO_REQUEST}


_NO_REQUEST = {"postpone_requested_at": None, "postpone_requested_by": None, "postpone_requested_due_at": None,
               "postpone_request_reason": None}


def _close(ctx: _Ctx, *, result_photo_ref=None) -> dict:
    ctx.need_comment("结案须填写处置情况说明", "Closing needs a note on how it was handled")
    photo = result_photo_ref
    if photo:
        ctx.attachments.append({"kind": "after", "ref": photo})
    return {"closed_at": ctx.now, "handler_id": ctx.actor.person_id, "result_photo_ref": photo,
            "disposal_wh": ctx.wh_since(ctx.row["reported_at"])}


def _self_handle(ctx: _Ctx, *, after_photo_ref, before_photo_ref=None) -> dict:
    row = ctx.row
    _need_position(ctx)
    if row["outside_jurisdiction"]:
        raise InvalidInput("辖区外案件不能自行处置", "A case outside the jurisdiction cannot be resolved on the spot")
    after = after_photo_ref
    before = before_photo_ref or row["photo_ref"]
    if not str(after).strip():
        raise InvalidInput("自行处置须上传处置后照片", "Resolving on the spot needs an after photo")
    ctx.attachments += ([{"kind": "before", "ref": before}] if before else []) + [{"kind": "after", "ref": after}]
    return {"level": "grid", "self_handled": True, "registered_at": ctx.now, "closed_at": ctx.now,
            "handler_id": ctx.actor.person_id, "result_photo_ref": after,
            "disposal_wh": ctx.wh_since(row["reported_at"])}


def _accept(ctx: _Ctx) -> dict:
    return {"handler_id": ctx.actor.person_id, "accepted_at": ctx.now}


def _return(ctx: _Ctx) -> dict:
    ctx.need_comment("退回须填写理由", "Returning a case needs a reason")
    ctx.data["from_department_id"] = ctx.row["department_id"]
    case_id, conn = ctx.row["id"], ctx.conn
    ctx.after.append(lambda: conn.execute(text("DELETE FROM case_department WHERE case_id = :c"), {"c": case_id}))
    return {"department_id": None, "due_at": None, "warn_at": None, "deadline_from": None, "handler_id": None,
            "accepted_at": None, "accept_due_at": None, "time_limit_value": None, "time_limit_unit": None,
            **_NO_REQUEST}


def _request_postponement(ctx: _Ctx, *, until=None) -> dict:
    row = ctx.row
    reason = ctx.need_comment("申请缓办须填写理由", "A postponement request needs a reason")
    if row["postpone_requested_at"] is not None:
        raise InvalidInput("已有待审批的缓办申请", "A postponement request is already pending")
    until = _as_time(until, "缓办时限")
    if until is None:
        value, unit = (float(row["time_limit_value"]), row["time_limit_unit"]) if row["time_limit_value"] else \
            time_limit(ctx.conn, row["category_code"], row["level"])[:2]
        until = ctx.cal.add_limit(row["due_at"], value, unit)
    if until <= row["due_at"]:
        raise InvalidInput("缓办后的时限必须晚于原时限", "The new deadline must be later than the current one")
    ctx.data["requested_due_at"] = until.isoformat()
    return {"postpone_requested_at": ctx.now, "postpone_requested_by": ctx.actor.person_id,
            "postpone_requested_due_at": until, "postpone_request_reason": reason}


def _approve_postponement(ctx: _Ctx, *, due_at=None) -> dict:
    row = ctx.row
    if row["postpone_requested_at"] is None:
        raise InvalidInput("没有待审批的缓办申请", "There is no pending postponement request")
    due = _as_time(due_at, "缓办时限") or row["postpone_requested_due_at"]
    if due <= row["due_at"] or due <= ctx.now:
        raise InvalidInput("缓办后的时限必须晚于原时限和当前时间", "The new deadline must be later than the current one and now")
    ctx.data.update(due_at=due.isoformat(), previous_due_at=row["due_at"].isoformat())
    return {"postponed_at": row["postponed_at"] or ctx.now, "postpone_count": row["postpone_count"] + 1,
            "postpone_reason": row["postpone_request_reason"], "due_at": due,
            "warn_at": warn_instant(ctx.cal, ctx.now, due), "deadline_from": ctx.now, **_NO_REQUEST}


def _deny_postponement(ctx: _Ctx) -> dict:
    if ctx.row["postpone_requested_at"] is None:
        raise InvalidInput("没有待审批的缓办申请", "There is no pending postponement request")
    ctx.need_comment("驳回缓办须填写理由", "Denying a postponement needs a reason")
    return dict(_NO_REQUEST)


def _feed_back(ctx: _Ctx, *, photo_ref=None) -> dict:
    ctx.need_comment("处置反馈须填写处置情况", "Feedback needs a note on what was done")
    photo = photo_ref
    if photo:
        ctx.attachments.append({"kind": "after", "ref": photo})
    return {"feedback_at": ctx.now, "result_photo_ref": photo or ctx.row["result_photo_ref"]}


def _verify_pass(ctx: _Ctx) -> dict:
    return {"closed_at": ctx.now, "verified_at": ctx.now,
            "disposal_wh": ctx.wh_since(ctx.row["dispatched_at"] or ctx.row["reported_at"])}


def _verify_fail(ctx: _Ctx) -> dict:
    ctx.need_comment("核查不通过须说明原因", "A failed verification needs a reason")
    return {"verified_at": ctx.now, "rework_count": ctx.row["rework_count"] + 1,
            "accept_due_at": accept_due(ctx.cal, ctx.now, ctx.row["due_at"])}


def _supervise(ctx: _Ctx) -> dict:
    if ctx.row["supervised"]:
        raise InvalidInput("案件已在督办中", "The case is already under supervision")
    return {"supervised": True, "supervised_at": ctx.now}


def _chase(ctx: _Ctx) -> dict:
    ctx.need_comment("催办须写明要求", "A chase needs a note of what is asked")
    return {"chase_count": ctx.row["chase_count"] + 1, "last_chased_at": ctx.now}


def _reply(ctx: _Ctx) -> dict:
    said = ctx.need_comment("答复市民须写明答复内容", "A reply to the reporter needs its text")
    return {"public_reply": said, "public_reply_at": ctx.now}  # as the reporter reads it: no stray blank lines


def _evaluate(ctx: _Ctx, *, score) -> dict:
    if ctx.row["evaluated_at"] is not None:
        raise InvalidInput("案件已评价", "The case has already been evaluated")
    if not isinstance(score, (int, float)) or int(score) != score or not 1 <= int(score) <= 5:
        raise InvalidInput("评价分数应为 1–5 的整数", "The score is a whole number from 1 to 5")
    ctx.data["score"] = int(score)
    return {"evaluation_score": int(score), "evaluation_comment": ctx.comment, "evaluated_at": ctx.now}


_HANDLERS = {
    "register": _register, "reject": _reject, "merge": _merge, "relocate": _relocate, "locate": _locate,
    "set_level": _set_level,
    "escalate": _escalate, "dispatch": _dispatch, "close": _close, "self_handle": _self_handle,
    "accept": _accept, "return": _return, "request_postponement": _request_postponement,
    "approve_postponement": _approve_postponement, "deny_postponement": _deny_postponement,
    "feed_back": _feed_back, "verify_pass": _verify_pass, "verify_fail": _verify_fail,
    "supervise": _supervise, "chase": _chase, "reply": _reply, "evaluate": _evaluate,
}
assert set(_HANDLERS) == set(TRANSITIONS)


def _declared(handler) -> dict[str, bool]:
    params = list(inspect.signature(handler).parameters.values())[1:]  # after ctx
    # Keyword-only, so that transition's check of names is the only way values reach a handler.
    assert all(p.kind is p.KEYWORD_ONLY for p in params), handler.__name__
    return {p.name: p.default is p.empty for p in params}


_PARAMETERS = {action: _declared(handler) for action, handler in _HANDLERS.items()}


def parameters(action: str) -> dict[str, bool]:
    """The values ``action`` takes besides ``comment``: {name: required}."""
    if action not in _PARAMETERS:
        raise InvalidInput(f"未知操作 {action!r}", f"Unknown action {action!r}")
    return dict(_PARAMETERS[action])


def _check_values(action: str, values: dict) -> None:
    """Refuse a value the move does not take and a required one that is missing, naming the field."""
    declared = _PARAMETERS[action]
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise InvalidInput(f"“{label('action', action, 'zh')}”不接受参数 {unknown}",
                           f"{action} takes no parameters {unknown}", fields=unknown)
    missing = [name for name, required in declared.items() if required and name not in values]
    if missing:
        raise InvalidInput(f"“{label('action', action, 'zh')}”须填写 {'、'.join(missing)}",
                           f"{label('action', action, 'en')} needs {', '.join(missing)}", fields=missing)


def _as_time(value, what: str) -> datetime | None:
    """A datetime from a datetime or an ISO string; naive values are Asia/Shanghai wall time."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _in_calendar(value if value.tzinfo else value.replace(tzinfo=TZ), what)
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{what}时间格式不正确：{value}", f"Bad {what} time: {value}") from None
    return _in_calendar(t if t.tzinfo else t.replace(tzinfo=TZ), what)


def _in_calendar(t: datetime, what: str) -> datetime:
    """``t`` if its day lies in the working calendar (deadlines are counted in it), else refused
    naming the calendar's range (not a raw ValueError from the calendar's arrays)."""
    if not FIRST_DAY <= t.astimezone(TZ).date() <= LAST_DAY:
        raise InvalidInput(f"{what}超出工作日历范围（{FIRST_DAY}–{LAST_DAY}）：{t:%Y-%m-%d}",
                           f"The {what} time {t:%Y-%m-%d} is outside the working calendar ({FIRST_DAY}–{LAST_DAY})")
    return t


def _check_level(level) -> None:
    if level not in LEVELS:
        raise InvalidInput(f"层级 {level!r} 无效，应为 {'/'.join(LEVELS)}", f"Unknown level {level!r}; expected one of {LEVELS}")


def _category(conn: Connection, code: str) -> dict:
    row = conn.execute(select(CaseCategory.code, CaseCategory.default_level, CaseCategory.default_department_id,
                              CaseCategory.is_emergency).where(CaseCategory.code == code)).mappings().one_or_none()
    if row is None:
        raise InvalidInput(f"案件类别 {code} 不存在", f"No case category {code}")
    return dict(row)


def _check_department(conn: Connection, dept: int) -> None:
    ok = conn.execute(select(Department.active).where(Department.id == dept)).scalar_one_or_none()
    if not ok:
        raise InvalidInput(f"部门 {dept} 不存在或已停用", f"Department {dept} does not exist or is inactive")


# --- the transition ----------------------------------------------------------------------------

MAX_COMMENT = 1000  # a move's comment (意见, 理由): the forms' fields have no cap of their own
# characters no person types (a paste from a binary file): PostgreSQL cannot store NUL at all, and a
# reply to the reporter goes out as XML, which cannot carry the others; tab and line breaks are kept
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # (intake.public's texts too)


def transition(conn: Connection, *, case_id: int, action: str, actor: Actor, expected_version: int | None = None,
               at: datetime | None = None, comment: str | None = None, attachments: Iterable | None = None,
               **values) -> dict:
    """Apply ``action`` to case ``case_id`` as ``actor`` with the move's ``values`` (see
    ``parameters``); returns the updated case row."""
    if action not in TRANSITIONS:
        raise InvalidInput(f"未知操作 {action!r}", f"Unknown action {action!r}")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise InvalidInput(f"意见有 {len(comment)} 个字，超过上限 {MAX_COMMENT} 字：请删减后再提交",
                           f"The comment has {len(comment)} characters, more than the {MAX_COMMENT} allowed: "
                           "shorten it and send it again")
    if comment is not None and CONTROL_CHARS.search(comment):
        raise InvalidInput("意见含有控制字符（多为从文件粘贴而来），请删除后再提交",
                           "The comment contains control characters (usually pasted from a file): remove them "
                           "and send it again")
    values = {k: v for k, v in values.items() if v is not None}  # None: not given
    try:
        with _atomic(conn):
            return _transition(conn, case_id, action, actor, expected_version, at, comment, attachments, values)
    except sa_exc.DBAPIError as e:
        if _db_busy(e):
            raise LifecycleError("busy", case_no=case_id) from e
        raise


def _transition(conn, case_id, action, actor, expected_version, at, comment, attachments, values) -> dict:
    # the case's month only (db.partitions.case_bound): one month planned, not every month of history
    got = conn.execute(text(f"SELECT c.*, clock_timestamp() AS _now FROM cases c WHERE c.id = :i AND "
                            f"{case_bound(conn, case_id)} FOR UPDATE"), {"i": case_id}).mappings().one_or_none()
    if got is None:
        raise CaseNotFound(case_id=case_id)
    row = dict(got)
    now = row.pop("_now")
    if expected_version is not None and row["version"] != expected_version:
        last = _last_event(conn, case_id) or {}
        raise Conflict(case_no=row["case_no"], status=row["status"], by=last.get("by") or "他人",
                       last_action=last.get("action"), at=last.get("at"))
    if not can(action, row["status"]):
        raise IllegalTransition(case_no=row["case_no"], status=row["status"], action=action,
                                last=_last_event(conn, case_id))
    actor = _current(conn, actor, action, row)
    permissions.check(actor, action, row)
    if at is not None:
        last_at = conn.execute(text(
            "SELECT max(at) FROM case_event e WHERE e.case_id = :c AND "
            f"{case_bound(conn, case_id, 'e', events=True, reported_at=row['reported_at'])}"), {"c": case_id}).scalar()
        floor = max(t for t in (last_at, row["reported_at"]) if t is not None)
        if at < floor:
            raise InvalidInput(f"操作时间 {at} 早于案件上一步（{floor}）", f"Time {at} is before the case's previous step ({floor})")
        now = at
    _check_values(action, values)
    ctx = _Ctx(conn, row, actor, now, comment)
    updates = _HANDLERS[action](ctx, **values)
    if attachments:
        ctx.attachments += list(attachments)
    updates.update(status=target(action, row["status"]), version=row["version"] + 1, updated_at=now)
    sets = ", ".join(f"{k} = :{k}" for k in updates)
    this = case_bound(conn, case_id, "cases", reported_at=row["reported_at"])
    new = dict(conn.execute(text(f"UPDATE cases SET {sets} WHERE id = :_id AND {this} RETURNING *"),
                            {**updates, "_id": case_id}).mappings().one())
    for side in ctx.after:
        side()
    _append_event(conn, new, action=action, actor=actor, at=now, from_status=row["status"], from_level=row["level"],
                  comment=comment, attachments=ctx.attachments, data=ctx.data)
    return new


def may_act(conn: Connection, *, case_id: int, actor: Actor, action: str) -> tuple[dict, Actor]:
    """The case row and the actor as the database has them now, if the actor's role and unit may
    take ``action`` on the case (its state aside: for decisions about a case that are not moves,
    such as rejecting a possible duplicate); CaseNotFound or PermissionDenied otherwise."""
    row = conn.execute(text(f"SELECT * FROM cases c WHERE c.id = :i AND {case_bound(conn, case_id)}"),
                       {"i": case_id}).mappings().one_or_none()
    if row is None:
        raise CaseNotFound(case_id=case_id)
    case = dict(row)
    current = _current(conn, actor, action, case)
    permissions.check(current, action, case)
    return case, current


def _current(conn: Connection, actor: Actor | None, action: str, case: dict) -> Actor | None:
    """The actor as the database has them now: a deactivated account, or a role or unit changed
    since the caller signed in (the Actor it holds is a copy from then), takes effect at once."""
    if actor is None:
        return None  # no one: permissions.check refuses what the public may not do
    try:
        return load_actor(conn, actor.person_id)
    except UnknownActor:
        raise PermissionDenied(case_no=case.get("case_no"), action=action, reason="inactive",
                               actor=actor.full_name, role=actor.role) from None


def _append_event(conn: Connection, case: dict, *, action: str, actor: Actor | None, at: datetime,
                  from_status: str | None, from_level: str | None, comment: str | None, attachments: list,
                  data: dict) -> None:
    conn.execute(text(
        "INSERT INTO case_event(case_id, at, actor_id, actor_role, action, from_status, to_status, from_level, to_level, "
        "department_id, comment, attachments, data, grid_id, handler_id, due_at, postponed, disposal_wh, "
        "awaiting_location) "
        "VALUES (:case_id, :at, :actor_id, :actor_role, :action, :from_status, :to_status, :from_level, :to_level, "
        ":department_id, :comment, CAST(:attachments AS jsonb), CAST(:data AS jsonb), :grid_id, :handler_id, :due_at, "
        ":postponed, :disposal_wh, :awaiting_location)"),
        {"case_id": case["id"], "at": at, "actor_id": actor.person_id if actor else None,
         "actor_role": actor.role if actor else "public", "action": action, "from_status": from_status,
         "to_status": case["status"], "from_level": from_level, "to_level": case["level"],
         "department_id": case["department_id"], "comment": comment,
         "attachments": json.dumps(attachments, ensure_ascii=False, default=str),
         "data": json.dumps(data, ensure_ascii=False, default=str), "grid_id": case["grid_id"],
         "handler_id": case["handler_id"], "due_at": case["due_at"],
         "postponed": case["postponed_at"] is not None,
         "disposal_wh": case["disposal_wh"] if action in ("close", "verify_pass", "self_handle") else None,
         "awaiting_location": case["geom"] is None})


# --- reporting ---------------------------------------------------------------------------------

def to_wgs84(x: float, y: float, crs: str) -> tuple[float, float]:
    """Coordinates in WGS-84 (the storage system) via gis.crs; a system it does not know is refused."""
    try:
        lon, lat = convert_to_wgs84(x, y, crs)
    except ValueError as e:
        raise InvalidInput(f"坐标系 {crs} 无法转换：{e}", f"Cannot convert from {crs}: {e}") from e
    return float(lon), float(lat)


MAX_DESCRIPTION = 4000  # the cases table's CHECK (migration 0001)


def _description(description: str | None) -> None:
    if description and len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"问题描述超过 {MAX_DESCRIPTION} 字（{len(description)}）",
                           f"The description is longer than {MAX_DESCRIPTION} characters ({len(description)})")


def _position(lon: float | None, lat: float | None, crs: str, address: str | None) -> tuple[float, float] | None:
    """The report's point in WGS-84, or None for a report with an address only (待定位); a report
    with neither, or half a point, is refused naming the field."""
    if lon is None and lat is None:
        if not (address or "").strip():
            raise InvalidInput("上报须给出位置（经纬度）或地址", "A report needs a location (lon/lat) or an address",
                               fields=["lon", "lat", "address"])
        return None
    if lon is None or lat is None:
        missing = "lon" if lon is None else "lat"
        raise InvalidInput(f"经纬度须同时给出（缺少 {missing}）", f"lon and lat go together ({missing} is missing)",
                           fields=[missing])
    return to_wgs84(lon, lat, crs)


def report_case(conn: Connection, *, channel: str, lon: float | None, lat: float | None, crs: str = STORAGE_CRS,
                category_code: str | None = None, description: str = "", address: str | None = None,
                reporter_name: str | None = None, reporter_phone: str | None = None, reporter_id: int | None = None,
                photo_ref: str | None = None, actor: Actor | None = None, reported_at: datetime | None = None) -> dict:
    """上报: store a new case exactly as received (the database assigns its grid) and its 'report' event.
    ``lon``/``lat`` None with an ``address``: stored awaiting location (待定位)."""
    if not permissions.may_report(actor):
        raise PermissionDenied(case_no="—", action="report", reason="view_only", actor=actor.full_name, role=actor.role)
    if channel not in CHANNELS:
        raise InvalidInput(f"上报渠道 {channel!r} 无效", f"Unknown channel {channel!r}; expected one of {CHANNELS}")
    if category_code is not None:
        _category(conn, category_code)
    _description(description)
    point = _position(lon, lat, crs, address)
    x84, y84 = point or (None, None)
    if actor is not None and reporter_id is None:
        reporter_id = actor.person_id
    params = {"channel": channel, "cat": category_code, "descr": description or "", "addr": address,
              "rname": reporter_name, "rphone": reporter_phone, "rid": reporter_id, "photo": photo_ref,
              "x": None if point is None else float(lon), "y": None if point is None else float(lat),
              "crs": None if point is None else crs, "x84": x84, "y84": y84, "at": reported_at}
    with _atomic(conn):
        row = dict(conn.execute(text(
            "INSERT INTO cases(channel, category_code, description, address, reporter_name, reporter_phone, reporter_id, "
            "photo_ref, received_x, received_y, received_crs, geom, reported_at, updated_at) "
            "VALUES (:channel, :cat, :descr, :addr, :rname, :rphone, :rid, :photo, :x, :y, :crs, "
            f"ST_SetSRID(ST_MakePoint(CAST(:x84 AS float8), CAST(:y84 AS float8)), {STORAGE_SRID}), "
            "COALESCE(:at, now()), COALESCE(:at, now())) RETURNING *"),
            params).mappings().one())
        _append_event(conn, row, action="report", actor=actor, at=row["reported_at"], from_status=None,
                      from_level=None, comment=None, attachments=[{"kind": "report", "ref": photo_ref}] if photo_ref else [],
                      data=_report_data(channel, crs if point else None))
    return row


def _report_data(channel: str, crs: str | None) -> dict:
    """The 'report' event's data: the channel and the point's system, or that it awaits location."""
    return {"channel": channel, "crs": crs} if crs else {"channel": channel, "awaiting_location": True}


def report_case_ctes(*, channel: str, lon: float | None, lat: float | None, crs: str = STORAGE_CRS,
                     category_code: str | None = None,
                     description: str = "", address: str | None = None, reporter_name: str | None = None,
                     reporter_phone: str | None = None, photo_ref: str | None = None,
                     unless: str | None = None) -> tuple[str, dict]:
    """上报 as two CTEs for a caller that writes its own rows in the same statement (the intake: one
    round trip per report): ``new_case`` (the case row as ``report_case`` inserts it, ``RETURNING *``)
    and ``new_event`` (its 'report' event, as ``report_case`` appends it, by the public). Returns
    (``"new_case AS (…), new_event AS (…)"``, parameters named ``rc_*``). The same checks as
    ``report_case`` except the category's, which the foreign key makes (the caller checks first to
    name the field). ``tests/intake`` checks both write the same rows. ``unless``: an SQL condition
    under which no case is made at all (``new_case`` is then empty; the intake's "this idempotency
    key was answered already", so a retry takes no case number)."""
    if channel not in CHANNELS:
        raise InvalidInput(f"上报渠道 {channel!r} 无效", f"Unknown channel {channel!r}; expected one of {CHANNELS}")
    _description(description)
    point = _position(lon, lat, crs, address)
    x84, y84 = point or (None, None)
    attachments = [{"kind": "report", "ref": photo_ref}] if photo_ref else []
    sql = (
        "new_case AS (INSERT INTO cases(channel, category_code, description, address, reporter_name, reporter_phone, "
        "photo_ref, received_x, received_y, received_crs, geom, reported_at, updated_at) "
        "SELECT :rc_channel, :rc_cat, :rc_descr, :rc_addr, :rc_rname, :rc_rphone, :rc_photo, :rc_x, :rc_y, :rc_crs, "
        f"ST_SetSRID(ST_MakePoint(CAST(:rc_x84 AS float8), CAST(:rc_y84 AS float8)), {STORAGE_SRID}), now(), now() "
        + (f"WHERE NOT ({unless}) " if unless else "") +
        "RETURNING *), "
        "new_event AS (INSERT INTO case_event(case_id, at, actor_id, actor_role, action, from_status, to_status, "
        "from_level, to_level, department_id, comment, attachments, data, grid_id, handler_id, due_at, postponed, "
        "disposal_wh, awaiting_location) SELECT id, reported_at, NULL, 'public', 'report', NULL, status, NULL, level, "
        "department_id, NULL, CAST(:rc_attachments AS jsonb), CAST(:rc_data AS jsonb), grid_id, handler_id, due_at, "
        "postponed_at IS NOT NULL, NULL, geom IS NULL FROM new_case)")
    params = {"rc_channel": channel, "rc_cat": category_code, "rc_descr": description or "", "rc_addr": address,
              "rc_rname": reporter_name, "rc_rphone": reporter_phone, "rc_photo": photo_ref,
              "rc_x": None if point is None else float(lon), "rc_y": None if point is None else float(lat),
              "rc_crs": None if point is None else crs, "rc_x84": x84, "rc_y84": y84,
              "rc_attachments": json.dumps(attachments, ensure_ascii=False),
              "rc_data": json.dumps(_report_data(channel, crs if point else None), ensure_ascii=False)}
    return sql, params


# --- presence ("being handled by X") -------------------------------------------------------------

def mark_presence(conn: Connection, *, case_id: int, actor: Actor) -> None:
    """Record that ``actor`` has the case open now (call while the detail panel is shown)."""
    with _atomic(conn):
        conn.execute(text(
            "INSERT INTO case_presence(case_id, person_id, seen_at) VALUES (:c, :p, now()) "
            "ON CONFLICT (case_id, person_id) DO UPDATE SET seen_at = now()"), {"c": case_id, "p": actor.person_id})


def leave_cases(conn: Connection, *, actor: Actor, keep_case_id: int | None = None) -> None:
    """Forget that ``actor`` has any case open but ``keep_case_id`` (they moved on or signed out),
    so nobody keeps reading "X 正在处理此案件" for the presence window after X left."""
    with _atomic(conn):
        conn.execute(text("DELETE FROM case_presence WHERE person_id = :p AND case_id IS DISTINCT FROM :k"),
                     {"p": actor.person_id, "k": keep_case_id})


def others_present(conn: Connection, *, case_id: int, actor: Actor | None = None, within_seconds: int = 60) -> list[dict]:
    """Other people who had the case open within the last ``within_seconds``: [{person_id, full_name, role, seen_at}]."""
    rows = conn.execute(text(
        "SELECT p.id AS person_id, p.full_name, p.role, cp.seen_at FROM case_presence cp JOIN person p ON p.id = cp.person_id "
        "WHERE cp.case_id = :c AND cp.seen_at > now() - make_interval(secs => :s) AND cp.person_id IS DISTINCT FROM :me "
        "ORDER BY cp.seen_at DESC"), {"c": case_id, "s": within_seconds, "me": actor.person_id if actor else None})
    return [dict(r) for r in rows.mappings()]
