"""Who may do what to which case (the service checks this on every call; the UI only mirrors it).

- ``admin``: everything.
- ``command_staff`` and ``planner``: view only.
- ``grid_worker``: resolves a case on the spot (``self_handle``) in their own community.
- ``department_staff``: ``accept``, ``feed_back``, ``request_postponement``, ``return`` — only on
  cases whose lead department is their department.
- ``dispatcher``: sorting, dispatch, postponement decisions, verification, closing and
  evaluation, by the unit that owns the case's level (属地/分级):
  grid- and community-level cases → the case's community; subdistrict-level → its
  subdistrict; district-level and every case outside the jurisdiction → the district
  command centre (unit_level 'district'). A case not yet sorted (no level) may be sorted by
  any unit that contains it.
  Supervision (督办) is for the command centre (any case) and for a subdistrict over grid- and
  community-level cases in it. Chasing (催办) and replying to the reporter (答复市民) are for the
  owning unit or one that may supervise the case; a reply to a case not sorted yet, for any unit
  that contains it (as sorting).
  Locating (定位) a report that came with an address only (待定位: no position, so no unit
  contains it yet) is for the command centre and for every subdistrict — a subdistrict only at a
  point inside its own area (the service checks again once the database has put the point in a
  grid: ``may_place``).
"""
from __future__ import annotations

from typing import Mapping

from accounts.actors import Actor
from dispatch.errors import PermissionDenied
from dispatch.states import LEVEL_LABELS, TRANSITIONS, can

VIEW_ONLY_ROLES = ("command_staff", "planner")
SORTING_ACTIONS = frozenset({
    "register", "reject", "merge", "relocate", "locate", "set_level", "escalate", "dispatch", "close",
    "approve_postponement", "deny_postponement", "verify_pass", "verify_fail", "evaluate",
})
DEPARTMENT_ACTIONS = frozenset({"accept", "return", "request_postponement", "feed_back"})
GRID_WORKER_ACTIONS = frozenset({"self_handle"})
REPORT_ROLES = ("grid_worker", "dispatcher", "department_staff", "admin")
assert SORTING_ACTIONS | DEPARTMENT_ACTIONS | GRID_WORKER_ACTIONS | {"supervise", "chase", "reply"} == set(TRANSITIONS)


def owner_level(case: Mapping) -> str | None:
    """The unit level that sorts, dispatches and verifies ``case``: 'community', 'subdistrict',
    'district', or None for a case not yet sorted inside the jurisdiction."""
    if case.get("community_id") is None:
        return "district"
    level = case.get("level")
    if level is None:
        return None
    return {"grid": "community", "community": "community"}.get(level, level)


def _same_unit(actor: Actor, unit_level: str, case: Mapping) -> bool:
    if actor.unit_level != unit_level:
        return False
    if unit_level == "community":
        return actor.community_id is not None and actor.community_id == case.get("community_id")
    if unit_level == "subdistrict":
        return actor.subdistrict_id is not None and actor.subdistrict_id == case.get("subdistrict_id")
    return unit_level == "district"


def denial(actor: Actor | None, action: str, case: Mapping) -> tuple[str, dict] | None:
    """None if ``actor`` may do ``action`` to ``case``; else (reason code, extra params)."""
    if actor is None:
        return "role", {}
    role = actor.role
    if role == "admin":
        return None
    if role in VIEW_ONLY_ROLES:
        return "view_only", {}
    if action in GRID_WORKER_ACTIONS:
        if role != "grid_worker":
            return "role", {}
        if actor.community_id is None or actor.community_id != case.get("community_id"):
            return "community", {}
        return None
    if action in DEPARTMENT_ACTIONS:
        if role != "department_staff":
            return "role", {}
        if actor.department_id is None or actor.department_id != case.get("department_id"):
            return "department", {}
        return None
    if role != "dispatcher":
        return "role", {}
    if action == "chase" or (action == "reply" and owner_level(case) is not None):
        # the owning unit, or one that may supervise it (a reply to a case not sorted yet: any
        # unit that contains it, below)
        owner = owner_level(case)
        if (owner is not None and _same_unit(actor, owner, case)) or denial(actor, "supervise", case) is None:
            return None
        return "jurisdiction", {"owner": "承办单位或上级单位", "owner_en": "the owning unit or a higher one"}
    if action == "supervise":
        if actor.unit_level == "district":
            return None
        if (actor.unit_level == "subdistrict" and case.get("level") in ("grid", "community")
                and actor.subdistrict_id is not None and actor.subdistrict_id == case.get("subdistrict_id")):
            return None
        return "supervision", {}
    if action == "locate":
        return None if may_place(actor, case) else ("jurisdiction", {
            "owner": "指挥中心或所在街道", "owner_en": "the command centre or its subdistrict"})
    owner = owner_level(case)
    if owner is None:  # not sorted yet: any unit that contains the case
        if any(_same_unit(actor, u, case) for u in ("community", "subdistrict", "district")):
            return None
        return "jurisdiction", {"owner": "所在社区、街道或指挥中心", "owner_en": "its community, subdistrict or the command centre"}
    if _same_unit(actor, owner, case):
        return None
    unit = "指挥中心" if owner == "district" else LEVEL_LABELS[owner]["zh"]
    unit_en = "the command centre" if owner == "district" else "its " + LEVEL_LABELS[owner]["en"].lower()
    return "jurisdiction", {"owner": unit, "owner_en": unit_en}


def may_place(actor: Actor, case: Mapping) -> bool:
    """Whether dispatcher ``actor``'s unit may locate ``case``: the command centre anywhere; a
    subdistrict while the case has no place yet (待定位) or once it lies in that subdistrict (a
    point outside every grid, or in another subdistrict, is not theirs to set)."""
    if actor.unit_level == "district":
        return True
    if actor.unit_level != "subdistrict" or actor.subdistrict_id is None:
        return False
    unplaced = case.get("community_id") is None and not case.get("outside_jurisdiction")
    return unplaced or case.get("subdistrict_id") == actor.subdistrict_id


def may(actor: Actor | None, action: str, case: Mapping) -> bool:
    return denial(actor, action, case) is None


def check(actor: Actor | None, action: str, case: Mapping) -> None:
    """Raise PermissionDenied unless ``actor`` may do ``action`` to ``case``."""
    d = denial(actor, action, case)
    if d is not None:
        reason, extra = d
        raise PermissionDenied(case_no=case.get("case_no"), action=action, reason=reason,
                               actor=getattr(actor, "full_name", None) or "匿名",
                               role=getattr(actor, "role", None) or "public", **extra)


def available_actions(actor: Actor | None, case: Mapping) -> list[str]:
    """Actions that are both legal from the case's state and permitted to ``actor`` (for buttons)."""
    return [a for a in TRANSITIONS if can(a, case["status"]) and may(actor, a, case)]


def may_report(actor: Actor | None) -> bool:
    """Public intake (actor None) and the roles in REPORT_ROLES may report a case."""
    return actor is None or actor.role in REPORT_ROLES
