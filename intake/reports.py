"""Service requests: creating a report through the lifecycle, and reading requests back.

``create_report`` writes the case as ``dispatch.service.report_case`` would (its
``report_case_ctes``: the database assigns the grid, stamps the outside-jurisdiction flag and
notifies the walls), the intake record with the reporter's private status token, the
possible-duplicate links and the idempotency answer — all in one statement (one round trip).
Reads (``find_requests``, ``request_by_id``) show what the public may see: states and dates and
the words written for the public (a ``reply`` move, 答复市民, as ``status_notes``), never staff
names, their comments or the reporter's contact.
"""
from __future__ import annotations

import functools
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from db.partitions import case_bound
from dispatch import service as lifecycle
from dispatch.states import TERMINAL_STATUSES, label
from intake import idempotency
from dispatch.duplicates import link_cte, link_params
from intake.keys import ApiKey
from intake.prepared import Prepared

MAX_SPAN = timedelta(days=90)
MAX_ROWS = 1000


@dataclass
class NewReport:
    service_code: str
    lon: float | None  # None (with an address): stored awaiting location (待定位)
    lat: float | None
    crs: str
    channel: str
    description: str = ""
    address: str | None = None
    attributes: dict = field(default_factory=dict)
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    media_url: str | None = None
    photo_ref: str | None = None
    photo_gps: tuple[float, float] | None = None


def _notice(lang: str, row: dict, dups: list[dict]) -> str:
    en = lang == "en"
    parts = [f"Received as case {row['case_no']}." if en else f"已受理，案件编号 {row['case_no']}。"]
    if row.get("awaiting_location"):
        parts.append("No position was given: the address is recorded and the case awaits location by the "
                     "command centre." if en else "未提供坐标：已记录地址，待指挥中心定位。")
    if row["outside_jurisdiction"]:
        parts.append("The location is outside the district's grids: recorded as outside the jurisdiction "
                     "for staff to check." if en else "上报位置不在本区网格内，已登记为辖区外案件，待工作人员核实。")
    if dups:
        nos = ", ".join(d["case_no"] for d in dups)
        parts.append(f"Open reports of the same kind within 50 m ({nos}) are linked as possible duplicates "
                     "for a dispatcher to confirm; this report is kept." if en
                     else f"50 米内有同类未结案件（{nos}），已标记为疑似重复，待派单员确认；本次上报已保留。")
    return " ".join(parts)


def answer_of(stored, lang: str) -> list:
    """The Open311 answer to a report from what the statement returned (and the idempotency row
    keeps): ``{case_no, outside_jurisdiction, grid_code, status_token, account_id,
    possible_duplicates: [{case_no, distance_m}]}``, the notice in ``lang``. A list is an answer
    stored whole before 0009 and is returned as it was."""
    if isinstance(stored, list):
        return stored
    dups = stored["possible_duplicates"]
    return [{
        "service_request_id": stored["case_no"],
        "service_notice": _notice(lang, stored, dups),
        "account_id": stored["account_id"],
        # extensions (docs/intake.md)
        "status_token": stored["status_token"],
        "outside_jurisdiction": stored["outside_jurisdiction"],
        "grid_code": stored["grid_code"],
        "awaiting_location": bool(stored.get("awaiting_location")),
        "possible_duplicates": [d["case_no"] for d in dups],
    }]


_ANSWER_CTES = """
    req AS (INSERT INTO intake_request(case_id, api_key_id, status_token, attributes, email, first_name, last_name,
                                       device_id, account_id, media_url, photo_gps_lon, photo_gps_lat)
            SELECT id, :k, :t, CAST(:a AS jsonb), :e, :fn, :ln, :d, :acc, :m, :gx, :gy FROM new_case),
    answer AS (
        SELECT n.id, jsonb_build_object(
            'case_no', n.case_no, 'outside_jurisdiction', n.outside_jurisdiction, 'grid_code', n.grid_code,
            'awaiting_location', n.geom IS NULL,
            'status_token', CAST(:t AS text), 'account_id', CAST(:acc AS text),
            'possible_duplicates', COALESCE((
                SELECT jsonb_agg(jsonb_build_object('case_no', c.case_no, 'distance_m', round(l.distance_m::numeric, 1))
                                 ORDER BY l.distance_m)
                FROM linked l JOIN cases c ON c.id = l.candidate_id), '[]'::jsonb)) AS stored
        FROM new_case n),
    idem AS (INSERT INTO intake_idempotency(api_key_id, idem_key, body_sha256, case_id, response)
             SELECT :k, CAST(:ik AS text), :digest, id, stored FROM answer WHERE CAST(:ik AS text) IS NOT NULL)
    SELECT stored FROM answer
"""


# A retry of a key already answered makes no case, so it takes no case number (case_no_seq is not
# rolled back with a failed statement: a retry used to leave a gap in the day's numbers). A retry at
# the same moment as the first post still fails on the key's primary key, as before.
_ANSWERED = ("CAST(:ik AS text) IS NOT NULL AND EXISTS (SELECT 1 FROM intake_idempotency "
             "WHERE api_key_id = :k AND idem_key = CAST(:ik AS text))")


# The types of the report statement's parameters, fixed when it is prepared (intake.prepared): the
# lifecycle's (rc_*, dispatch.service.report_case_ctes), the duplicate search's and the intake's own.
_TYPES = {
    **{n: "text" for n in ("rc_channel", "rc_cat", "rc_descr", "rc_addr", "rc_rname", "rc_rphone", "rc_photo",
                           "rc_crs", "rc_attachments", "rc_data", "t", "a", "e", "fn", "ln", "d", "acc", "m", "ik",
                           "digest")},
    **{n: "float8" for n in ("rc_x", "rc_y", "rc_x84", "rc_y84", "box", "radius", "gx", "gy")},
    "days": "integer", "k": "integer",
}


# The statement's text is the same for every report: one Prepared per text (per process), prepared
# on each connection at its first report there.
@functools.lru_cache(maxsize=4)
def _statement(sql: str) -> Prepared:
    return Prepared(sql, _TYPES, prefix="intake_report")


def create_report(conn: Connection, key: ApiKey, rep: NewReport, *, lang: str, idem_key: str | None,
                  digest: str, radius_m: float = 50.0, days: int = 30) -> tuple[int, list]:
    """Create the case and its intake record; returns (HTTP status, answer).

    One statement, so one round trip and atomic by itself (the intake's connections are in
    autocommit): the case and its 'report' event (``dispatch.service.report_case_ctes``, the
    lifecycle's report), the intake record with the reporter's private status token, the
    possible-duplicate links and the idempotency row with the answer become visible together or
    not at all. The idempotency row is inserted last, without ON CONFLICT: an earlier or
    simultaneous post under the same key makes the statement fail on the primary key (a
    simultaneous one waits for the first to commit), so nothing of it stays, and the first answer
    is returned instead (200), or 409 for a different body. A retry after the first answer makes no
    case at all (``_ANSWERED``, in the same statement: no second round trip), so it takes no case
    number.
    """
    ctes, params = lifecycle.report_case_ctes(
        channel=rep.channel, lon=rep.lon, lat=rep.lat, crs=rep.crs, category_code=rep.service_code,
        description=rep.description, address=rep.address,
        reporter_name=" ".join(x for x in (rep.first_name, rep.last_name) if x) or None, reporter_phone=rep.phone,
        photo_ref=rep.photo_ref, unless=_ANSWERED)
    gps = rep.photo_gps or (None, None)
    params.update(link_params(None, radius_m, days), k=key.id, t=secrets.token_urlsafe(24), a=_json(rep.attributes),
                  e=rep.email, fn=rep.first_name, ln=rep.last_name, d=rep.device_id, acc=rep.account_id,
                  m=rep.media_url, gx=gps[0], gy=gps[1], ik=idem_key, digest=digest)
    try:
        stored = _statement("WITH " + ctes + ", " + link_cte("new_case") + ", " + _ANSWER_CTES).execute(
            conn, params).scalar_one_or_none()
    except IntegrityError as e:
        if not (idem_key and idempotency.is_key_taken(e)):
            raise
        stored = None
    if stored is None:  # the key was answered before (or at the same moment): no case made, that answer
        replay = idempotency.lookup(conn, key.id, idem_key, digest)
        if replay is None:  # cannot happen: the row is committed with its answer
            raise idempotency.in_progress() from None
        return replay.status, answer_of(replay.response, lang)
    return 201, answer_of(stored, lang)


def _json(v) -> str:
    return json.dumps(v, ensure_ascii=False)


# --- reads ---------------------------------------------------------------------------------------

_SELECT = """
    SELECT c.id, c.case_no, c.status, c.category_code, cat.name AS cat_name, cat.name_en AS cat_name_en,
           c.description, c.address, c.reported_at, c.updated_at, c.due_at, c.channel, c.grid_code, c.public_reply,
           c.outside_jurisdiction, c.photo_ref, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
           d.name AS dept_name, d.name_en AS dept_name_en, r.media_url, r.status_token, o.case_no AS merged_into
    FROM cases c
    LEFT JOIN cases o ON o.id = c.duplicate_of AND c.status = 'merged'
    LEFT JOIN case_category cat ON cat.code = c.category_code
    LEFT JOIN department d ON d.id = c.department_id
    LEFT JOIN intake_request r ON r.case_id = c.id
"""


def _open311_status(status: str) -> str:
    return "closed" if status in TERMINAL_STATUSES else "open"


def _extensions_of(conn: Connection, rows: list[dict], lang: str) -> dict[int, tuple[list[dict], list[str]]]:
    """The public history and the possible duplicates of every case of a page, in two statements
    (not two per row: 1,000 rows took 1.8 s that way). The events are read from the earliest
    report of the page on (an event is never earlier than its case's report), so the months before
    are pruned, as ``case_bound`` prunes them for one case."""
    if not rows:
        return {}
    ids = [r["id"] for r in rows]
    since = min(r["reported_at"] for r in rows)
    hist: dict[int, list[dict]] = {i: [] for i in ids}
    for e in conn.execute(text(
            "SELECT e.case_id, e.at, e.action, e.to_status FROM case_event e "
            "WHERE e.case_id = ANY(:ids) AND e.at >= :since ORDER BY e.case_id, e.at, e.id"),
            {"ids": ids, "since": since}).mappings():
        hist[e["case_id"]].append({"at": e["at"], "action": e["action"], "action_label": label("action", e["action"], lang),
                                   "status": e["to_status"], "status_label": label("status", e["to_status"], lang)})
    dups: dict[int, list[str]] = {i: [] for i in ids}
    for d in conn.execute(text(
            "SELECT d.case_id, c.case_no FROM case_possible_duplicate d JOIN cases c ON c.id = d.candidate_id "
            "WHERE d.case_id = ANY(:ids) ORDER BY d.case_id, d.distance_m"), {"ids": ids}).mappings():
        dups[d["case_id"]].append(d["case_no"])
    return {i: (hist[i], dups[i]) for i in ids}


def _view(conn: Connection, r: dict, *, lang: str, extensions: bool, media_base: str, photo_exists,
          ext: tuple[list[dict], list[str]] | None = None) -> dict:
    en = lang == "en"
    media = r["media_url"]
    if r["photo_ref"] and photo_exists(r["photo_ref"]):
        media = f"{media_base}/{r['photo_ref']}"
    out = {
        "service_request_id": r["case_no"],
        "status": _open311_status(r["status"]),
        # what the sorting unit told the public (答复市民, migration 0034), else where a duplicate
        # went (合并: the case to follow), else the state in words
        "status_notes": r["public_reply"] or (
            (f"已合并至案件 {r['merged_into']} 办理" if lang != "en" else f"Merged into case {r['merged_into']}")
            if r["merged_into"] else label("status", r["status"], lang)),
        "service_name": (r["cat_name_en"] or r["cat_name"]) if en else r["cat_name"],
        "service_code": r["category_code"],
        "description": r["description"],
        "agency_responsible": (r["dept_name_en"] or r["dept_name"]) if en else r["dept_name"],
        "service_notice": None,
        "requested_datetime": r["reported_at"],
        "updated_datetime": r["updated_at"],
        "expected_datetime": r["due_at"],
        "address": r["address"],
        "address_id": None,
        "zipcode": None,
        "lat": None if r["lat"] is None else round(r["lat"], 7),
        "long": None if r["lon"] is None else round(r["lon"], 7),
        "media_url": media,
    }
    if r["lon"] is None:  # awaiting location (待定位): the address only, as the specification allows
        del out["lat"], out["long"]
    if extensions:
        out["extended_attributes"] = {
            "channel": r["channel"],
            "case_status": r["status"],
            "grid_code": r["grid_code"],
            "outside_jurisdiction": r["outside_jurisdiction"],
            "awaiting_location": r["lon"] is None,
            "history": ext[0] if ext else [],
            "possible_duplicates": ext[1] if ext else [],
        }
    return out


def public_history(conn: Connection, case_id: int, *, lang: str = "zh") -> list[dict]:
    """The case's steps as the public may see them: when, what, the state after; no names or comments."""
    return [{"at": e["at"], "action": e["action"], "action_label": label("action", e["action"], lang),
             "status": e["to_status"], "status_label": label("status", e["to_status"], lang)}
            for e in conn.execute(text(
                "SELECT e.at, e.action, e.to_status FROM case_event e "
                f"WHERE e.case_id = :c AND {case_bound(conn, case_id, 'e', events=True)} ORDER BY e.at, e.id"),
                {"c": case_id}).mappings()]


def find_requests(conn: Connection, *, ids: list[str] | None = None, service_codes: list[str] | None = None,
                  start: datetime | None = None, end: datetime | None = None, statuses: list[str] | None = None,
                  page: int = 1, page_size: int = MAX_ROWS, lang: str = "zh", extensions: bool = False,
                  media_base: str = "", photo_exists=lambda ref: False) -> list[dict]:
    """GET requests: newest first. ``ids`` ignore the other filters (the specification's rule)."""
    where, p = [], {}
    if ids:
        where.append("c.case_no = ANY(:ids)")
        p["ids"] = ids
    else:
        if service_codes:
            where.append("c.category_code = ANY(:codes)")
            p["codes"] = service_codes
        where.append("c.reported_at >= :start AND c.reported_at <= :end")
        p.update(start=start, end=end)
        if statuses and set(statuses) != {"open", "closed"}:
            term = "(" + ", ".join(f"'{s}'" for s in TERMINAL_STATUSES) + ")"
            where.append(f"c.status {'NOT ' if statuses == ['open'] else ''}IN {term}")
    sql = _SELECT + " WHERE " + " AND ".join(where) + " ORDER BY c.reported_at DESC, c.id DESC LIMIT :lim OFFSET :off"
    p.update(lim=page_size, off=(page - 1) * page_size)
    rows = [dict(r) for r in conn.execute(text(sql), p).mappings()]
    ext = _extensions_of(conn, rows, lang) if extensions else {}
    return [_view(conn, r, lang=lang, extensions=extensions, media_base=media_base, photo_exists=photo_exists,
                  ext=ext.get(r["id"])) for r in rows]


def request_by_id(conn: Connection, case_no: str, **kw) -> dict | None:
    rows = find_requests(conn, ids=[case_no], page_size=1, **kw)
    return rows[0] if rows else None


def case_no_for_token(conn: Connection, token: str) -> str | None:
    """The case number a private status token belongs to (for GET tokens/{token} and the status page)."""
    return conn.execute(text(
        "SELECT c.case_no FROM intake_request r JOIN cases c ON c.id = r.case_id WHERE r.status_token = :t"),
        {"t": token}).scalar_one_or_none()
