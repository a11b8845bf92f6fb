"""Play raw reported cases forward into realistic histories (sample and benchmark data).

``play_history(conn, *, seed, until=None) -> dict`` takes every case whose status is 'reported'
and that has no event yet, and writes for each one the event log of a plausible life through
LEGAL transitions (dispatch/states.py), by people who are permitted to act
(dispatch/permissions.py), at working times of the working calendar (every step after the
report lies in a working period), then the case's final state, timestamps, level, department,
handler and deadline. Nothing happens after ``until`` (default: now): cases reported in the
last days are left in every open state, some overdue, some at risk, some supervised; cases
outside the jurisdiction wait in their queue or are rejected. Final levels follow the
source district (docs/domain.md): about 72.4 % of all cases end at grid/community/subdistrict
level (incl. on-the-spot resolution by grid workers) and 24.6 % go up to the district; the rest
are rejected, merged as duplicates or still outside the jurisdiction. Same seed and input → same history.

Speed: the whole plan is generated with numpy (one vector per step of a fixed step ladder), the
cases are written with one UPDATE…FROM per batch (reports the sample loader held back,
``pending``: one INSERT…SELECT of their final rows instead). The events go in with binary COPY into a
staging table and one INSERT…SELECT per batch (the indicator trigger sees them set-based); on
the bulk path instead straight into ``case_event`` by one binary COPY whose every value, the
JSON columns too, is built from the arrays (``sample_data.bulk.BinaryRows``), with the
table's INSERT triggers, which the replica role skips anyway, and (most of the table played)
its primary key dropped for the COPY and made again after it, the ids taken from the sequence
in one call.

People are chosen among those who may act: a dispatcher of the unit owning the case's level,
staff of the lead department, a grid worker of the case's responsibility grid (else of its
community). Where the data has no such person an admin acts, else the event has no actor (role
'system'); the returned stats count those fallbacks.
"""
from __future__ import annotations

import io
import time as _time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from db.models import CaseCategory, Department, Person, ResponsibilityGridWorker, TimeLimitPolicy, UnitGrid
from dispatch.calendar import WorkingCalendar, to_epoch
from dispatch.deadlines import DEFAULT_LIMIT, accept_dues, warn_instants
from dispatch.states import LEVELS, STATUSES
from sample_data import rollup
from sample_data.bulk import (BinaryRows, copy_binary, copy_rows, digits_part, drop_insert_triggers, make_months,
                              drop_primary_key, drop_secondary_indexes, iso_part, may_bulk, offset_text,
                              pg_microseconds, pieces_part, reserve_ids, utc_offsets, verify_key_values,
                              verify_written_keys, work_table)

# --- the step ladder: every life is a sub-sequence of these, in this order ----------------------
STEPS = (
    "report", "self_handle", "reject", "merge", "register", "escalate", "close", "dispatch", "return",
    "dispatch", "accept", "request_postponement", "approve_postponement", "supervise", "feed_back",
    "verify_fail", "accept", "feed_back", "verify_pass", "evaluate",
)
(S_REPORT, S_SELF, S_REJECT, S_MERGE, S_REGISTER, S_ESC, S_CLOSE, S_DISPATCH1, S_RETURN, S_DISPATCH2,
 S_ACCEPT1, S_REQ_PP, S_APPROVE_PP, S_SUPERVISE, S_FEEDBACK1, S_VERIFY_FAIL, S_ACCEPT2, S_FEEDBACK2,
 S_VERIFY_PASS, S_EVALUATE) = range(len(STEPS))
K = len(STEPS)

TPL_QUEUE, TPL_REJECT, TPL_MERGE, TPL_SELF, TPL_DIRECT, TPL_STD = range(6)

ROLES = ("public", "system", "admin", "dispatcher", "department_staff", "grid_worker")
ACTIONS = tuple(dict.fromkeys(STEPS))
COMMENTS = (
    "非本辖区管理范围，不予立案", "上报信息不全且无法核实", "与已有案件重复，予以合并", "网格员现场处置完毕",
    "问题较大，需上级协调处置", "重大问题，及时上报区指挥中心", "社区已组织自行处置完毕", "非本部门职责，申请退回",
    "需协调多部门，申请延期办理", "同意缓办", "超期未办结，予以督办", "已按要求处置完毕", "现场复核未整改到位，返工",
    "返工整改完毕", "群众满意", "请按时限要求处置",
)
C_REJECT_OUT, C_REJECT, C_MERGE, C_SELF, C_ESC, C_ESC_MAJOR, C_CLOSE, C_RETURN, C_REQ_PP, C_APPROVE, C_SUPERVISE, \
    C_FEEDBACK, C_VERIFY_FAIL, C_FEEDBACK2, C_EVALUATE, C_DISPATCH = range(1, len(COMMENTS) + 1)

TARGET_DISTRICT_SHARE = 0.246  # the source district: 986 of 4,011 reported up (docs/domain.md)
HOUR = 3600.0
HOLD = 2000 * HOUR  # far beyond ``until``: the case stays where it is


BULK_THRESHOLD = 20_000  # from this many cases on, the bulk path (sample_data/bulk.py)


def play_history(conn: Connection, *, seed: int, until: datetime | None = None, batch_size: int = 250_000,
                 bulk: bool | None = None, deferred_indexes: list[str] | None = None,
                 pending: str | None = None) -> dict:
    """Write legal event histories for every 'reported' case without events; returns stats.

    ``bulk`` (default: from ``BULK_THRESHOLD`` cases on, if the role is a superuser) writes the
    same rows with per-row triggers off (``sample_data.bulk``): foreign keys verified set-wise
    afterwards, secondary indexes rebuilt once when the played cases are most of the table
    (``deferred_indexes``: the DDL of indexes a bulk report load left dropped, built here too), and
    the indicator roll-ups summed in memory from the played arrays (``sample_data.rollup``: the
    database's delta functions, row for row) instead of by the triggers. Same events, same
    cases, same roll-ups (tests/sample_data/test_history.py).

    ``pending``: the work table of reports ``sample_data.load.copy_reports`` held back (ids and
    case numbers given, not yet in ``cases``): those are played instead, on the bulk path, and
    each case is inserted once in its final state rather than updated (tests/sample_data/test_load.py
    checks it writes what playing the inserted reports writes); the table is dropped.
    """
    t0 = _time.perf_counter()
    cal = WorkingCalendar.from_db(conn)
    if until is None:
        until = conn.execute(text("SELECT now()")).scalar_one()
    if pending is not None and not may_bulk(conn):
        raise ValueError("held-back reports (pending) are played on the bulk path only, which needs a superuser")
    cases = _load_cases(conn, pending)
    stats: dict = {"cases": int(len(cases)), "events": 0, "fallback_actors": 0}
    timings: dict[str, float] = {"load": _time.perf_counter() - t0}
    if bulk is None or pending is not None:
        bulk = len(cases) >= BULK_THRESHOLD or pending is not None
    bulk = bulk and may_bulk(conn) and not cases.empty
    deferred = list(deferred_indexes or [])
    if deferred and not bulk:  # nothing to gain from waiting: the indexes back first
        for ddl in deferred:
            conn.execute(text(ddl))
        deferred = []
    if cases.empty:
        if pending is not None:
            conn.execute(text(f"DROP TABLE {pending}"))
        stats["seconds"] = round(_time.perf_counter() - t0, 2)
        return stats
    stats["bulk"] = bulk
    t = _time.perf_counter()  # every month the cases and their events lie in, before any is written
    stats["partitions_made"] = make_months(conn, datetime.fromtimestamp(float(cases["rep"].min()), tz=timezone.utc))
    timings["partitions"] = _time.perf_counter() - t
    refs = _References(conn)
    rng = np.random.default_rng(seed)
    plan = _choose_paths(cases, refs, cal, to_epoch(until), rng)
    timings["choose"] = _time.perf_counter() - t0 - timings["load"]
    order = np.arange(len(cases))
    cat_i, cat_names = rollup.codes(plan["cat"])
    ch_i, ch_names = rollup.codes(plan["channel"])
    rebuild: list[str] = deferred
    # the bulk path's roll-up sums are numpy work done while the server writes: a batch's sums are
    # made in a worker thread while its cases and events are written, and the last roll-up rows
    # (case_stat_one's, the tables' order) here while a worker has the server rebuild the case and
    # event indexes; the connection is used by one thread at a time
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bulk") if bulk else None
    acc = _RollupSums(timings)
    sums = None  # the batch sums being made
    if bulk:
        t = _time.perf_counter()
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("SET LOCAL jit = off"))  # set-wise statements over staged rows: compiling them costs more
        total = conn.execute(text("SELECT count(*) FROM cases")).scalar_one() + (len(cases) if pending else 0)
        if deferred or 2 * len(cases) >= total:  # most of the table: rebuilding beats maintaining row by row
            rebuild = deferred + drop_secondary_indexes(conn, "cases") + drop_secondary_indexes(conn, "case_event")
            rebuild += drop_primary_key(conn, "case_event")  # the COPY then writes no index at all
        rebuild += drop_insert_triggers(conn, "case_event")  # back before the role is: they never fire here
        timings["bulk_prepare"] = _time.perf_counter() - t
    try:
        for start in range(0, len(cases), batch_size):
            idx = order[start:start + batch_size]
            sub = {k: v[idx] for k, v in plan.items()}
            brng = np.random.default_rng([seed, start])
            t = _time.perf_counter()
            events, final = _play(sub, refs, cal, to_epoch(until), brng)
            timings["plan"] = timings.get("plan", 0.0) + _time.perf_counter() - t
            at_case = np.searchsorted(sub["id"], events["case_id"])
            if bulk:  # what the roll-up triggers (off) would have added, made while the batch is written
                if sums is not None:  # the last batch's first (one batch's events held there at a time)
                    t = _time.perf_counter()
                    sums.result()
                    timings["rollups_wait"] = timings.get("rollups_wait", 0.0) + _time.perf_counter() - t
                sums = pool.submit(acc.add, dict(events), cat_i[idx][at_case], ch_i[idx][at_case], sub["com"][at_case])
            events["cat"], events["ch"] = cat_i[idx][at_case], ch_i[idx][at_case]
            stats["events"] += _write(conn, events, final, timings, verify=bulk, names=(cat_names, ch_names),
                                      pending=pending)
            del events["cat"], events["ch"]
            not_report = events["action"] != ACTIONS.index("report") + 1
            stats["fallback_actors"] += int((not_report & np.isin(events["role"], [ROLES.index("admin") + 1,
                                                                                    ROLES.index("system") + 1])).sum())
        if pending is not None:
            conn.execute(text(f"DROP TABLE {pending}"))
        if bulk:
            t = _time.perf_counter()
            made: dict[str, float] = {}
            state = rollup.rollup_state(conn)
            indexes = pool.submit(_rebuild_indexes, conn, rebuild, timings)  # the server's work ...
            # ... while the roll-ups' rows are made here (no database call)
            if sums is not None:
                sums.result()
            summed = acc.summed
            prepared = rollup.prepare_rollups(rollup.merge(summed)[0], state, categories=cat_names,
                                              channels=ch_names, timings=made) if summed else []
            indexes.result()
    finally:
        if pool is not None:  # waits for the workers: on an error the connection is free before it goes up
            pool.shutdown()
    if bulk:
        timings["indexes_and_prepare"] = _time.perf_counter() - t
        timings.update({f"rollups_prepare.{k}": v for k, v in made.items()})
        t = _time.perf_counter()
        detail: dict[str, float] = {}
        rollup.write_rollups(conn, prepared, detail)
        timings.update({f"rollups_write.{k}": v for k, v in detail.items()})
        timings["rollups_write"] = _time.perf_counter() - t
        _finish_bulk(conn)
    t = _time.perf_counter()
    stats.update(_summary(conn, plan["id"]))
    timings["summary"] = _time.perf_counter() - t
    stats["seconds"] = round(_time.perf_counter() - t0, 2)
    stats["timings"] = {k: round(v, 2) for k, v in timings.items()}
    return stats


class _RollupSums:
    """The batches' roll-up sums (``sample_data.rollup``), made one batch after the other in a
    worker thread and added up there."""

    def __init__(self, timings: dict):
        self.summed: list = []
        self._timings = timings

    def add(self, events: dict, category: np.ndarray, channel: np.ndarray, community: np.ndarray) -> None:
        t = _time.perf_counter()
        batch = rollup.sums(rollup.deltas(events, ACTIONS, category, channel, community))
        self.summed = rollup.merge(self.summed + [batch], pending=rollup.MERGE_PENDING)
        self._timings["rollups"] = self._timings.get("rollups", 0.0) + _time.perf_counter() - t


def _rebuild_indexes(conn: Connection, rebuild: list[str], timings: dict) -> None:
    """The indexes and keys the bulk path dropped, built again once, and the statistics."""
    t = _time.perf_counter()
    for ddl in rebuild:
        conn.execute(text(ddl))
    conn.execute(text("ANALYZE cases, case_event"))
    timings["bulk_indexes"] = _time.perf_counter() - t


def _finish_bulk(conn: Connection) -> None:
    """What the per-row triggers would have done, set-wise, beyond the indexes, statistics and
    roll-ups: the notice (the foreign keys of what was written were checked batch by batch in
    ``_write``); the caller's transaction gets its settings back."""
    conn.execute(text("SET LOCAL session_replication_role = origin"))
    conn.execute(text("SET LOCAL jit TO DEFAULT"))
    for table in ("cases", "case_event"):  # the statement notices the replica role skipped
        conn.execute(text("SELECT pg_notify('case_changed', :t)"), {"t": table})


# --- input ---------------------------------------------------------------------------------------

def _raw(conn: Connection):
    return conn.connection.driver_connection


def _load_cases(conn: Connection, pending: str | None = None) -> pd.DataFrame:
    sql = f"""
    COPY (SELECT c.id, extract(epoch FROM c.reported_at) AS rep, COALESCE(c.category_code, '') AS cat,
                 COALESCE(c.grid_id, 0) AS grid, COALESCE(c.community_id, 0) AS com,
                 COALESCE(c.subdistrict_id, 0) AS sub, c.outside_jurisdiction::int AS outside,
                 COALESCE(c.reporter_id, 0) AS reporter, COALESCE(p.role, '') AS reporter_role,
                 COALESCE(c.channel, '') AS channel
          FROM {pending or 'cases'} c LEFT JOIN person p ON p.id = c.reporter_id
          WHERE c.status = 'reported' AND NOT EXISTS (SELECT 1 FROM case_event e WHERE e.case_id = c.id)
          ORDER BY c.id) TO STDOUT WITH (FORMAT csv, HEADER true)
    """
    buf = io.StringIO()
    _raw(conn).cursor().copy_expert(sql, buf)
    buf.seek(0)
    return pd.read_csv(buf, dtype={"cat": str, "reporter_role": str, "channel": str}, keep_default_na=False)


class _Pool:
    """Person ids grouped by an integer key; ``pick`` chooses one per query (−1 if none)."""

    def __init__(self, keys, ids):
        keys, ids = np.asarray(keys, dtype=np.int64), np.asarray(ids, dtype=np.int64)
        o = np.lexsort((ids, keys))
        self.ids = ids[o]
        self.keys, self.off, self.cnt = np.unique(keys[o], return_index=True, return_counts=True)

    def pick(self, keys, u) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.int64)
        if self.keys.size == 0:
            return np.full(keys.shape, -1, dtype=np.int64)
        i = np.clip(np.searchsorted(self.keys, keys), 0, self.keys.size - 1)
        found = self.keys[i] == keys
        j = self.off[i] + np.minimum((u * self.cnt[i]).astype(np.int64), self.cnt[i] - 1)
        return np.where(found, self.ids[np.minimum(j, self.ids.size - 1)], -1)


class _References:
    def __init__(self, conn: Connection):
        q = lambda stmt: conn.execute(stmt).all()  # noqa: E731
        P = Person
        self.cats = {r.code: (LEVELS.index(r.default_level), r.default_department_id or -1)
                     for r in q(select(CaseCategory.code, CaseCategory.default_level, CaseCategory.default_department_id))}
        self.policy = {(r.category_code, r.level): (float(r.value), r.unit)
                       for r in q(select(TimeLimitPolicy.category_code, TimeLimitPolicy.level, TimeLimitPolicy.value,
                                         TimeLimitPolicy.unit))}
        self.departments = np.array(
            [r.id for r in q(select(Department.id).where(Department.active).order_by(Department.id))], dtype=np.int64)
        disp = q(select(P.id, P.unit_level, func.coalesce(P.community_id, 0).label("com"),
                        func.coalesce(P.subdistrict_id, 0).label("sub")).where(P.role == "dispatcher", P.active))
        self.disp_com = _Pool([r.com for r in disp if r.unit_level == "community"],
                              [r.id for r in disp if r.unit_level == "community"])
        self.disp_sub = _Pool([r.sub for r in disp if r.unit_level == "subdistrict"],
                              [r.id for r in disp if r.unit_level == "subdistrict"])
        self.disp_dis = _Pool([0 for r in disp if r.unit_level == "district"], [r.id for r in disp if r.unit_level == "district"])
        staff = q(select(P.id, P.department_id).where(P.role == "department_staff", P.active))
        self.staff = _Pool([r.department_id for r in staff], [r.id for r in staff])
        gw_grid = q(select(UnitGrid.id.label("grid"), ResponsibilityGridWorker.person_id)
                    .join(ResponsibilityGridWorker,
                          ResponsibilityGridWorker.responsibility_grid_id == UnitGrid.responsibility_grid_id)
                    .join(P, (P.id == ResponsibilityGridWorker.person_id) & (P.role == "grid_worker") & P.active))
        self.gw_grid = _Pool([r.grid for r in gw_grid], [r.person_id for r in gw_grid])
        gw_com = q(select(P.id, P.community_id).where(P.role == "grid_worker", P.active, P.community_id.is_not(None)))
        self.gw_com = _Pool([r.community_id for r in gw_com], [r.id for r in gw_com])
        admins = q(select(P.id).where(P.role == "admin", P.active))
        self.admins = _Pool([0 for _ in admins], [r.id for r in admins])


# --- choosing each case's path -------------------------------------------------------------------

def _lgn(rng, n, median_hours, sigma, lo=60.0, hi=None) -> np.ndarray:
    """Log-normal delays in working seconds."""
    d = np.exp(np.log(median_hours * HOUR) + sigma * rng.standard_normal(n))
    return np.clip(d, lo, hi if hi is not None else np.inf)


def _choose_paths(df: pd.DataFrame, refs: _References, cal: WorkingCalendar, until: float, rng) -> dict:
    n = len(df)
    cat = df["cat"].to_numpy(dtype=object)
    lvl0 = np.array([refs.cats.get(c, (1, -1))[0] for c in cat], dtype=np.int8)
    dept0 = np.array([refs.cats.get(c, (1, -1))[1] for c in cat], dtype=np.int64)
    no_dept = dept0 < 0
    if no_dept.any() and refs.departments.size:
        dept0[no_dept] = refs.departments[rng.integers(0, refs.departments.size, no_dept.sum())]
    rep = df["rep"].to_numpy(dtype=np.float64)
    outside = df["outside"].to_numpy() == 1
    grid, com = df["grid"].to_numpy(np.int64), df["com"].to_numpy(np.int64)
    age_wh = (cal.clock(np.full(1, until))[0] - cal.clock(rep)) / HOUR

    tpl = np.full(n, TPL_STD, dtype=np.int8)
    # outside the jurisdiction: older ones mostly rejected, the rest wait in the queue
    tpl[outside] = np.where((age_wh[outside] > 16) & (rng.random(outside.sum()) < 0.75), TPL_REJECT, TPL_QUEUE)
    inside = ~outside
    tpl[inside & (rng.random(n) < 0.012)] = TPL_REJECT
    # duplicates: an earlier case of the same category in the same community within two days
    dup_of = np.full(n, -1, dtype=np.int64)
    o = np.lexsort((rep, cat.astype(str), com))
    same = np.zeros(n, dtype=bool)
    same[1:] = (com[o][1:] == com[o][:-1]) & (cat[o][1:] == cat[o][:-1]) & (rep[o][1:] - rep[o][:-1] < 2 * 86400)
    cand = np.zeros(n, dtype=bool)
    cand[o] = same
    prev = np.full(n, -1, dtype=np.int64)
    prev[o[1:]] = o[:-1]
    # about 1.5 % duplicates whatever the density of reports
    p_merge = min(0.15, 0.015 * n / max(1, int((cand & inside & (tpl == TPL_STD)).sum())))
    chosen = cand & inside & (tpl == TPL_STD) & (rng.random(n) < p_merge)
    chosen &= ~chosen[np.where(prev >= 0, prev, 0)] | (prev < 0)
    chosen &= prev >= 0
    tpl[chosen] = TPL_MERGE
    dup_of[chosen] = df["id"].to_numpy()[prev[chosen]]

    rest = inside & (tpl == TPL_STD)
    district0 = rest & (lvl0 == 3)
    low = rest & (lvl0 < 3)
    q = np.clip((TARGET_DISTRICT_SHARE * n - district0.sum()) / max(1, low.sum()), 0.0, 0.9)
    up = low & (rng.random(n) < q)
    step_up = low & ~up & (lvl0 == 1) & (rng.random(n) < 0.05)  # community → subdistrict, still lower
    has_gw = (refs.gw_grid.pick(grid, np.zeros(n)) >= 0) | (refs.gw_com.pick(com, np.zeros(n)) >= 0)
    p_self = np.select([lvl0 == 0, lvl0 == 1], [0.62, 0.3], 0.0)
    self_ = low & ~up & ~step_up & has_gw & (rng.random(n) < p_self)
    tpl[self_] = TPL_SELF
    direct = low & ~up & ~step_up & ~self_ & (rng.random(n) < 0.12)
    tpl[direct] = TPL_DIRECT
    lvl1 = lvl0.copy()
    lvl1[up] = 3
    lvl1[step_up] = 2
    lvl1[tpl == TPL_SELF] = 0

    std = tpl == TPL_STD
    u = lambda: rng.random(n)  # noqa: E731
    return {
        "id": df["id"].to_numpy(np.int64), "rep": rep, "cat": cat, "grid": grid, "com": com,
        "sub": df["sub"].to_numpy(np.int64), "reporter": df["reporter"].to_numpy(np.int64),
        "reporter_role": df["reporter_role"].to_numpy(dtype=object), "outside": outside,
        "channel": df["channel"].to_numpy(dtype=object),
        "tpl": tpl, "lvl0": lvl0, "lvl1": lvl1, "esc": up | step_up, "major": up & (lvl0 < 2), "dept": dept0,
        "dup_of": dup_of, "ret": std & (u() < 0.04), "pp": std & (u() < 0.05), "rw": std & (u() < 0.07),
        "ev": (std | (tpl == TPL_DIRECT)) & (u() < 0.35), "assist": std & (u() < 0.06),
        "pick": rng.random((n, 4)),  # per-case choices of people: sorting, department, grid worker, other dept
    }


# --- playing the ladder --------------------------------------------------------------------------

def _limits(refs: _References, cat, lvl) -> tuple[np.ndarray, np.ndarray]:
    vals = np.empty(len(cat))
    units = np.empty(len(cat), dtype=object)
    for i, (c, lv) in enumerate(zip(cat, lvl)):
        vals[i], units[i] = refs.policy.get((c, LEVELS[lv]), DEFAULT_LIMIT)
    return vals, units


def _owner_pick(refs: _References, lvl, com, sub, u) -> np.ndarray:
    """A dispatcher of the unit owning cases at ``lvl`` (−1: unsorted, any containing unit)."""
    by_com, by_sub, by_dis = refs.disp_com.pick(com, u), refs.disp_sub.pick(sub, u), refs.disp_dis.pick(np.zeros_like(com), u)
    any_unit = np.where(by_com >= 0, by_com, np.where(by_sub >= 0, by_sub, by_dis))
    out = np.select([lvl < 0, lvl <= 1, lvl == 2], [any_unit, by_com, by_sub], by_dis)
    return np.where(com == 0, by_dis, out)  # outside the jurisdiction: the command centre


def _play(p: dict, refs: _References, cal: WorkingCalendar, until: float, rng) -> tuple[dict, dict]:
    n = len(p["id"])
    tpl = p["tpl"]
    std = tpl == TPL_STD
    M = np.zeros((n, K), dtype=bool)
    M[:, S_REPORT] = True
    M[:, S_SELF] = tpl == TPL_SELF
    M[:, S_REJECT] = tpl == TPL_REJECT
    M[:, S_MERGE] = tpl == TPL_MERGE
    M[:, S_REGISTER] = (tpl == TPL_STD) | (tpl == TPL_DIRECT)
    M[:, S_ESC] = p["esc"] & std
    M[:, S_CLOSE] = tpl == TPL_DIRECT
    for s in (S_DISPATCH1, S_ACCEPT1, S_FEEDBACK1, S_VERIFY_PASS):
        M[:, s] = std
    M[:, S_RETURN] = M[:, S_DISPATCH2] = p["ret"]
    M[:, S_REQ_PP] = M[:, S_APPROVE_PP] = p["pp"]
    M[:, S_VERIFY_FAIL] = M[:, S_ACCEPT2] = M[:, S_FEEDBACK2] = p["rw"]
    M[:, S_EVALUATE] = p["ev"]

    # --- times on the working clock (W); steps strictly increase -------------------------------
    W = np.full((n, K), np.nan)
    w = cal.clock(p["rep"])
    W[:, S_REPORT] = w
    lvl1 = p["lvl1"]
    vals, units = _limits(refs, p["cat"], lvl1)

    w_until = cal.clock(np.full(1, until))[0]
    n_hold = max(3, n // 1000)

    def step(s, delay, hold=None):
        """Advance the cases that take step ``s``; ``hold``: keep a few recent cases (those
        that reached the state before ``s`` in the last two working days) in that state."""
        nonlocal w
        m = M[:, s]
        delay = np.broadcast_to(np.asarray(delay, dtype=np.float64), (n,)).copy()
        if hold is not None:
            elig = np.nonzero(m & hold & (w <= w_until) & (w > w_until - 2 * cal.day_seconds))[0]
            if elig.size:
                delay[rng.choice(elig, min(n_hold, elig.size), replace=False)] += HOLD
        w = np.where(m, w + delay, w)
        W[:, s] = np.where(m, w, np.nan)

    step(S_SELF, _lgn(rng, n, 0.6, 0.8, hi=6 * HOUR))
    step(S_REJECT, _lgn(rng, n, 1.0, 0.9, hi=16 * HOUR))
    step(S_MERGE, _lgn(rng, n, 0.8, 0.8, hi=16 * HOUR))
    step(S_REGISTER, _lgn(rng, n, 0.5, 1.2, hi=24 * HOUR), hold=True)
    step(S_ESC, _lgn(rng, n, 0.6, 0.8))
    step(S_CLOSE, _lgn(rng, n, 3.0, 0.9))
    step(S_DISPATCH1, _lgn(rng, n, 0.4, 1.2, hi=24 * HOUR), hold=True)
    t_d1 = cal.unclock(np.where(M[:, S_DISPATCH1], w, 0.0))
    due1 = np.where(M[:, S_DISPATCH1], cal.add_limit_v(np.where(M[:, S_DISPATCH1], t_d1, p["rep"]), vals, units), np.nan)
    step(S_RETURN, _lgn(rng, n, 1.0, 0.9))
    step(S_DISPATCH2, _lgn(rng, n, 0.6, 0.9), hold=True)
    t_d2 = cal.unclock(w)
    due2 = np.where(M[:, S_DISPATCH2], cal.add_limit_v(t_d2, vals, units), np.nan)
    due_d = np.where(M[:, S_DISPATCH2], due2, due1)  # deadline set by the last dispatch
    w_disp = np.where(M[:, S_DISPATCH2], W[:, S_DISPATCH2], W[:, S_DISPATCH1])
    span = np.where(std, cal.clock(np.nan_to_num(due_d, nan=p["rep"])) - np.nan_to_num(w_disp, nan=0.0), 0.0)
    step(S_ACCEPT1, _lgn(rng, n, 0.5, 1.1, hi=16 * HOUR), hold=True)
    step(S_REQ_PP, np.maximum(60.0, w_disp + span * rng.uniform(0.4, 0.8, n) - w))
    step(S_APPROVE_PP, _lgn(rng, n, 0.5, 0.8, hi=8 * HOUR))
    due_pp = np.where(M[:, S_APPROVE_PP], cal.add_limit_v(np.nan_to_num(due_d, nan=p["rep"]), vals, units), np.nan)
    due_now = np.where(M[:, S_APPROVE_PP], due_pp, due_d)
    w_due = np.where(std, cal.clock(np.nan_to_num(due_now, nan=p["rep"])), np.nan)
    w_start = np.where(M[:, S_APPROVE_PP], W[:, S_APPROVE_PP], w_disp)
    f = np.exp(np.log(0.5) + 0.55 * rng.standard_normal(n))  # share of the limit the department uses
    w_fb = np.maximum(w + 300.0, w_start + f * (w_due - w_start))
    late = std & (w_fb > w_due)
    sup_t = np.where(late, w_due + _lgn(rng, n, 0.5, 0.6), w + (w_fb - w) * 0.5)
    sup = std & ((late & (rng.random(n) < 0.6)) | (rng.random(n) < 0.02)) & (sup_t > w + 60) & (sup_t < w_fb - 60)
    M[:, S_SUPERVISE] = sup
    step(S_SUPERVISE, np.where(sup, sup_t - w, 0.0))
    step(S_FEEDBACK1, w_fb - w, hold=M[:, S_APPROVE_PP])
    step(S_VERIFY_FAIL, _lgn(rng, n, 1.0, 0.9, hi=16 * HOUR))
    step(S_ACCEPT2, _lgn(rng, n, 0.5, 0.8, hi=8 * HOUR), hold=True)
    step(S_FEEDBACK2, np.maximum(300.0, span * np.exp(np.log(0.25) + 0.5 * rng.standard_normal(n))))
    step(S_VERIFY_PASS, _lgn(rng, n, 1.0, 1.0, hi=24 * HOUR), hold=True)
    step(S_EVALUATE, _lgn(rng, n, 4.0, 0.8))

    V = M & (W <= w_until)  # what has happened by ``until``
    V[:, S_REPORT] = True
    T = np.where(V, cal.unclock(np.nan_to_num(W, nan=0.0).ravel()).reshape(n, K), np.nan)
    T[:, S_REPORT] = p["rep"]

    # --- who acts ------------------------------------------------------------------------------
    pk = p["pick"]
    com, sub, grid = p["com"], p["sub"], p["grid"]
    d_final = p["dept"]
    deps = refs.departments if refs.departments.size else np.unique(d_final)
    i = np.minimum((pk[:, 3] * deps.size).astype(np.int64), deps.size - 1)
    d_wrong = np.where(deps[i] == d_final, deps[(i + 1) % deps.size], deps[i])  # a department it is not for
    d_first = np.where(p["ret"], d_wrong, d_final)
    unsorted = _owner_pick(refs, np.full(n, -1), com, sub, pk[:, 0])
    owner0 = _owner_pick(refs, p["lvl0"].astype(np.int64), com, sub, pk[:, 0])
    owner1 = _owner_pick(refs, lvl1.astype(np.int64), com, sub, pk[:, 0])
    centre = refs.disp_dis.pick(np.zeros(n, dtype=np.int64), pk[:, 0])
    staff_first = refs.staff.pick(d_first, pk[:, 1])
    handler = refs.staff.pick(d_final, pk[:, 1])
    gw = refs.gw_grid.pick(grid, pk[:, 2])
    gw = np.where(gw >= 0, gw, refs.gw_com.pick(com, pk[:, 2]))
    reporter = np.where(p["reporter"] > 0, p["reporter"], -1)
    rep_role = np.array([ROLES.index(r) if r in ROLES else 0 for r in p["reporter_role"]], dtype=np.int16)
    A = np.full((n, K), -1, dtype=np.int64)
    R = np.zeros((n, K), dtype=np.int16)
    roles = {"dispatcher": ROLES.index("dispatcher"), "department_staff": ROLES.index("department_staff"),
             "grid_worker": ROLES.index("grid_worker")}
    assign = {
        S_SELF: (gw, "grid_worker"), S_REJECT: (np.where(com == 0, centre, unsorted), "dispatcher"),
        S_MERGE: (unsorted, "dispatcher"), S_REGISTER: (unsorted, "dispatcher"), S_ESC: (owner0, "dispatcher"),
        S_CLOSE: (owner1, "dispatcher"), S_DISPATCH1: (owner1, "dispatcher"), S_RETURN: (staff_first, "department_staff"),
        S_DISPATCH2: (owner1, "dispatcher"), S_ACCEPT1: (handler, "department_staff"),
        S_REQ_PP: (handler, "department_staff"), S_APPROVE_PP: (owner1, "dispatcher"), S_SUPERVISE: (centre, "dispatcher"),
        S_FEEDBACK1: (handler, "department_staff"), S_VERIFY_FAIL: (owner1, "dispatcher"),
        S_ACCEPT2: (handler, "department_staff"), S_FEEDBACK2: (handler, "department_staff"),
        S_VERIFY_PASS: (owner1, "dispatcher"), S_EVALUATE: (owner1, "dispatcher"),
    }
    A[:, S_REPORT] = reporter
    R[:, S_REPORT] = np.where(reporter > 0, rep_role, ROLES.index("public"))
    admin = refs.admins.pick(np.zeros(n, dtype=np.int64), pk[:, 0])
    for s, (who, role) in assign.items():
        A[:, s] = np.where(who >= 0, who, admin)
        R[:, s] = np.where(who >= 0, roles[role], np.where(admin >= 0, ROLES.index("admin"), ROLES.index("system")))

    # --- state after each step -----------------------------------------------------------------
    st = {s: i + 1 for i, s in enumerate(STATUSES)}
    to_status = {S_REPORT: "reported", S_SELF: "closed", S_REJECT: "rejected", S_MERGE: "merged",
                 S_REGISTER: "registered", S_CLOSE: "closed", S_DISPATCH1: "dispatched", S_RETURN: "returned",
                 S_DISPATCH2: "dispatched", S_ACCEPT1: "disposing", S_APPROVE_PP: "postponed",
                 S_FEEDBACK1: "awaiting_verification", S_VERIFY_FAIL: "rework", S_ACCEPT2: "disposing",
                 S_FEEDBACK2: "awaiting_verification", S_VERIFY_PASS: "closed"}
    cur = {"status": np.zeros(n, np.int16), "level": np.zeros(n, np.int16), "dept": np.full(n, -1, np.int64),
           "handler": np.full(n, -1, np.int64), "due": np.full(n, np.nan), "pp": np.zeros(n, bool)}
    closing = {S_SELF, S_CLOSE, S_VERIFY_PASS}
    w_rep = W[:, S_REPORT]
    disposal = np.where(M[:, S_SELF], (W[:, S_SELF] - w_rep),
                        np.where(M[:, S_CLOSE], W[:, S_CLOSE] - w_rep, W[:, S_VERIFY_PASS] - w_disp)) / HOUR
    ev_cols: dict[str, list] = {k: [] for k in ("case_id", "at", "actor", "role", "action", "from_i", "to_i", "from_lvl",
                                                "to_lvl", "dept", "comment", "att", "data", "due", "grid", "handler",
                                                "postponed", "disposal", "extra", "lim_v", "lim_u", "req_due")}
    unit_i = np.where(units == "working_hours", 1, 2).astype(np.int16)
    for s in range(K):
        v = V[:, s]
        if not v.any():
            continue
        before = {k: a.copy() for k, a in cur.items()}
        if s in to_status:
            cur["status"] = np.where(v, st[to_status[s]], cur["status"])
        if s == S_SELF:
            cur["level"] = np.where(v, 1, cur["level"])
            cur["handler"] = np.where(v, A[:, s], cur["handler"])
        elif s == S_REGISTER:
            cur["level"] = np.where(v, p["lvl0"] + 1, cur["level"])
        elif s == S_ESC:
            cur["level"] = np.where(v, lvl1 + 1, cur["level"])
        elif s == S_CLOSE:
            cur["handler"] = np.where(v, A[:, s], cur["handler"])
        elif s in (S_DISPATCH1, S_DISPATCH2):
            cur["dept"] = np.where(v, d_first if s == S_DISPATCH1 else d_final, cur["dept"])
            cur["due"] = np.where(v, due1 if s == S_DISPATCH1 else due2, cur["due"])
            cur["handler"] = np.where(v, -1, cur["handler"])
        elif s == S_RETURN:
            cur["dept"] = np.where(v, -1, cur["dept"])
            cur["due"] = np.where(v, np.nan, cur["due"])
        elif s in (S_ACCEPT1, S_ACCEPT2):
            cur["handler"] = np.where(v, A[:, s], cur["handler"])
        elif s == S_APPROVE_PP:
            cur["due"] = np.where(v, due_pp, cur["due"])
            cur["pp"] = cur["pp"] | v
        idx = np.nonzero(v)[0]
        ev_cols["case_id"].append(p["id"][idx])
        ev_cols["at"].append(T[idx, s])
        ev_cols["actor"].append(A[idx, s])
        ev_cols["role"].append(R[idx, s] + 1)
        ev_cols["action"].append(np.full(idx.size, ACTIONS.index(STEPS[s]) + 1, np.int16))
        ev_cols["from_i"].append(before["status"][idx])
        ev_cols["to_i"].append(cur["status"][idx])
        ev_cols["from_lvl"].append(before["level"][idx])
        ev_cols["to_lvl"].append(cur["level"][idx])
        ev_cols["dept"].append(cur["dept"][idx])
        ev_cols["comment"].append(np.full(idx.size, _comment(s), np.int16) if s != S_ESC
                                  else np.where(p["major"][idx], C_ESC_MAJOR, C_ESC).astype(np.int16))
        if s == S_REJECT:
            ev_cols["comment"][-1] = np.where(p["outside"][idx], C_REJECT_OUT, C_REJECT).astype(np.int16)
        ev_cols["att"].append(np.full(idx.size, 1 if s == S_SELF else 2 if s in (S_FEEDBACK1, S_FEEDBACK2) else 0, np.int16))
        ev_cols["data"].append(np.full(idx.size, {S_DISPATCH1: 1, S_DISPATCH2: 1, S_APPROVE_PP: 2, S_MERGE: 3, S_ESC: 4,
                                                  S_EVALUATE: 5, S_REQ_PP: 6, S_REGISTER: 7}.get(s, 0), np.int16))
        ev_cols["due"].append(cur["due"][idx])
        ev_cols["req_due"].append(due_pp[idx] if s == S_REQ_PP else np.full(idx.size, np.nan))
        ev_cols["grid"].append(np.where(grid[idx] > 0, grid[idx], -1))
        ev_cols["handler"].append(cur["handler"][idx])
        ev_cols["postponed"].append(cur["pp"][idx].astype(np.int16))
        ev_cols["disposal"].append(disposal[idx] if s in closing else np.full(idx.size, np.nan))
        extra = {S_MERGE: p["dup_of"][idx], S_ESC: p["major"][idx].astype(np.int64),
                 S_EVALUATE: _scores(rng, idx.size)}.get(s, np.zeros(idx.size, np.int64))
        ev_cols["extra"].append(extra)
        ev_cols["lim_v"].append(vals[idx])
        ev_cols["lim_u"].append(unit_i[idx])
    events = {k: np.concatenate(v) for k, v in ev_cols.items()}
    events["ord"] = np.arange(len(events["case_id"]), dtype=np.int64)  # step order: ties in time keep it

    # --- final state per case ------------------------------------------------------------------
    last = np.where(V, np.arange(K)[None, :], -1).max(axis=1)
    tcol = lambda s: np.where(V[:, s], T[:, s], np.nan)  # noqa: E731
    closed_at = np.fmax.reduce([tcol(S_SELF), tcol(S_CLOSE), tcol(S_VERIFY_PASS)])
    dispatched_at = np.where(V[:, S_DISPATCH2], T[:, S_DISPATCH2], tcol(S_DISPATCH1))
    has_due = ~np.isnan(cur["due"])
    deadline_from = np.where(V[:, S_APPROVE_PP], T[:, S_APPROVE_PP], dispatched_at)
    warn = np.full(n, np.nan)
    if has_due.any():
        warn[has_due] = warn_instants(cal, deadline_from[has_due], cur["due"][has_due])
    # the lead department's clock to accept (接收): from the last dispatch, or from the failed
    # verification that sent the case back for rework (dispatch.deadlines.accept_due)
    # with the deadline of that moment; a case returned and not sent again has none
    sent_at = np.where(V[:, S_VERIFY_FAIL], T[:, S_VERIFY_FAIL],
                       np.where(V[:, S_RETURN] & ~V[:, S_DISPATCH2], np.nan, dispatched_at))
    due_then = np.where(V[:, S_VERIFY_FAIL], cur["due"], np.where(V[:, S_DISPATCH2], due2, due1))
    accept_due = np.full(n, np.nan)
    sent = ~np.isnan(sent_at)
    if sent.any():
        accept_due[sent] = accept_dues(cal, sent_at[sent], due_then[sent])
    pending = V[:, S_REQ_PP] & ~V[:, S_APPROVE_PP]
    evaluated = V[:, S_EVALUATE]
    ev_score = np.zeros(n, np.int64)
    ev_mask = events["action"] == ACTIONS.index("evaluate") + 1
    ev_score[np.searchsorted(p["id"], events["case_id"][ev_mask])] = events["extra"][ev_mask]
    final = {
        "case_id": p["id"], "status": cur["status"], "level": cur["level"], "dept": cur["dept"], "handler": cur["handler"],
        "due": cur["due"], "warn": warn, "deadline_from": np.where(has_due, deadline_from, np.nan),
        "lim_v": np.where(has_due, vals, np.nan), "lim_u": np.where(has_due, unit_i, 0).astype(np.int16),
        "registered_at": np.fmax(tcol(S_REGISTER), tcol(S_SELF)), "dispatched_at": dispatched_at,
        "accepted_at": np.fmax(tcol(S_ACCEPT1), tcol(S_ACCEPT2)), "accept_due": accept_due, "feedback_at": np.fmax(tcol(S_FEEDBACK1), tcol(S_FEEDBACK2)),
        "verified_at": np.fmax(tcol(S_VERIFY_FAIL), tcol(S_VERIFY_PASS)), "closed_at": closed_at,
        "rejected_at": tcol(S_REJECT), "merged_at": tcol(S_MERGE),
        "dup_of": np.where(V[:, S_MERGE], p["dup_of"], -1),
        "postponed_at": tcol(S_APPROVE_PP), "pp_count": V[:, S_APPROVE_PP].astype(np.int16),
        "req_at": np.where(pending, T[:, S_REQ_PP], np.nan), "req_by": np.where(pending, A[:, S_REQ_PP], -1),
        "req_due": np.where(pending, due_pp, np.nan),
        "rework": V[:, S_VERIFY_FAIL].astype(np.int16), "supervised_at": tcol(S_SUPERVISE),
        "self_handled": V[:, S_SELF].astype(np.int16),
        "disposal": np.where(np.isnan(closed_at), np.nan, disposal),
        "score": np.where(evaluated, ev_score, 0), "evaluated_at": tcol(S_EVALUATE),
        "reject_outside": (V[:, S_REJECT] & p["outside"]).astype(np.int16),
        "assist": np.where(p["assist"] & (cur["dept"] >= 0), d_wrong, -1),
        "version": V.sum(axis=1).astype(np.int32), "updated_at": T[np.arange(n), last],
        "result_photo": (V[:, S_SELF] | V[:, S_FEEDBACK1]).astype(np.int16),
    }
    final["assist"] = np.where(final["assist"] == final["dept"], -1, final["assist"])
    return events, final


def _comment(s: int) -> int:
    return {S_SELF: C_SELF, S_MERGE: C_MERGE, S_CLOSE: C_CLOSE, S_RETURN: C_RETURN, S_REQ_PP: C_REQ_PP,
            S_APPROVE_PP: C_APPROVE, S_SUPERVISE: C_SUPERVISE, S_FEEDBACK1: C_FEEDBACK, S_VERIFY_FAIL: C_VERIFY_FAIL,
            S_FEEDBACK2: C_FEEDBACK2, S_EVALUATE: C_EVALUATE, S_DISPATCH1: C_DISPATCH, S_DISPATCH2: C_DISPATCH}.get(s, 0)


def _scores(rng, n) -> np.ndarray:
    return rng.choice(np.array([5, 4, 3, 2, 1]), size=n, p=[0.6, 0.25, 0.1, 0.03, 0.02]).astype(np.int64)


# --- writing -------------------------------------------------------------------------------------

def _sql_array(values) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]::text[]"


def _write(conn: Connection, ev: dict, fin: dict, timings: dict | None = None, *, verify: bool = False,
           names: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()), pending: str | None = None) -> int:
    """Cases first (their rows are then locked by this transaction, which makes the events'
    foreign-key checks cheap), then the events (the indicator trigger sees them all at once).
    ``verify``: the bulk path (per-row triggers and foreign-key checks off): the events go
    straight into ``case_event`` (``_copy_events``) and the keys written here are checked, each
    distinct value once (``_verify_keys``). ``ev['cat']``/``ev['ch']``:
    each event's case category and channel as codes into ``names`` ('' : none), stamped on the
    event as the case has them (no join with the cases). ``pending``: the cases are the held-back
    reports of that work table, inserted here in their final state (bulk path only)."""
    timings = timings if timings is not None else {}
    statuses, levels = _sql_array(STATUSES), _sql_array(LEVELS)
    t = _time.perf_counter()

    def lap(name):
        nonlocal t
        now = _time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - t
        t = now

    sim_case = work_table(conn, "_sim_case", """case_id int8, status int2, level int2, dept int8, handler int8, due float8, warn float8,
            deadline_from float8, lim_v float8, lim_u int2, registered_at float8, dispatched_at float8, accepted_at float8,
            accept_due float8, feedback_at float8, verified_at float8, closed_at float8, rejected_at float8, merged_at float8, dup_of int8,
            postponed_at float8, pp_count int2, req_at float8, req_by int8, req_due float8, rework int2,
            supervised_at float8, self_handled int2, disposal float8, score int8, evaluated_at float8,
            reject_outside int2, assist int8, version int4, updated_at float8, result_photo int2""", unlogged=verify)
    ftyp = {"status": "int2", "level": "int2", "lim_u": "int2", "pp_count": "int2", "rework": "int2",
            "self_handled": "int2", "reject_outside": "int2", "result_photo": "int2", "version": "int4",
            "case_id": "int8", "dept": "int8", "handler": "int8", "dup_of": "int8", "req_by": "int8", "score": "int8",
            "assist": "int8"}
    copy_binary(conn, sim_case, [(k, ftyp.get(k, "float8"), v) for k, v in fin.items()])
    lap("copy_cases")
    final = _final_columns("c.id")
    if pending is None:
        updated = conn.execute(text(f"UPDATE cases c SET {', '.join(f'{k} = {v}' for k, v in final.items())} "
                                    f"FROM {sim_case} f WHERE c.id = f.case_id")).rowcount
    else:  # the held-back reports, each written once in its final state
        kept = [r[0] for r in conn.execute(text(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum"), {"t": pending}) if r[0] not in final]
        updated = conn.execute(text(
            f"INSERT INTO cases ({', '.join(kept + list(final))}) "
            f"SELECT {', '.join('c.' + k for k in kept)}, {', '.join(final.values())} "
            f"FROM {pending} c JOIN {sim_case} f ON f.case_id = c.id WHERE c.id BETWEEN :lo AND :hi ORDER BY c.id"),
            {"lo": int(np.min(fin["case_id"])), "hi": int(np.max(fin["case_id"]))}).rowcount
    lap("update_cases")
    if verify:  # bulk: straight into case_event
        n = _copy_events(conn, ev, names)
        lap("copy_events")
        _write_departments(conn, sim_case)
        lap("case_department")
        _verify_keys(conn, sim_case, ev, updated)
        lap("verify_keys")
        conn.execute(text(f"DROP TABLE {sim_case}"))
        return n
    sim_event = work_table(conn, "_sim_event", """case_id int8, at float8, actor int8, role int2, action int2, from_i int2, to_i int2,
            from_lvl int2, to_lvl int2, dept int8, comment int2, att int2, data int2, due float8, req_due float8,
            grid int8, handler int8, postponed int2, disposal float8, extra int8, lim_v float8, lim_u int2,
            ord int8, cat int8, ch int8""", unlogged=verify)
    typ = {"at": "float8", "due": "float8", "req_due": "float8", "disposal": "float8", "lim_v": "float8",
           "case_id": "int8", "actor": "int8", "dept": "int8", "grid": "int8", "handler": "int8", "extra": "int8",
           "ord": "int8", "cat": "int8", "ch": "int8"}
    copy_binary(conn, sim_event, [(k, typ.get(k, "int2"), v) for k, v in ev.items()])
    lap("copy_events")
    n = conn.execute(text(f"""
        INSERT INTO case_event(case_id, at, actor_id, actor_role, action, from_status, to_status, from_level, to_level,
            department_id, comment, attachments, data, grid_id, handler_id, due_at, postponed, disposal_wh,
            category_code, channel)
        SELECT s.case_id, to_timestamp(s.at), NULLIF(s.actor, -1), ({_sql_array(ROLES)})[s.role],
               ({_sql_array(ACTIONS)})[s.action], ({statuses})[NULLIF(s.from_i, 0)], ({statuses})[s.to_i],
               ({levels})[NULLIF(s.from_lvl, 0)], ({levels})[NULLIF(s.to_lvl, 0)], NULLIF(s.dept, -1)::int,
               ({_sql_array(COMMENTS)})[NULLIF(s.comment, 0)],
               CASE s.att WHEN 1 THEN jsonb_build_array(jsonb_build_object('kind', 'before', 'ref', 'sim/' || s.case_id || '-before.jpg'),
                                                        jsonb_build_object('kind', 'after', 'ref', 'sim/' || s.case_id || '-after.jpg'))
                          WHEN 2 THEN jsonb_build_array(jsonb_build_object('kind', 'after', 'ref', 'sim/' || s.case_id || '-after.jpg'))
                          ELSE '[]'::jsonb END,
               CASE s.data
                   WHEN 1 THEN jsonb_build_object('due_at', to_timestamp(s.due), 'limit',
                                                  jsonb_build_array(s.lim_v, (ARRAY['working_hours', 'working_days'])[s.lim_u]),
                                                  'limit_source', 'policy')
                   WHEN 2 THEN jsonb_build_object('due_at', to_timestamp(s.due))
                   WHEN 3 THEN jsonb_build_object('duplicate_of', s.extra)
                   WHEN 4 THEN jsonb_build_object('major', s.extra = 1)
                   WHEN 5 THEN jsonb_build_object('score', s.extra)
                   WHEN 6 THEN jsonb_build_object('requested_due_at', to_timestamp(s.req_due))
                   ELSE '{{}}'::jsonb END,
               NULLIF(s.grid, -1)::int, NULLIF(s.handler, -1)::int, to_timestamp(NULLIF(s.due, 'NaN')), s.postponed = 1,
               NULLIF(s.disposal, 'NaN')::real, NULLIF(({_sql_array(names[0])})[s.cat + 1], ''),
               NULLIF(({_sql_array(names[1])})[s.ch + 1], '')
        FROM {sim_event} s ORDER BY s.case_id, s.at, s.ord""")).rowcount
    lap("insert_events")
    _write_departments(conn, sim_case)
    lap("case_department")
    conn.execute(text(f"DROP TABLE {sim_event}, {sim_case}"))
    return n


def _final_columns(case_id: str) -> dict[str, str]:
    """Each case column the player sets, as an expression over its staging row ``f`` (``case_id``:
    the expression of the case's id)."""
    statuses, levels, comments = _sql_array(STATUSES), _sql_array(LEVELS), _sql_array(COMMENTS)
    ts = lambda c: f"to_timestamp(NULLIF(f.{c}, 'NaN'))"  # noqa: E731
    return {
        "status": f"({statuses})[f.status]", "level": f"({levels})[NULLIF(f.level, 0)]",
        "department_id": "NULLIF(f.dept, -1)::int", "handler_id": "NULLIF(f.handler, -1)::int",
        "due_at": ts("due"), "warn_at": ts("warn"), "deadline_from": ts("deadline_from"),
        "time_limit_value": "NULLIF(f.lim_v, 'NaN')",
        "time_limit_unit": "(ARRAY['working_hours', 'working_days'])[NULLIF(f.lim_u, 0)]",
        "registered_at": ts("registered_at"), "dispatched_at": ts("dispatched_at"), "accepted_at": ts("accepted_at"),
        "accept_due_at": ts("accept_due"), "feedback_at": ts("feedback_at"), "verified_at": ts("verified_at"), "closed_at": ts("closed_at"),
        "rejected_at": ts("rejected_at"),
        "reject_reason": f"CASE WHEN f.rejected_at <> 'NaN' THEN ({comments})[CASE WHEN f.reject_outside = 1 "
                         f"THEN {C_REJECT_OUT} ELSE {C_REJECT} END] END",
        "merged_at": ts("merged_at"), "duplicate_of": "NULLIF(f.dup_of, -1)",
        "postponed_at": ts("postponed_at"), "postpone_count": "f.pp_count",
        "postpone_reason": f"CASE WHEN f.pp_count > 0 THEN ({comments})[{C_REQ_PP}] END",
        "postpone_requested_at": ts("req_at"), "postpone_requested_by": "NULLIF(f.req_by, -1)::int",
        "postpone_requested_due_at": ts("req_due"),
        "postpone_request_reason": f"CASE WHEN f.req_at <> 'NaN' THEN ({comments})[{C_REQ_PP}] END",
        "rework_count": "f.rework", "supervised": "f.supervised_at <> 'NaN'", "supervised_at": ts("supervised_at"),
        "self_handled": "f.self_handled = 1", "disposal_wh": "NULLIF(f.disposal, 'NaN')::real",
        "result_photo_ref": f"CASE WHEN f.result_photo = 1 THEN 'sim/' || {case_id} || '-after.jpg' END",
        "evaluation_score": "NULLIF(f.score, 0)::smallint", "evaluated_at": ts("evaluated_at"),
        "evaluation_comment": f"CASE WHEN f.score > 0 THEN ({comments})[{C_EVALUATE}] END",
        "version": "f.version", "updated_at": "to_timestamp(f.updated_at)",
    }


def _write_departments(conn: Connection, sim_case: str) -> None:
    conn.execute(text(f"""
        INSERT INTO case_department(case_id, department_id, role)
        SELECT case_id, dept::int, 'lead' FROM {sim_case} WHERE dept >= 0
        UNION ALL SELECT case_id, assist::int, 'assist' FROM {sim_case} WHERE assist >= 0"""))


def _verify_keys(conn: Connection, sim_case: str, ev: dict, updated: int) -> None:
    """The foreign keys of what the bulk path wrote (per-row checks off), each distinct value
    once: the cases' from their staging table, the events' from the arrays. Every played case
    was updated, so every case id the events and departments name exists."""
    cases = conn.execute(text(f"SELECT count(*) FROM {sim_case}")).scalar_one()
    if updated != cases:
        raise RuntimeError(f"bulk load: {cases - updated} played cases are not in the case table; nothing was written")
    verify_written_keys(conn, "cases", sim_case, {
        "department_id": "NULLIF(dept, -1)", "handler_id": "NULLIF(handler, -1)",
        "duplicate_of": "NULLIF(dup_of, -1)", "postpone_requested_by": "NULLIF(req_by, -1)"})
    verify_key_values(conn, "case_event", {"actor_id": ev["actor"], "department_id": ev["dept"]})
    verify_written_keys(conn, "case_department", f"(SELECT dept FROM {sim_case} UNION ALL SELECT assist FROM {sim_case}) w",
                        {"department_id": "NULLIF(dept, -1)"})


EVENT_COLUMNS = ["case_id", "at", "actor_id", "actor_role", "action", "from_status", "to_status", "from_level", "to_level",
                 "department_id", "comment", "attachments", "data", "grid_id", "handler_id", "due_at", "postponed",
                 "disposal_wh", "category_code", "channel"]
_CHUNK = 50_000  # events encoded at a time (arrays of tens of MB: larger ones cost page faults)


def _copy_events(conn: Connection, ev: dict, names: tuple[tuple[str, ...], tuple[str, ...]]) -> int:
    """The bulk path's events: binary COPY straight into ``case_event``, every value (the JSON of
    ``attachments`` and ``data`` too) built from the arrays as the row-by-row path's INSERT…SELECT
    builds it in SQL (``_write``; tests/sample_data/test_history.py compares them row for row), in
    the same order (case, time, step), with the ids the sequence gives them in that order (taken in
    one call: ``reserve_ids``)."""
    o = np.lexsort((ev["ord"], ev["at"], ev["case_id"]))
    zone = conn.execute(text("SELECT current_setting('TimeZone')")).scalar_one()
    limits = np.unique(ev["lim_v"][(ev["data"] == 1) & ~np.isnan(ev["lim_v"])])
    limit_text = dict(zip(limits.tolist(), conn.execute(text(  # float8 as PostgreSQL writes it (JSON takes that text)
        "SELECT v::text FROM unnest(CAST(:v AS float8[])) WITH ORDINALITY t(v, i) ORDER BY i"),
        {"v": limits.tolist()}).scalars().all()))

    first = reserve_ids(conn, "case_event", len(o))  # the ids nextval would give them in this order

    def chunks():
        for start in range(0, len(o), _CHUNK):
            part = {k: v[o[start:start + _CHUNK]] for k, v in ev.items()}
            part["id"] = np.arange(first + start, first + start + len(part["case_id"]), dtype=np.int64)
            yield _encode_events(part, names, zone, limit_text)

    copy_rows(conn, "case_event", ["id", *EVENT_COLUMNS], chunks())
    return len(o)


_ATTACHMENTS = (  # by ev['att']: the pieces around the case id (twice for the before-and-after pair)
    (b"[]", b"", b""),
    (b'[{"kind": "before", "ref": "sim/', b'-before.jpg"}, {"kind": "after", "ref": "sim/', b'-after.jpg"}]'),
    (b'[{"kind": "after", "ref": "sim/', b'-after.jpg"}]', b""),
)


def _encode_events(e: dict, names, zone: str, limit_text: dict) -> bytes:
    n = len(e["case_id"])
    rows = BinaryRows(n)
    minus = lambda a: np.asarray(a) == -1  # noqa: E731
    rows.number(e["id"], "int8")
    rows.number(e["case_id"], "int8")
    rows.number(pg_microseconds(e["at"]), "timestamptz")
    rows.number(e["actor"], "int4", null=minus(e["actor"]))
    rows.text(e["role"] - 1, ROLES)
    rows.text(e["action"] - 1, ACTIONS)
    rows.text(e["from_i"], (None, *STATUSES))
    rows.text(e["to_i"], (None, *STATUSES))
    rows.text(e["from_lvl"], (None, *LEVELS))
    rows.text(e["to_lvl"], (None, *LEVELS))
    rows.number(e["dept"], "int4", null=minus(e["dept"]))
    rows.text(e["comment"], (None, *COMMENTS))
    att = e["att"].astype(np.intp)
    ids = e["case_id"]
    rows.composite([pieces_part(att, [a[0] for a in _ATTACHMENTS]), digits_part(ids, keep=att > 0),
                    pieces_part(att, [a[1] for a in _ATTACHMENTS]), digits_part(ids, keep=att == 1),
                    pieces_part(att, [a[2] for a in _ATTACHMENTS])], prefix=b"\x01")
    rows.composite(_data_parts(e, zone, limit_text), prefix=b"\x01")
    rows.number(e["grid"], "int4", null=minus(e["grid"]))
    rows.number(e["handler"], "int4", null=minus(e["handler"]))
    rows.number(pg_microseconds(e["due"]), "timestamptz", null=np.isnan(e["due"]))
    rows.number(e["postponed"] == 1, "bool")
    rows.number(e["disposal"].astype(np.float32), "float4", null=np.isnan(e["disposal"]))
    rows.text(e["cat"], [v or None for v in names[0]])
    rows.text(e["ch"], [v or None for v in names[1]])
    return rows.tobytes()


def _data_parts(e: dict, zone: str, limit_text: dict) -> list:
    """``data`` as the INSERT…SELECT's CASE builds it: kind 1 (dispatch) due time and limit,
    2 (postponement approved) due time, 3 the merged-into case, 4 major or not, 5 the score,
    6 (postponement requested) the requested due time, else {}: a prefix by kind, a variable
    middle (a local time or digits), a suffix by kind and its few values."""
    n = len(e["data"])
    kind = e["data"].astype(np.int64)
    kind = np.where((kind >= 1) & (kind <= 6), kind, 0)
    stamp = np.where(kind == 6, e["req_due"], e["due"])
    timed = (kind == 1) | (kind == 2) | (kind == 6)
    if np.isnan(stamp[timed]).any():  # to_timestamp('NaN') fails in SQL: fail here too
        raise ValueError("an event's deadline in data is missing (NaN)")
    us = pg_microseconds(np.where(timed, stamp, np.nan))
    offset = np.zeros(n, np.int64)
    offset[timed] = utc_offsets(us[timed], zone)
    prefix = (b"{}", b'{"due_at": "', b'{"due_at": "', b'{"duplicate_of": ', b'{"major": ', b'{"score": ',
              b'{"requested_due_at": "')
    # suffix: by kind, offset, limit value and unit (kind 1), major (kind 4)
    offsets, off_i = np.unique(offset, return_inverse=True)
    limits, lim_i = np.unique(np.where(kind == 1, e["lim_v"], 0.0), return_inverse=True)
    unit = np.where(kind == 1, e["lim_u"], 0).astype(np.int64)
    major = ((kind == 4) & (e["extra"] == 1)).astype(np.int64)
    key = (((kind * offsets.size + off_i.ravel()) * limits.size + lim_i.ravel()) * 3 + unit) * 2 + major
    present = np.zeros(int(key.max(initial=0)) + 1, bool)  # the distinct keys, without a sort
    present[key] = True
    uniq = np.flatnonzero(present)
    inv = (np.cumsum(present) - 1)[key]
    units = (None, "working_hours", "working_days")
    suffix = []
    for k in uniq.tolist():
        k, maj = divmod(k, 2)
        k, u = divmod(k, 3)
        k, li = divmod(k, limits.size)
        k, oi = divmod(k, offsets.size)
        tz = offset_text(int(offsets[oi]))
        if k == 1:
            v = limit_text.get(float(limits[li]))
            unit_json = "null" if u == 0 else f'"{units[u]}"'
            suffix.append(f'{tz}", "limit": [{"null" if v is None else v}, {unit_json}], "limit_source": "policy"}}'.encode())
        elif k in (2, 6):
            suffix.append(f'{tz}"}}'.encode())
        elif k in (3, 5):
            suffix.append(b"}")
        elif k == 4:
            suffix.append(b"true}" if maj else b"false}")
        else:
            suffix.append(b"")
    return [pieces_part(kind, prefix), iso_part(us, offset, keep=timed), digits_part(e["extra"], keep=(kind == 3) | (kind == 5)),
            pieces_part(inv, suffix)]


def _summary(conn: Connection, ids: np.ndarray) -> dict:
    """Status and level mix of the cases just played."""
    conn.execute(text("CREATE TEMP TABLE _sim_ids (id int8) ON COMMIT DROP"))
    copy_binary(conn, "_sim_ids", [("id", "int8", ids)])
    rows = conn.execute(text(
        "SELECT c.status, c.level, count(*) AS n, count(*) FILTER (WHERE c.self_handled) AS on_spot "
        "FROM cases c JOIN _sim_ids i ON i.id = c.id GROUP BY 1, 2")).all()
    conn.execute(text("DROP TABLE _sim_ids"))
    total = sum(r.n for r in rows) or 1
    by_status: dict[str, int] = {}
    lower = upper = on_spot = 0
    for r in rows:
        by_status[r.status] = by_status.get(r.status, 0) + r.n
        if r.level in ("grid", "community", "subdistrict") and r.status not in ("rejected", "merged"):
            lower += r.n
        elif r.level == "district" and r.status not in ("rejected", "merged"):
            upper += r.n
        on_spot += r.on_spot
    return {"by_status": by_status, "lower_level_share": round(lower / total, 3),
            "district_share": round(upper / total, 3), "on_spot": on_spot}
