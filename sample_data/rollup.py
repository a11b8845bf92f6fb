"""The indicator roll-ups of a played batch, summed in memory (the history player's bulk path).

The database defines what an event adds to the indicators (``case_event_deltas``, migration
0002, and ``case_event_cut_deltas``, 0010) and its triggers sum it into ``case_stat_day`` and
``case_stat_cut``; ``stats.indicators.rebuild_stats`` recomputes both from the log. At a million
cases either costs minutes (tens of microseconds an event, five events a case). The player
already holds every event of the cases it plays as arrays, each case's events complete and in
order, so here the same deltas are computed with numpy (the five branches of those functions,
row for row) and summed over integer keys (categories and channels as codes into their names,
days as day numbers; the key columns packed into one integer, its distinct values found by
hashing and only those sorted, each counter a ``bincount``; plain arrays, no DataFrame), and the sums are written to the roll-ups at the end: into an
empty roll-up by one binary COPY straight in, its primary key built once afterwards; into one
that holds rows, added to them. ``tests/sample_data/test_history.py`` checks that the result equals what the triggers
write on the row-by-row path, filtered and unfiltered.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.config import TIME_ZONE
from dispatch.states import LEVELS, STATUSES, TERMINAL_STATUSES
from sample_data.bulk import (BinaryRows, copy_binary, copy_rows, drop_primary_key, drop_secondary_indexes,
                              work_table)

COUNTERS = ("reported", "registered", "closed", "closed_np", "closed_on_time", "closed_lower", "closed_on_spot",
            "disposal_wh", "verified", "reworked", "open", "overdue", "overdue_np")
CUT_KEYS = ("community_id", "department_id", "category_code", "level", "channel")
DIMS = ("grid", "department", "person")  # case_stat_day.dim, by code
GRAINS = ("day", "month")  # case_stat_cut.grain and case_stat_group.grain, by code
# case_stat_group.dim by code (migration 0021)
GROUP_DIMS = ("grid", "person")
GROUP_KEYS = ("dim", "category_code", "key_id", "community_id", "department_id", "level", "channel")
_DAY = 86400


def _days(epoch: np.ndarray) -> np.ndarray:
    """local_day() of epoch seconds as day numbers since 1970-01-01 (int64).

    The zone's offset is looked up once per distinct UTC minute (offsets change only at whole
    minutes), not once per instant: a few thousand conversions for millions of deltas."""
    epoch = np.asarray(epoch, dtype=np.float64)
    if not epoch.size:
        return np.zeros(0, np.int64)
    minute = np.floor(epoch / 60.0).astype(np.int64)
    uniq, inv = np.unique(minute, return_inverse=True)
    utc = pd.to_datetime(uniq * 60, unit="s", utc=True)
    local = utc.tz_convert(TIME_ZONE).tz_localize(None)
    offset = (local.to_numpy().astype("datetime64[s]").astype(np.int64) - uniq * 60).astype(np.float64)
    return np.floor((epoch + offset[inv.ravel()]) / _DAY).astype(np.int64)


def _months(days: np.ndarray) -> np.ndarray:
    """The first day of each day number's month, as a day number."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _ne(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IS DISTINCT FROM for float arrays where NaN is NULL."""
    return ~((a == b) | (np.isnan(a) & np.isnan(b)))


def codes(values) -> tuple[np.ndarray, tuple[str, ...]]:
    """Text values as integer codes into a tuple of the distinct names ('' : none)."""
    names, idx = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return idx.astype(np.int64), tuple(str(x) for x in names)


def deltas(ev: dict, actions: tuple[str, ...], category: np.ndarray, channel: np.ndarray,
           community: np.ndarray) -> list[dict]:
    """The deltas of the events ``ev`` (the player's arrays, every event of each case) with the
    keys of both roll-ups, in parts (one per branch of the delta functions, each with only the
    counters that branch sets). ``category``/``channel`` are integer codes (``codes``) and
    ``community`` ids, per event."""
    o = np.lexsort((ev["ord"], ev["at"], ev["case_id"]))
    e = {k: np.asarray(v)[o] for k, v in ev.items()}
    cat, ch, com = np.asarray(category, np.int64)[o], np.asarray(channel, np.int64)[o], np.asarray(community, np.int64)[o]
    n = len(o)
    first = np.ones(n, dtype=bool)
    first[1:] = e["case_id"][1:] != e["case_id"][:-1]

    def lag(a, fill):
        out = np.empty_like(a)
        out[1:] = a[:-1]
        if n:
            out[0] = fill
        out[first] = fill
        return out

    action = e["action"].astype(np.int64) - 1
    is_act = lambda *names: np.isin(action, [actions.index(a) for a in names if a in actions])  # noqa: E731
    terminal = np.array([False] + [s in TERMINAL_STATUSES for s in STATUSES])
    p_status, q_status = e["to_i"].astype(np.int64), lag(e["to_i"].astype(np.int64), 0)
    p_level, q_level = e["to_lvl"].astype(np.int64), lag(e["to_lvl"].astype(np.int64), 0)
    p_grid, q_grid = e["grid"], lag(e["grid"], -1)
    p_dep, q_dep = e["dept"], lag(e["dept"], -1)
    p_hnd, q_hnd = e["handler"], lag(e["handler"], -1)
    p_due, q_due = e["due"], lag(e["due"], np.nan)
    p_pp, q_pp = e["postponed"] == 1, lag(e["postponed"] == 1, False)
    q_cat = lag(cat, -1)
    open0 = (q_status > 0) & ~terminal[q_status]
    open1 = ~terminal[p_status]
    changed = ((open0 != open1) | (q_grid != p_grid) | (q_dep != p_dep) | (q_hnd != p_hnd) | _ne(q_due, p_due)
               | (q_pp != p_pp))
    changed_cut = changed | (q_level != p_level) | (cat != q_cat)
    at = e["at"]
    closing = is_act("close", "verify_pass", "self_handle")
    flows = is_act("report", "register", "self_handle", "close", "verify_pass", "verify_fail")
    person_flow = np.where(p_hnd >= 0, p_hnd, e["actor"])
    disposal = e["disposal"].astype(np.float32).astype(np.float64)  # stored as real, summed as double
    one = np.ones(n, np.int64)
    flow_counts = dict(
        reported=is_act("report").astype(np.int64), registered=is_act("register", "self_handle").astype(np.int64),
        closed=closing.astype(np.int64), closed_np=(closing & ~q_pp).astype(np.int64),
        closed_on_time=(closing & ~q_pp & (np.isnan(q_due) | (at <= np.nan_to_num(q_due, nan=np.inf)))).astype(np.int64),
        closed_lower=(closing & (p_level != LEVELS.index("district") + 1)).astype(np.int64),
        closed_on_spot=is_act("self_handle").astype(np.int64),
        disposal_wh=np.where(closing, disposal, np.nan),
        verified=is_act("verify_pass", "verify_fail").astype(np.int64), reworked=is_act("verify_fail").astype(np.int64))

    parts: list[dict] = []

    def part(mask, day_at, grid, dep, person, level, category, cut: bool, **counts):
        idx = np.nonzero(mask)[0]
        if not idx.size:
            return
        parts.append({"cut": cut, "t": day_at[idx], "grid": grid[idx], "dep": dep[idx], "person": person[idx],
                      "level": level[idx], "cat": category[idx], "ch": ch[idx], "com": com[idx],
                      "counts": {c: v[idx] for c, v in counts.items()}})

    for cut, chg in ((False, changed), (True, changed_cut)):
        part(flows, at, p_grid, p_dep, person_flow, p_level, cat, cut, **flow_counts)
        part(open1 & chg, at, p_grid, p_dep, p_hnd, p_level, cat, cut, open=one)
        part(open0 & chg, at, q_grid, q_dep, q_hnd, q_level, q_cat, cut, open=-one)
        part(~np.isnan(q_due) & open0 & chg, np.fmax(q_due, at), q_grid, q_dep, q_hnd, q_level, q_cat, cut,
             overdue=-one, overdue_np=-(~q_pp).astype(np.int64))
        part(~np.isnan(p_due) & open1 & chg, p_due, p_grid, p_dep, p_hnd, p_level, cat, cut,
             overdue=one, overdue_np=(~p_pp).astype(np.int64))
    for p in parts:
        p["day"] = _days(p.pop("t"))
    return parts


Sums = dict  # a roll-up's sums: column name → array (the key columns, then COUNTERS), one row per key


def _rows(t: Sums) -> int:
    return len(next(iter(t.values())))


def _concat(tables: list[Sums]) -> Sums:
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def _group(keys: list[np.ndarray], parts: list[dict[str, np.ndarray]], names: list[str]) -> Sums:
    """Sum each part's counters (a part has only the counters it sets) per distinct key; ``keys``
    are the key columns over all parts, one after the other. Rows whose counters are all zero are
    left out, as the triggers leave them out; NULL disposal hours add nothing."""
    n = len(keys[0])
    if not n:
        return {**{k: np.zeros(0, np.int64) for k in names},
                **{c: np.zeros(0, np.float64 if c == "disposal_wh" else np.int64) for c in COUNTERS}}
    lo = [int(k.min()) for k in keys]
    spans = [int(k.max()) - m + 1 for k, m in zip(keys, lo)]
    if np.prod([float(x) for x in spans]) < 2.0 ** 62:  # offsets packed into one integer
        packed = np.zeros(n, np.int64)
        for k, m, w in zip(keys, lo, spans):
            packed = packed * w + (k - m)
        # distinct keys by hashing (one pass), then only the distinct ones sorted: a sort of every
        # row (np.unique) cost three times as much; the key columns are unpacked from the sums' keys
        codes_, uniq = pd.factorize(packed, sort=False)
        o = np.argsort(uniq)
        rank = np.empty_like(o)
        rank[o] = np.arange(o.size)
        inv, uniq = rank[codes_], uniq[o]
        out, rest = {}, uniq
        for name, m, w in reversed(list(zip(names, lo, spans))):
            rest, off = np.divmod(rest, w)
            out[name] = off + m
        out = {name: out[name] for name in names}
    else:  # too many combinations for one integer: rows of keys
        _, first, inv = np.unique(np.stack(keys, axis=1), axis=0, return_index=True, return_inverse=True)
        inv = inv.ravel()
        out = {name: k[first] for name, k in zip(names, keys)}
    count = len(out[names[0]])
    at = 0
    sums = {c: np.zeros(count) for c in COUNTERS}
    for p in parts:
        m = len(next(iter(p.values()))) if p else 0
        for c, v in p.items():
            v = np.asarray(v)
            w = np.nan_to_num(v) if v.dtype.kind == "f" else v.astype(np.float64)  # NULL (NaN) adds nothing
            sums[c] += np.bincount(inv[at:at + m], weights=w, minlength=count)
        at += m
    keep = np.zeros(count, bool)
    for c in COUNTERS:
        out[c] = sums[c] if c == "disposal_wh" else np.rint(sums[c]).astype(np.int64)
        keep |= out[c] != 0
    return {k: v[keep] for k, v in out.items()}


def sums(parts: list[dict]) -> tuple[Sums, Sums, Sums]:
    """The deltas ``parts`` summed as ``case_stat_day``, ``case_stat_cut`` and ``case_stat_group``
    key them (integer codes: ``DIMS``, ``GRAINS``, ``GROUP_DIMS``, levels 0 = none, the caller's
    category and channel codes)."""
    day = [p for p in parts if not p["cut"]]
    cut = [p for p in parts if p["cut"]]
    cat = lambda ps, f: np.concatenate([f(p) for p in ps]) if ps else np.zeros(0, np.int64)  # noqa: E731
    frames = []
    for i, key in enumerate(("grid", "dep", "person")):
        k = cat(day, lambda p: p[key])
        frames.append(_group([np.full(k.size, i, np.int64), cat(day, lambda p: p["day"]), np.where(k >= 0, k, 0)],
                             [p["counts"] for p in day], ["dim", "day", "key_id"]))
    by_day = _concat(frames)
    grid = cat(cut, lambda p: p["grid"])
    dep = cat(cut, lambda p: p["dep"])
    person = cat(cut, lambda p: p["person"])
    category = cat(cut, lambda p: p["cat"])
    com = np.where(grid >= 0, cat(cut, lambda p: p["com"]), 0)
    dep = np.where(dep >= 0, dep, 0)
    level, channel = cat(cut, lambda p: p["level"]), cat(cut, lambda p: p["ch"])
    keys = [com, dep, category, level, channel]
    days = cat(cut, lambda p: p["day"])
    counts = [p["counts"] for p in cut]
    names = ["grain", "day", *CUT_KEYS]
    by_cut = _concat([_group([np.zeros(days.size, np.int64), days, *keys], counts, names),
                      _group([np.ones(days.size, np.int64), _months(days), *keys], counts, names)])
    grid, person, none = np.where(grid >= 0, grid, 0), np.where(person >= 0, person, 0), np.zeros(days.size, np.int64)
    gnames = ["grain", "day", *GROUP_KEYS]
    groups = []
    for i, key in enumerate((grid, person)):
        daily = _group([none, days, np.full(days.size, i, np.int64), category, key, com, dep, level, channel],
                       counts, gnames)
        monthly = {**daily, "grain": np.ones(_rows(daily), np.int64), "day": _months(daily["day"])}  # the days' sums, by month
        groups += [daily, _regroup(monthly, gnames)]
    return by_day, by_cut, _concat(groups)


def _regroup(t: Sums, names: list[str]) -> Sums:
    return _group([np.asarray(t[k], np.int64) for k in names], [{c: t[c] for c in COUNTERS}], names)


MERGE_PENDING = 4  # batches' sums held before they are added up (each adding-up hashes all it holds)


def merge(batches: list[tuple[Sums, ...]], pending: int = 1) -> list[tuple[Sums, ...]]:
    """Batches' ``sums`` added up (keys present in several summed) once more than ``pending - 1``
    are held, else as they are: adding each batch to the running total as it comes re-hashes the
    total every time."""
    if len(batches) < max(pending, 2):
        return batches
    return [(_regroup(_concat([b[0] for b in batches]), ["dim", "day", "key_id"]),
             _regroup(_concat([b[1] for b in batches]), ["grain", "day", *CUT_KEYS]),
             _regroup(_concat([b[2] for b in batches]), ["grain", "day", *GROUP_KEYS]))]


# case_stat_one (migration 0025): its (dim, filter) pairs (as the migration's SETS), its dims and
# filters by code
ONE_SETS = (("grid", "category_code"), ("grid", "level"), ("grid", "channel"), ("grid", "department_id"),
            ("person", ""), ("person", "category_code"), ("person", "level"), ("person", "channel"),
            ("person", "department_id"),
            ("department", ""), ("department", "category_code"), ("department", "level"),
            ("department", "channel"),
            *((dim, pair) for dim in ("grid", "person") for pair in ("level+channel", "level+department_id",
                                                                     "channel+department_id")))
ONE_DIMS = ("grid", "person", "department")
ONE_FILTERS = ("", "category_code", "level", "channel", "department_id", "level+channel", "level+department_id",
               "channel+department_id")
ONE_KEYS = ("grain", "dim", "filter", "value", "day", "key_id", "community_id")  # its primary key's order


def one_sums(summed: tuple[Sums, ...], before: int, *, categories: tuple[str, ...],
             channels: tuple[str, ...]) -> tuple[list[Sums], tuple[str, ...]]:
    """``case_stat_one``'s rows (every delta dated before the day number ``before``, its mark W)
    from the fine sums the player already holds, as the migration's fold makes them from the fine
    roll-ups' day rows: per (dim, filter) of ``ONE_SETS``, grid and person rows from
    ``case_stat_group``'s, department rows from ``case_stat_cut``'s, then the days' sums by month.
    Returns the sums in parts (one per grain, dim and filter; each in ``ONE_KEYS`` order, and the
    parts in that order too) with ``value`` as codes into the names returned (each filter its own
    range of codes: '' ; the categories; '' and the levels; the channels; department ids in
    decimal; a pair of filters each pair of their values joined by '|')."""
    _, by_cut, by_group = summed
    deps = int(max(by_cut["department_id"].max(initial=0), by_group["department_id"].max(initial=0)))
    spaces = {"": ("",), "category_code": tuple(categories), "level": ("",) + LEVELS, "channel": tuple(channels),
              "department_id": tuple(str(i) for i in range(deps + 1))}
    for f in ONE_FILTERS:
        if "+" in f:
            a, b = f.split("+")
            spaces[f] = tuple(f"{x}|{y}" for x in spaces[a] for y in spaces[b])
    base, names = {}, []
    for f in ONE_FILTERS:
        base[f] = len(names)
        names += spaces[f]
    column = {"category_code": "category_code", "level": "level", "channel": "channel",
              "department_id": "department_id"}
    picked = {}  # per dim: its day rows before the mark, the columns the sets read
    for dim in ONE_DIMS:
        if dim == "department":
            src, key = by_cut, "department_id"
            rows = (np.asarray(src["grain"]) == 0) & (np.asarray(src["day"]) < before)
        else:
            src, key = by_group, "key_id"
            rows = ((np.asarray(src["grain"]) == 0) & (np.asarray(src["dim"]) == GROUP_DIMS.index(dim))
                    & (np.asarray(src["day"]) < before))
        idx = np.nonzero(rows)[0]
        picked[dim] = ({c: np.asarray(src[c], np.int64)[idx] for c in {*column.values(), "day", "community_id"}}
                       | {"key_id": np.asarray(src[key], np.int64)[idx]},
                       {c: np.asarray(src[c])[idx] for c in COUNTERS})
    days, months = [], []
    # each (dim, filter) its own part, summed per key (``_group``: in the order of the keys'
    # codes); the parts in that order too (grain, dim, filter), so the whole is without a sort
    # (the COPY's order only lays out the heap: the key is built afterwards)
    for dim, f in sorted(ONE_SETS, key=lambda s: (ONE_DIMS.index(s[0]), ONE_FILTERS.index(s[1]))):
        cols, counts = picked[dim]
        n = len(cols["day"])
        if f == "":
            value = np.full(n, base[f], np.int64)
        elif "+" in f:  # the pair's code: first value's code times the second's count, plus the second's
            a, b = f.split("+")
            value = base[f] + cols[column[a]] * len(spaces[b]) + cols[column[b]]
        else:
            value = base[f] + cols[column[f]]
        day = _group([np.zeros(n, np.int64), np.full(n, ONE_DIMS.index(dim), np.int64),
                      np.full(n, ONE_FILTERS.index(f), np.int64), value, cols["day"], cols["key_id"],
                      cols["community_id"]], [counts], list(ONE_KEYS))
        days.append(day)
        months.append(_regroup({**day, "grain": np.ones(_rows(day), np.int64), "day": _months(day["day"])},
                               list(ONE_KEYS)))
    return days + months, tuple(names)


ROLLUP_TABLES = ("case_stat_day", "case_stat_cut", "case_stat_group", "case_stat_one")


def rollup_state(conn: Connection) -> dict:
    """What writing the sums needs to know of the database, read before they are prepared:
    ``case_stat_one``'s mark (a day number) and which roll-ups are empty."""
    mark = conn.execute(text("SELECT folded_before - DATE '1970-01-01' FROM case_stat_one_mark")).scalar_one()
    return {"mark": int(mark), "empty": {t: bool(conn.execute(text(f"SELECT NOT EXISTS (SELECT 1 FROM {t})")).scalar())
                                         for t in ROLLUP_TABLES}}


def prepare_rollups(summed: tuple[Sums, ...], state: dict, *, categories: tuple[str, ...],
                    channels: tuple[str, ...], timings: dict | None = None) -> list[tuple[str, dict, list[Sums], bool]]:
    """Every roll-up's rows from the sums, made here with no database call (so the player can
    make them while the server builds indexes): ``case_stat_one``'s from the fine sums
    (``one_sums``, the days before ``state['mark']``), and each table's rows in key order where
    they go into an empty table. Returns (table, keys, rows, empty) for ``write_rollups``;
    ``keys``: per key column, the names its codes stand for (a tuple), or 'date' (day numbers)
    or 'int4'."""
    timings = timings if timings is not None else {}
    by_day, by_cut, by_group = summed
    day_keys = {"dim": DIMS, "day": "date", "key_id": "int4"}
    cut_keys = {"grain": GRAINS, "day": "date", "community_id": "int4", "department_id": "int4",
                "category_code": tuple(categories), "level": ("",) + LEVELS, "channel": tuple(channels)}
    group_keys = {"grain": GRAINS, "day": "date", "dim": GROUP_DIMS, "category_code": tuple(categories),
                  "key_id": "int4", "community_id": "int4", "department_id": "int4", "level": ("",) + LEVELS,
                  "channel": tuple(channels)}
    t = time.perf_counter()
    one, values = one_sums(summed, state["mark"], categories=categories, channels=channels)
    timings["one_sums"] = timings.get("one_sums", 0.0) + time.perf_counter() - t
    one_keys = {"grain": GRAINS, "dim": ONE_DIMS, "filter": ONE_FILTERS, "value": values, "day": "date",
                "key_id": "int4", "community_id": "int4"}
    out = []
    for table, keys, parts in (("case_stat_day", day_keys, [by_day]), ("case_stat_cut", cut_keys, [by_cut]),
                               ("case_stat_group", group_keys, [by_group]), ("case_stat_one", one_keys, one)):
        empty = state["empty"][table]
        if empty:  # one COPY in the order of the keys' codes (the sums mostly come in it: checked, sorted if not)
            t = time.perf_counter()
            if not _in_order(parts, list(keys)):
                df = _concat(parts)
                o = np.lexsort([df[k] for k in reversed(list(keys))])
                parts = [{c: df[c][o] for c in [*keys, *COUNTERS]}]
            timings[f"{table}_sort"] = timings.get(f"{table}_sort", 0.0) + time.perf_counter() - t
        else:
            parts = [_concat(parts)]
        out.append((table, keys, parts, empty))
    return out


def _in_order(parts: list[Sums], keys: list[str]) -> bool:
    """Whether the rows of ``parts``, one part after the other, are in ``keys`` order."""
    def ordered(a: dict, b: dict) -> np.ndarray:  # row i of a <= row i of b, lexicographically
        lt = np.zeros(len(a[keys[0]]), bool)
        eq = np.ones(len(a[keys[0]]), bool)
        for k in keys:
            x, y = np.asarray(a[k]), np.asarray(b[k])
            lt |= eq & (x < y)
            eq &= x == y
        return lt | eq

    parts = [p for p in parts if _rows(p)]
    for i, p in enumerate(parts):
        if not ordered({k: p[k][:-1] for k in keys}, {k: p[k][1:] for k in keys}).all():
            return False
        if i and not ordered({k: parts[i - 1][k][-1:] for k in keys}, {k: p[k][:1] for k in keys}).all():
            return False
    return True


def write_rollups(conn: Connection, prepared: list[tuple[str, dict, list[Sums], bool]],
                  timings: dict | None = None) -> None:
    """Write what ``prepare_rollups`` made."""
    for table, keys, parts, empty in prepared:
        _add(conn, table, keys, parts, empty, timings)


_CHUNK = 50_000  # roll-up rows encoded at a time
_PG_DAY0 = 10_957  # 2000-01-01 (PostgreSQL's date origin) as a day number since 1970-01-01


def _add(conn: Connection, table: str, keys: dict, parts: list[Sums], empty: bool, timings: dict | None = None) -> None:
    """Write the coded sums (``parts``, one after the other) into ``table``. Into an empty table
    (``empty``; the parts in key order):
    one binary COPY straight in, its primary key and other indexes dropped and built again once
    afterwards (``sample_data.bulk.drop_primary_key``, ``drop_secondary_indexes``). Into one that
    holds rows: binary COPY into a work table, then added to its rows."""
    timings = timings if timings is not None else {}
    t = time.perf_counter()

    def lap(name):
        nonlocal t
        now = time.perf_counter()
        timings[f"{table}_{name}"] = timings.get(f"{table}_{name}", 0.0) + now - t
        t = now

    cols = [*keys, *COUNTERS]
    if empty:
        def chunks():
            for df in parts:
                for start in range(0, _rows(df), _CHUNK):
                    part = {c: v[start:start + _CHUNK] for c, v in df.items()}
                    rows = BinaryRows(len(part[cols[0]]))
                    for k, kind in keys.items():
                        if kind == "date":
                            rows.number(part[k].astype(np.int64) - _PG_DAY0, "int4")
                        elif kind == "int4":
                            rows.number(part[k], "int4")
                        else:
                            rows.text(part[k].astype(np.intp), kind)
                    for c in COUNTERS:
                        rows.number(part[c], "float8" if c == "disposal_wh" else "int4")
                    yield rows.tobytes()

        readd = drop_primary_key(conn, table) + drop_secondary_indexes(conn, table)
        copy_rows(conn, table, cols, chunks())
        lap("copy")
        for ddl in readd:
            conn.execute(text(ddl))
        lap("index")
        return

    df = parts[0] if len(parts) == 1 else _concat(parts)

    def names(values) -> str:
        return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]::text[]"

    exprs = {k: f"DATE '1970-01-01' + s.{k}::int" if kind == "date" else f"s.{k}::int" if kind == "int4"
             else f"({names(kind)})[s.{k} + 1]" for k, kind in keys.items()}
    work = work_table(conn, f"_rollup_{table}",
                      ", ".join(f"{k} int8" for k in keys) + ", " + ", ".join(
                          f"{c} {'float8' if c == 'disposal_wh' else 'int8'}" for c in COUNTERS))
    copy_binary(conn, work, [(k, "int8", np.asarray(df[k], np.int64)) for k in keys]
                + [(c, "float8" if c == "disposal_wh" else "int8",
                    np.asarray(df[c], np.float64 if c == "disposal_wh" else np.int64)) for c in COUNTERS])
    lap("copy")
    conn.execute(text(f"""
        INSERT INTO {table} AS t ({', '.join(cols)})
        SELECT {', '.join(exprs.values())}, {', '.join('s.' + c for c in COUNTERS)} FROM {work} s
        ORDER BY {', '.join('s.' + k for k in keys)}
        ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(f'{c} = t.{c} + EXCLUDED.{c}' for c in COUNTERS)}"""))
    conn.execute(text(f"DROP TABLE {work}"))
    lap("add")
