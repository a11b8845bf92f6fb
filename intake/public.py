"""The reporter's way back (public, no login): a website report answered with a private status
link, the case's public progress behind that link, and one satisfaction answer once it is closed.

Plain Python (no UI imports). What a status link shows is what ``intake.reports.public_history``
shows the Open311 clients: states and dates, the sorting unit's latest reply to the reporter
(答复市民, written for the public) and a deadline still ahead; never staff names, internal
comments or the reporter's contact; and only the one case the token belongs to.

A reopen request (不满意, asking for a second look) is recorded in ``case_satisfaction`` as a
queue item for a dispatcher (``reopen_status = 'pending'``, ``pending_reopen_requests``), who
answers it on the case panel (``decide_reopen``: accepted / declined, with who and when). Neither
changes a case status — the transition table has no move from ``closed`` back to verification —
so ``dispatch.service.transition`` stays the only status changer.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from accounts.actors import Actor
from gis.crs import STORAGE_CRS
from db.live import announce
from db.models import CaseSatisfaction
from dispatch import permissions
from dispatch import service as lifecycle
from dispatch.states import TERMINAL_STATUSES, label
from intake.field import Place
from intake.reports import public_history

RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
MAX_COMMENT = 1000
MAX_DESCRIPTION = lifecycle.MAX_DESCRIPTION  # the cases table's, as the Open311 service's
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


class PublicError(ValueError):
    """Input the public pages refuse; ``zh``/``en`` say why, naming the field."""

    def __init__(self, zh: str, en: str):
        super().__init__(en)
        self.zh, self.en = zh, en


def clean_text(value: str | None, *, field: str, limit: int) -> str:
    """Text as typed (stored as text, never interpreted), with the limits the database can keep."""
    v = (value or "").strip()
    if len(v) > limit:
        raise PublicError(f"{field}：不能超过 {limit} 个字符", f"{field}: at most {limit} characters")
    if lifecycle.CONTROL_CHARS.search(v):  # PostgreSQL cannot store NUL; the others are never typed by a person
        raise PublicError(f"{field}：含有控制字符", f"{field}: contains control characters")
    return v


def new_token() -> str:
    return secrets.token_urlsafe(24)


def report_from_website(conn: Connection, *, category_code: str, description: str, place: Place,
                        photo_ref: str | None) -> tuple[str, str, bool]:
    """上报 from the public website (channel ``website``, no actor): (case number, status token,
    whether the point is outside every grid of the district — the reporter is told, as the API's
    ``service_notice`` and the phone page tell theirs).

    The token goes into ``intake_request`` like an Open311 report's (no API key), so the status
    page and ``GET tokens/{token}`` find the case the same way.
    """
    description = clean_text(description, field="description", limit=MAX_DESCRIPTION)
    with conn.begin_nested():
        row = lifecycle.report_case(conn, channel="website", lon=place.lon, lat=place.lat, crs=STORAGE_CRS,
                                    category_code=category_code, description=description, photo_ref=photo_ref,
                                    actor=None)
        token = new_token()
        conn.execute(text("INSERT INTO intake_request(case_id, status_token) VALUES (:c, :t)"),
                     {"c": row["id"], "t": token})
    return row["case_no"], token, bool(row["outside_jurisdiction"])


@dataclass(frozen=True)
class MergedInto:
    """The case a duplicate report was merged into (合并): where its reporter's problem is handled."""
    case_no: str
    status_label: str
    ended_at: object
    due_at: object                    # a deadline still ahead, as for the reporter's own case
    public_reply: str | None
    public_reply_at: object


@dataclass(frozen=True)
class PublicStatus:
    case_id: int
    case_no: str
    category: str | None
    status: str
    status_label: str
    reported_at: object
    closed_at: object
    history: list[dict]
    rating: str | None            # the answer given, if any
    answered_at: object
    reopen_status: str | None
    public_reply: str | None = None   # 答复市民: the sorting unit's latest words to the reporter (migration 0034)
    public_reply_at: object = None
    due_at: object = None             # 预计办结: the deadline while the case is open (Open311's expected_datetime)
    merged_into: MergedInto | None = None  # a duplicate: the case that carries the problem on

    @property
    def may_rate(self) -> bool:
        return self.status == "closed" and self.rating is None


def _case_for_token(conn: Connection, token: str) -> dict | None:
    if not token or not _TOKEN.match(token):
        return None
    got = conn.execute(text(
        "SELECT c.id, c.case_no, c.status, c.reported_at, c.closed_at, c.rejected_at, c.merged_at, "
        "cat.name AS cat, cat.name_en AS cat_en, s.rating, s.answered_at, s.reopen_status, "
        "c.public_reply, c.public_reply_at, c.due_at, c.duplicate_of, now() AS now "
        "FROM intake_request r JOIN cases c ON c.id = r.case_id "
        "LEFT JOIN case_category cat ON cat.code = c.category_code "
        "LEFT JOIN case_satisfaction s ON s.case_id = c.id WHERE r.status_token = :t"), {"t": token})
    row = got.mappings().one_or_none()
    return dict(row) if row else None


def public_status(conn: Connection, token: str, *, lang: str = "zh") -> PublicStatus | None:
    """What the status link shows, or None for a token that belongs to no case."""
    r = _case_for_token(conn, token)
    if r is None:
        return None
    ended = r["closed_at"] or r["rejected_at"] or r["merged_at"] if r["status"] in TERMINAL_STATUSES else None
    return PublicStatus(
        case_id=r["id"], case_no=r["case_no"], category=(r["cat_en"] or r["cat"]) if lang == "en" else r["cat"],
        status=r["status"], status_label=label("status", r["status"], lang), reported_at=r["reported_at"],
        closed_at=ended, history=public_history(conn, r["id"], lang=lang), rating=r["rating"],
        answered_at=r["answered_at"], reopen_status=r["reopen_status"], public_reply=r["public_reply"],
        public_reply_at=r["public_reply_at"],
        due_at=_ahead(r, r["now"]), merged_into=_merged_into(conn, r, lang) if r["status"] == "merged" else None)


def _ahead(r: Mapping, now) -> object:
    """预计办结: the deadline of open case ``r`` while it is still ahead (a passed one promises
    nothing; the states say the rest)."""
    return r["due_at"] if r["status"] not in TERMINAL_STATUSES and r["due_at"] and r["due_at"] > now else None


def _merged_into(conn: Connection, r: Mapping, lang: str) -> MergedInto | None:
    """The case a merged report now lives on in (followed through a merged original, a few steps
    at most): its state, end or expected date and reply are what its reporter waits for too."""
    dup, seen = r["duplicate_of"], {r["id"]}
    for _ in range(5):
        if dup is None or dup in seen:
            return None
        o = conn.execute(text(
            "SELECT id, case_no, status, closed_at, rejected_at, due_at, duplicate_of, public_reply, public_reply_at "
            "FROM cases WHERE id = :i"), {"i": dup}).mappings().one_or_none()
        if o is None:
            return None
        if o["status"] != "merged":
            return MergedInto(case_no=o["case_no"], status_label=label("status", o["status"], lang),
                              ended_at=o["closed_at"] or o["rejected_at"], due_at=_ahead(o, r["now"]),
                              public_reply=o["public_reply"], public_reply_at=o["public_reply_at"])
        seen.add(dup)
        dup = o["duplicate_of"]
    return None


def answer_satisfaction(conn: Connection, token: str, *, rating: str, comment: str = "",
                        reopen: bool = False) -> None:
    """满意度: the reporter's one answer on a closed case; ``reopen`` (only when unsatisfied) asks
    a dispatcher to look at the case again. A second answer is refused."""
    if rating not in RATINGS:
        raise PublicError(f"rating：须为 {', '.join(RATINGS)} 之一", f"rating: one of {', '.join(RATINGS)}")
    if reopen and rating != "unsatisfied":
        raise PublicError("reopen：只有不满意时可以申请重新核查", "reopen: only an unsatisfied answer can ask for a second look")
    comment = clean_text(comment, field="comment", limit=MAX_COMMENT)
    with conn.begin_nested():
        r = _case_for_token(conn, token)
        if r is None:
            raise PublicError("token：链接无效", "token: this link belongs to no case")
        if r["status"] != "closed":
            raise PublicError("rating：案件结案后才能评价", "rating: a case can be rated once it is closed")
        done = conn.execute(pg_insert(CaseSatisfaction).values(
            case_id=r["id"], rating=rating, comment=comment, reopen_requested=reopen,
            reopen_status="pending" if reopen else None).on_conflict_do_nothing(index_elements=["case_id"]))
        if done.rowcount == 0:  # answered before (or at the same moment in another tab)
            raise PublicError("rating：本案件已评价过", "rating: this case has already been rated")
        if reopen:  # the dispatchers' reopen queue and the case's panel show it
            announce(conn, "case_satisfaction")


def pending_reopen_requests(conn: Connection) -> list[dict]:
    """Unsatisfied answers asking for a second look, oldest first (for the dispatchers' queue)."""
    return [dict(r) for r in conn.execute(
        select(CaseSatisfaction.case_id, CaseSatisfaction.rating, CaseSatisfaction.comment,
               CaseSatisfaction.answered_at)
        .where(CaseSatisfaction.reopen_status == "pending").order_by(CaseSatisfaction.answered_at)).mappings()]


REOPEN_DECISIONS = ("accepted", "declined")


def reopen_request_of(conn: Connection, case_id: int) -> dict | None:
    """The pending reopen request of case ``case_id`` (rating, comment, answered_at), or None."""
    got = conn.execute(
        select(CaseSatisfaction.case_id, CaseSatisfaction.rating, CaseSatisfaction.comment,
               CaseSatisfaction.answered_at)
        .where(CaseSatisfaction.case_id == case_id, CaseSatisfaction.reopen_status == "pending")).mappings()
    row = got.one_or_none()
    return dict(row) if row else None


def decide_reopen(conn: Connection, *, case_id: int, decision: str, actor: Actor) -> None:
    """A dispatcher's answer to a reporter's request for a second look: ``accepted`` or ``declined``,
    recorded with ``decided_at``/``decided_by``.

    It changes no case status: the transition table has no move out of ``closed`` back to
    verification (only ``evaluate``), and ``dispatch.service.transition`` stays the one status
    changer. Who may answer: whoever may verify the case (the unit that owns its level).
    """
    if decision not in REOPEN_DECISIONS:
        raise PublicError(f"decision：须为 {'/'.join(REOPEN_DECISIONS)}",
                          f"decision: one of {', '.join(REOPEN_DECISIONS)}")
    with conn.begin_nested():
        row, actor = lifecycle.may_act(conn, case_id=case_id, actor=actor, action="verify_pass")
        done = conn.execute(text(
            "UPDATE case_satisfaction SET reopen_status = :s, decided_at = now(), decided_by = :p "
            "WHERE case_id = :c AND reopen_status = 'pending'"),
            {"s": decision, "p": actor.person_id, "c": case_id})
        if done.rowcount == 0:
            raise PublicError("该复核申请不存在或已处理", "This reopen request does not exist or was already answered")
        announce(conn, "case_satisfaction")  # gone from every dispatcher's queue and panel


def reopen_queue(conn: Connection, actor: Actor) -> list[dict]:
    """The pending reopen requests ``actor`` may answer (case id and number, rating, comment,
    answered_at), oldest first: the dispatch page's queue."""
    rows = conn.execute(text(
        "SELECT c.*, s.comment AS reopen_comment, s.answered_at FROM case_satisfaction s "
        "JOIN cases c ON c.id = s.case_id WHERE s.reopen_status = 'pending' ORDER BY s.answered_at")).mappings()
    return [{"case_id": r["id"], "case_no": r["case_no"], "comment": r["reopen_comment"],
             "answered_at": r["answered_at"]} for r in rows if permissions.may(actor, "verify_pass", r)]
