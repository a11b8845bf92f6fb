"""Case states, levels, actions and the one transition table of the closed loop (闭环).

Names other components rely on (keep them stable):

- ``STATUSES``: the status codes, the same values as the CHECK on ``cases.status``
  (migration 0001); ``OPEN_STATUSES`` / ``TERMINAL_STATUSES`` split them (defined in
  ``db.statuses``, re-exported here).
- ``CHANNELS``: the report channels, the values of the CHECK on ``cases.channel``.
- ``LEVELS``: ``grid`` < ``community`` < ``subdistrict`` < ``district`` (网格/社区/街道/区).
- ``STATUS_LABELS``, ``LEVEL_LABELS``, ``ACTION_LABELS``, ``ROLE_LABELS``,
  ``TIME_STATE_LABELS``: ``{code: {"zh": ..., "en": ...}}``; ``label(kind, code, lang)`` reads them.
- ``TRANSITIONS``: ``{action: Move(sources, target)}``. ``target`` is the status after the
  action, or ``None`` when the action leaves the status as it is (it changes the level, a flag
  or a field and is still recorded as an event). ``REPORT`` is the creating action (no source).

The loop (docs/domain.md): discover (上报) → sort (立案/不予立案/定级/合并) → dispatch
(派遣, lead 主办 and assisting 协办 departments) → dispose (接收 → 处置中) → feed back (反馈)
→ verify and close (核查结案) or rework (返工) → evaluate (评价). Side roads: a grid worker
resolves a small problem on the spot (自行处置: reported → closed at grid level); the sorting
unit handles a registered case itself (close); a department returns a case that is not its own
(退回 → back to sorting) or asks for more time (申请缓办 → approved: 缓办 with a new due time);
supervision (督办) flags a case; a report that came with an address only (待定位, no position)
is located (定位) by a dispatcher before it is sorted further; escalation (上报升级) raises the level one step, or straight
to district for a major problem.
"""
from __future__ import annotations

from dataclasses import dataclass

from db.statuses import OPEN_STATUSES, STATUSES, TERMINAL_STATUSES  # noqa: F401  (re-exported)

# How a report came in (上报渠道): the values of the CHECK on ``cases.channel``.
CHANNELS: tuple[str, ...] = ("grid_worker", "hotline", "wechat", "website", "other")
# Open states in which a department holds the case and a deadline runs.
WITH_DEPARTMENT: tuple[str, ...] = ("dispatched", "disposing", "awaiting_verification", "rework", "postponed")

LEVELS: tuple[str, ...] = ("grid", "community", "subdistrict", "district")
LOWER_LEVELS: tuple[str, ...] = ("grid", "community", "subdistrict")  # closed here = self-handled share

STATUS_LABELS: dict[str, dict[str, str]] = {
    "reported": {"zh": "上报", "en": "Reported"},
    "registered": {"zh": "立案", "en": "Registered"},
    "rejected": {"zh": "不予立案", "en": "Rejected"},
    "dispatched": {"zh": "已派遣", "en": "Dispatched"},
    "disposing": {"zh": "处置中", "en": "In disposal"},
    "awaiting_verification": {"zh": "待核查", "en": "Awaiting verification"},
    "closed": {"zh": "结案", "en": "Closed"},
    "rework": {"zh": "返工", "en": "Rework"},
    "postponed": {"zh": "缓办", "en": "Postponed"},
    "returned": {"zh": "退回", "en": "Returned"},
    "merged": {"zh": "重复（已合并）", "en": "Merged as duplicate"},
}

LEVEL_LABELS: dict[str, dict[str, str]] = {
    "grid": {"zh": "网格", "en": "Grid"},
    "community": {"zh": "社区", "en": "Community"},
    "subdistrict": {"zh": "街道", "en": "Subdistrict"},
    "district": {"zh": "区", "en": "District"},
}

ACTION_LABELS: dict[str, dict[str, str]] = {
    "report": {"zh": "上报", "en": "Report"},
    "register": {"zh": "立案", "en": "Register"},
    "reject": {"zh": "不予立案", "en": "Reject"},
    "merge": {"zh": "合并重复案件", "en": "Merge as duplicate"},
    "self_handle": {"zh": "自行处置", "en": "Resolve on the spot"},
    "relocate": {"zh": "重新定位", "en": "Relocate"},
    "locate": {"zh": "定位", "en": "Locate"},
    "set_level": {"zh": "定级", "en": "Set level"},
    "escalate": {"zh": "上报升级", "en": "Escalate"},
    "dispatch": {"zh": "派遣", "en": "Dispatch"},
    "close": {"zh": "结案", "en": "Close"},
    "accept": {"zh": "接收", "en": "Accept"},
    "return": {"zh": "退回", "en": "Return"},
    "request_postponement": {"zh": "申请缓办", "en": "Request postponement"},
    "approve_postponement": {"zh": "批准缓办", "en": "Approve postponement"},
    "deny_postponement": {"zh": "驳回缓办", "en": "Deny postponement"},
    "feed_back": {"zh": "处置反馈", "en": "Feed back"},
    "verify_pass": {"zh": "核查通过", "en": "Verify: passed"},
    "verify_fail": {"zh": "核查不通过", "en": "Verify: failed (rework)"},
    "supervise": {"zh": "督办", "en": "Supervise"},
    "chase": {"zh": "催办", "en": "Chase"},
    "reply": {"zh": "答复市民", "en": "Reply to the reporter"},
    "evaluate": {"zh": "评价", "en": "Evaluate"},
    "regrid": {"zh": "网格调整改派", "en": "Grid re-assigned (boundary change)"},
}

ROLE_LABELS: dict[str, dict[str, str]] = {
    "grid_worker": {"zh": "网格员", "en": "Grid worker"},
    "department_staff": {"zh": "部门处置人员", "en": "Department staff"},
    "dispatcher": {"zh": "派遣员", "en": "Dispatcher"},
    "command_staff": {"zh": "指挥中心人员", "en": "Command staff"},
    "planner": {"zh": "网格规划人员", "en": "Planner"},
    "admin": {"zh": "系统管理员", "en": "Administrator"},
    "public": {"zh": "群众", "en": "Public"},
    "system": {"zh": "系统", "en": "System"},
}

# Time left before the deadline (dispatch/queries.py defines them; the map wall colours by them).
TIME_STATE_LABELS: dict[str, dict[str, str]] = {
    "on_track": {"zh": "正常", "en": "On track"},
    "at_risk": {"zh": "临期", "en": "At risk"},
    "overdue": {"zh": "超期", "en": "Overdue"},
}

_KINDS = {"status": STATUS_LABELS, "level": LEVEL_LABELS, "action": ACTION_LABELS, "role": ROLE_LABELS,
          "time_state": TIME_STATE_LABELS}


def label(kind: str, code: str | None, lang: str = "zh") -> str:
    """The label of ``code`` (a status, level, action, role or time_state) in ``lang``; the code
    itself if unknown, '' for None."""
    if code is None:
        return ""
    entry = _KINDS[kind].get(code)
    if entry is None:
        return code
    return entry.get(lang) or entry["zh"]


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    target: str | None  # None: the status stays as it is


def _m(sources, target=None) -> Move:
    return Move(frozenset(sources), target)


REPORT = "report"  # creates a case in 'reported'; not in TRANSITIONS (there is no source state)
# written by the database when a boundary change moves an open case to another grid
# (reassign_open_cases, migration 0007): not a status transition, so not in TRANSITIONS either
REGRID = "regrid"

_CHASEABLE = ("dispatched", "disposing", "rework", "postponed")
_SUPERVISABLE = ("registered", "dispatched", "disposing", "awaiting_verification", "rework", "postponed", "returned")

TRANSITIONS: dict[str, Move] = {
    # sorting (分拣) by the unit that owns the case's level
    "register": _m(("reported",), "registered"),
    "reject": _m(("reported",), "rejected"),
    "merge": _m(("reported", "registered", "returned"), "merged"),
    "relocate": _m(("reported",)),  # a point outside every grid is placed by a person
    "locate": _m(("reported",)),  # a report with an address only (待定位) gets its point from a person
    "set_level": _m(("registered", "returned")),
    "escalate": _m(("registered", "returned", "dispatched", "disposing", "rework", "postponed")),
    "dispatch": _m(("registered", "returned"), "dispatched"),
    "close": _m(("registered",), "closed"),  # handled by the sorting unit itself, no department
    # on the spot (自行处置) by the grid worker
    "self_handle": _m(("reported",), "closed"),
    # the lead department (主办)
    "accept": _m(("dispatched", "rework"), "disposing"),
    "return": _m(("dispatched", "disposing"), "returned"),
    "request_postponement": _m(("disposing",)),
    "feed_back": _m(("disposing", "postponed"), "awaiting_verification"),
    # back at the owning unit / command centre
    "approve_postponement": _m(("disposing",), "postponed"),
    "deny_postponement": _m(("disposing",)),
    "verify_pass": _m(("awaiting_verification",), "closed"),
    "verify_fail": _m(("awaiting_verification",), "rework"),
    "supervise": _m(_SUPERVISABLE),
    "chase": _m(_CHASEABLE),  # the department is working on it: pressed again, as often as needed
    "reply": _m(STATUSES),  # 答复市民: words for the reporter, at any stage (the last one is shown)
    "evaluate": _m(("closed",)),
}
ACTIONS: tuple[str, ...] = tuple(TRANSITIONS)


def can(action: str, status: str) -> bool:
    """Whether ``action`` is a legal move from ``status`` (the table only; not permissions)."""
    move = TRANSITIONS.get(action)
    return move is not None and status in move.sources


def target(action: str, status: str) -> str:
    """The status after ``action`` from ``status`` (which must be legal)."""
    t = TRANSITIONS[action].target
    return status if t is None else t


def allowed_actions(status: str) -> list[str]:
    """Actions the table allows from ``status``, in table order."""
    return [a for a, m in TRANSITIONS.items() if status in m.sources]


def actions_between(source: str, dest: str) -> list[str]:
    """Actions that move a case from ``source`` to ``dest`` (``dest == source`` for the
    actions that keep the status)."""
    return [a for a, m in TRANSITIONS.items() if source in m.sources and target(a, source) == dest]


def level_rank(level: str | None) -> int:
    return -1 if level is None else LEVELS.index(level)
