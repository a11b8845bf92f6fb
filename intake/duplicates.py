"""Possible duplicates (疑似重复): link, never drop.

An open case of the same category within 50 m, reported in the last 30 days, is linked to a new
report as a possible duplicate (``case_possible_duplicate``, pending): the search is
``dispatch.duplicates`` (one rule for the intake's reports and for the lifecycle's ``locate``).
A dispatcher confirms (then merges through the lifecycle) or rejects the link on the case panel
(``decide_duplicate``, recorded in the link's ``status``/``decided_at``/``decided_by``, and a
merge in the event log); the report itself is kept either way. FixMyStreet suggests nearby reports in the same spirit.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from accounts.actors import Actor
from db.live import announce
from dispatch import service as lifecycle
from dispatch.errors import InvalidInput, LifecycleError


def possible_duplicates_of(conn: Connection, case_id: int) -> list[dict]:
    """The links of case ``case_id`` with their state (pending / confirmed / rejected)."""
    return [dict(r) for r in conn.execute(text(
        "SELECT c.case_no, d.distance_m, d.status FROM case_possible_duplicate d JOIN cases c ON c.id = d.candidate_id "
        "WHERE d.case_id = :i ORDER BY d.distance_m"), {"i": case_id}).mappings()]


# --- the dispatcher's decision (确认 / 排除) ----------------------------------------------------------

DECISIONS = ("confirm", "reject")


def _sorting_denial(conn: Connection, actor: Actor, case_id: int) -> tuple[dict, Actor]:
    """The case row and the actor as the database has them now; PermissionDenied unless the actor
    may sort the case (the right to merge it, whatever its state: a stale link can still be
    rejected)."""
    return lifecycle.may_act(conn, case_id=case_id, actor=actor, action="merge")


def pending_links(conn: Connection, case_id: int) -> list[dict]:
    """The pending links of case ``case_id``: candidate id, number, state and distance, nearest first."""
    return [dict(r) for r in conn.execute(text(
        "SELECT d.candidate_id, c.case_no, c.status, d.distance_m, d.found_at FROM case_possible_duplicate d "
        "JOIN cases c ON c.id = d.candidate_id WHERE d.case_id = :i AND d.status = 'pending' "
        "ORDER BY d.distance_m"), {"i": case_id}).mappings()]


def may_decide(conn: Connection, *, case_id: int, actor: Actor) -> bool:
    """Whether ``actor`` may confirm or reject the links of case ``case_id`` (the UI's mirror)."""
    try:
        _sorting_denial(conn, actor, case_id)
    except LifecycleError:
        return False
    return True


def decide_duplicate(conn: Connection, *, case_id: int, candidate_id: int, decision: str, actor: Actor,
                     comment: str | None = None, expected_version: int | None = None) -> dict:
    """A dispatcher's answer to a possible-duplicate link; the case row after it.

    ``confirm``: the case is merged into the candidate through the lifecycle
    (``transition(action="merge", duplicate_of=candidate)``, which checks state and permission
    and writes the event), the link becomes ``confirmed`` and the case's other pending links
    ``rejected`` (it has one original). ``reject``: the link becomes ``rejected``; the case is
    unchanged. Either way ``decided_at``/``decided_by`` record who answered. One transaction: a
    refused merge leaves the link pending. A link answered meanwhile is an ``InvalidInput``.
    """
    if decision not in DECISIONS:
        raise InvalidInput(f"decision：须为 {'/'.join(DECISIONS)}", f"decision: one of {', '.join(DECISIONS)}")
    with conn.begin_nested():
        row, actor = _sorting_denial(conn, actor, case_id)
        got = conn.execute(text(
            "UPDATE case_possible_duplicate SET status = :s, decided_at = now(), decided_by = :p "
            "WHERE case_id = :c AND candidate_id = :d AND status = 'pending' RETURNING candidate_id"),
            {"s": "confirmed" if decision == "confirm" else "rejected", "p": actor.person_id, "c": case_id,
             "d": candidate_id}).one_or_none()
        if got is None:
            raise InvalidInput("该疑似重复关联不存在或已处理", "This possible-duplicate link does not exist or was already decided")
        if decision == "reject":
            announce(conn, "case_possible_duplicate")  # another dispatcher's panel drops the link
            return row
        row = lifecycle.transition(conn, case_id=case_id, action="merge", actor=actor, duplicate_of=int(candidate_id),
                                   comment=comment, expected_version=expected_version)
        conn.execute(text(
            "UPDATE case_possible_duplicate SET status = 'rejected', decided_at = now(), decided_by = :p "
            "WHERE case_id = :c AND status = 'pending'"), {"p": actor.person_id, "c": case_id})
        return row
