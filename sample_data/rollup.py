"""The indicator roll-ups of a played batch, summed in memory (the history player's bulk path).

The database defines what an event adds to the indicators (``case_event_deltas``, migration
0002, and ``case_event_cut_deltas``, 0010) and its triggers sum it into ``case_stat_day`` and
``case_stat_cut``; ``stats.indicators.rebuild_stats`` recomputes both from the log. At a million
cases either costs minutes (tens of microseconds an event, five events a case). The player
already holds every event of the cases it plays as arrays, each case's events complete and in
order, so here the same deltas are computed with numpy (the five branches of those functions,
row for row) and summed with pandas, and the sums are added to the roll-ups in one statement
each. ``tests/sample_data/test_history.py`` checks that the result equals what the triggers
write on the row-by-row path, filtered and unfiltered.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.config import TIME_ZONE
from dispatch.states import LEVELS, STATUSES, TERMINAL_STATUSES

COUNTERS = ("reported", "registered", "closed", "closed_np", "closed_on_time", "closed_lower", "closed_on_spot",
            "disposal_wh", "verified", "reworked", "open", "overdue", "overdue_np")
CUT_KEYS = ("community_id", "department_id", "category_code", "level", "channel")


def _days(epoch: np.ndarray) -> np.ndarray:
    """local_day() of epoch seconds: the calendar day in TIME_ZONE, as datetime64[D]."""
    ts = pd.to_datetime(pd.Series(epoch), unit="s", utc=True).dt.tz_convert(TIME_ZONE).dt.tz_localize(None)
    return ts.dt.floor("D").to_numpy().astype("datetime64[D]")


def _ne(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IS DISTINCT FROM for float arrays where NaN is NULL."""
    return ~((a == b) | (np.isnan(a) & np.isnan(b)))


def deltas(ev: dict, actions: tuple[str, ...], category: np.ndarray, channel: np.ndarray,
           community: np.ndarray) -> pd.DataFrame:
    """One row per delta of the events ``ev`` (the player's arrays, every event of each case),
    with the keys of both roll-ups. ``category``/``channel``/``community`` are per event."""
    o = np.lexsort((ev["ord"], ev["at"], ev["case_id"]))
    e = {k: np.asarray(v)[o] for k, v in ev.items()}
    cat, ch, com = np.asarray(category, dtype=object)[o], np.asarray(channel, dtype=object)[o], np.asarray(community)[o]
    n = len(o)
    first = np.ones(n, dtype=bool)
    first[1:] = e["case_id"][1:] != e["case_id"][:-1]

    def lag(a, fill):
        out = np.empty_like(a)
        out[1:] = a[:-1]
        out[0] = fill
        out[first] = fill
        return out

    act = np.asarray(actions, dtype=object)[e["action"] - 1]
    terminal = np.array([False] + [s in TERMINAL_STATUSES for s in STATUSES])
    p_status, q_status = e["to_i"].astype(np.int64), lag(e["to_i"].astype(np.int64), 0)
    p_level, q_level = e["to_lvl"].astype(np.int64), lag(e["to_lvl"].astype(np.int64), 0)
    p_grid, q_grid = e["grid"], lag(e["grid"], -1)
    p_dep, q_dep = e["dept"], lag(e["dept"], -1)
    p_hnd, q_hnd = e["handler"], lag(e["handler"], -1)
    p_due, q_due = e["due"], lag(e["due"], np.nan)
    p_pp, q_pp = e["postponed"] == 1, lag(e["postponed"] == 1, False)
    q_cat = lag(cat, None)
    cat_changed = np.array([a != b for a, b in zip(cat, q_cat)], dtype=bool) if n else np.zeros(0, bool)
    open0 = (q_status > 0) & ~terminal[q_status]
    open1 = ~terminal[p_status]
    changed = ((open0 != open1) | (q_grid != p_grid) | (q_dep != p_dep) | (q_hnd != p_hnd) | _ne(q_due, p_due)
               | (q_pp != p_pp))
    changed_cut = changed | (q_level != p_level) | cat_changed
    at = e["at"]
    closing = np.isin(act, ("close", "verify_pass", "self_handle"))
    flows = np.isin(act, ("report", "register", "self_handle", "close", "verify_pass", "verify_fail"))
    person_flow = np.where(p_hnd >= 0, p_hnd, e["actor"])
    disposal = e["disposal"].astype(np.float32).astype(np.float64)  # stored as real, summed as double

    parts = []

    def part(mask, day_at, grid, dep, person, level, category, cut: bool, **counts):
        idx = np.nonzero(mask)[0]
        if not idx.size:
            return
        df = pd.DataFrame({"t": day_at[idx], "grid_id": grid[idx], "department_id": dep[idx], "person_id": person[idx],
                           "level": level[idx], "category_code": category[idx], "channel": ch[idx],
                           "community_id": com[idx], "cut": cut, "day_rollup": not cut})
        for c in COUNTERS:
            v = counts.get(c, 0)
            df[c] = v[idx] if isinstance(v, np.ndarray) else v
        parts.append(df)

    flow_counts = dict(
        reported=(act == "report").astype(np.int64), registered=np.isin(act, ("register", "self_handle")).astype(np.int64),
        closed=closing.astype(np.int64), closed_np=(closing & ~q_pp).astype(np.int64),
        closed_on_time=(closing & ~q_pp & (np.isnan(q_due) | (at <= np.nan_to_num(q_due, nan=np.inf)))).astype(np.int64),
        closed_lower=(closing & (p_level != LEVELS.index("district") + 1)).astype(np.int64),
        closed_on_spot=(act == "self_handle").astype(np.int64),
        disposal_wh=np.where(closing, disposal, np.nan),
        verified=np.isin(act, ("verify_pass", "verify_fail")).astype(np.int64), reworked=(act == "verify_fail").astype(np.int64))
    for cut, chg in ((False, changed), (True, changed_cut)):
        part(flows, at, p_grid, p_dep, person_flow, p_level, cat, cut, **flow_counts)
        part(open1 & chg, at, p_grid, p_dep, p_hnd, p_level, cat, cut, open=np.ones(n, np.int64))
        part(open0 & chg, at, q_grid, q_dep, q_hnd, q_level, q_cat, cut, open=-np.ones(n, np.int64))
        part(~np.isnan(q_due) & open0 & chg, np.fmax(q_due, at), q_grid, q_dep, q_hnd, q_level, q_cat, cut,
             overdue=-np.ones(n, np.int64), overdue_np=-(~q_pp).astype(np.int64))
        part(~np.isnan(p_due) & open1 & chg, p_due, p_grid, p_dep, p_hnd, p_level, cat, cut,
             overdue=np.ones(n, np.int64), overdue_np=(~p_pp).astype(np.int64))
    if not parts:
        return pd.DataFrame(columns=["day", "cut", "grid_id", "department_id", "person_id", *CUT_KEYS, *COUNTERS])
    d = pd.concat(parts, ignore_index=True)
    d["day"] = _days(d.pop("t").to_numpy())
    return d


def _nonzero(g: pd.DataFrame) -> pd.DataFrame:
    return g[(g[list(COUNTERS)].fillna(0) != 0).any(axis=1)]


def _sum(d: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    g = d.groupby(keys, sort=True, dropna=False)[list(COUNTERS)].sum(min_count=0).reset_index()
    g["disposal_wh"] = g["disposal_wh"].fillna(0.0)
    return _nonzero(g)


def sums(d: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The deltas ``d`` summed as ``case_stat_day`` and ``case_stat_cut`` key them (rows whose
    counters are all zero left out, as the triggers leave them out)."""
    day = d[~d["cut"]]
    frames = []
    for dim, key in (("grid", "grid_id"), ("department", "department_id"), ("person", "person_id")):
        g = _sum(day.assign(key_id=np.where(day[key] >= 0, day[key], 0)), ["day", "key_id"])
        frames.append(g.assign(dim=dim))
    by_day = pd.concat(frames, ignore_index=True)[["dim", "day", "key_id", *COUNTERS]]
    cut = d[d["cut"]].copy()
    cut["community_id"] = np.where(cut["grid_id"] >= 0, cut["community_id"], 0)
    cut["department_id"] = np.where(cut["department_id"] >= 0, cut["department_id"], 0)
    cut["level"] = np.asarray(("",) + LEVELS, dtype=object)[cut["level"].to_numpy()]
    cut["category_code"] = cut["category_code"].fillna("")
    cut["channel"] = cut["channel"].fillna("")
    month = cut.assign(day=cut["day"].to_numpy().astype("datetime64[M]").astype("datetime64[D]"))
    by_cut = pd.concat([_sum(cut, ["day", *CUT_KEYS]).assign(grain="day"),
                        _sum(month, ["day", *CUT_KEYS]).assign(grain="month")], ignore_index=True)
    return by_day, by_cut[["grain", "day", *CUT_KEYS, *COUNTERS]]


def merge(a: tuple[pd.DataFrame, pd.DataFrame] | None, b: tuple[pd.DataFrame, pd.DataFrame]):
    """Two batches' ``sums`` as one (keys present in both added up)."""
    if a is None:
        return b
    by_day = _sum(pd.concat([a[0], b[0]], ignore_index=True), ["dim", "day", "key_id"])
    by_cut = _sum(pd.concat([a[1], b[1]], ignore_index=True), ["grain", "day", *CUT_KEYS])
    return by_day[["dim", "day", "key_id", *COUNTERS]], by_cut[["grain", "day", *CUT_KEYS, *COUNTERS]]


def add_to_rollups(conn: Connection, summed: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[int, int]:
    """Add ``sums`` to ``case_stat_day`` and ``case_stat_cut``; returns the rows of each."""
    by_day, by_cut = summed
    _upsert(conn, "case_stat_day", ["dim", "day", "key_id"], by_day)
    _upsert(conn, "case_stat_cut", ["grain", "day", *CUT_KEYS], by_cut)
    return len(by_day), len(by_cut)


def _upsert(conn: Connection, table: str, keys: list[str], df: pd.DataFrame) -> None:
    """COPY ``df`` into ``table``, adding to rows that exist (straight in when it is empty)."""
    cols = [*keys, *COUNTERS]
    out = df[cols].copy()
    out["day"] = out["day"].to_numpy().astype("datetime64[D]").astype(str)
    buf = io.StringIO()
    out.to_csv(buf, index=False, header=False)
    buf.seek(0)
    empty = conn.execute(text(f"SELECT NOT EXISTS (SELECT 1 FROM {table})")).scalar()
    target = table if empty else "_rollup_add"
    if not empty:
        conn.execute(text(f"CREATE TEMP TABLE _rollup_add (LIKE {table}) ON COMMIT DROP"))
    # an empty key ('' : none) is an empty string, not NULL
    text_keys = [k for k in keys if k in ("dim", "grain", "category_code", "level", "channel")]
    conn.connection.driver_connection.cursor().copy_expert(
        f"COPY {target} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL ({', '.join(text_keys)}))", buf)
    if not empty:
        conn.execute(text(f"""
            INSERT INTO {table} AS s ({', '.join(cols)})
            SELECT {', '.join(cols)} FROM _rollup_add ORDER BY {', '.join(keys)}
            ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(f'{c} = s.{c} + EXCLUDED.{c}' for c in COUNTERS)}"""))
        conn.execute(text("DROP TABLE _rollup_add"))
