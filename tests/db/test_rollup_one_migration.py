"""Migration 0025 on a database that already holds events: its backfill of ``case_stat_one`` (the
days before today, folded from the fine roll-ups) equals the table made again from a rebuild of
the log, with a report awaiting location (key -1), one outside every grid (key 0) and one in a
grid; an event on a later day does not fold, the scheduled job (``fold_due``) does; a report
arriving now takes no lock of the fold's, a past one a shared one; a downgrade drops the table and its mark
and leaves the fine roll-ups kept as 0021 kept them."""
from __future__ import annotations

from datetime import date

from sqlalchemy import create_engine, text

from db.migrate import downgrade, upgrade
from stats.indicators import COUNTERS, fold_due, rebuild_stats, refold_one
from tests.factories import make_grids, scratch_database, square
from tests.db.test_awaiting_location_migration import _event
from tests.db.test_rollup_groups_migration import _placed, _unlocated

ONE = ("SELECT grain, dim, filter, value, day, key_id, community_id, " + ", ".join(COUNTERS)
       + " FROM case_stat_one ORDER BY 1, 2, 3, 4, 5, 6, 7")


def _nonzero(rows):
    return [r for r in rows if any(r[7:])]


def test_0025_backfills_the_one_filter_rollup_and_folds_new_days():
    with scratch_database("one_migration", migrate=False) as url:
        upgrade(url, "0024")
        eng = create_engine(url)
        try:
            with eng.begin() as c:
                gid = next(iter(make_grids(c, {"001": square(0, 0)}).values()))
                com = c.execute(text("SELECT community_id FROM unit_grid WHERE id = :g"), {"g": gid}).scalar_one()
                _unlocated(c, "2025-10-14 09:00+08")
                _placed(c, "2025-10-16 09:00+08", None)
                inside = _placed(c, "2025-10-16 10:00+08", gid)
            upgrade(url, "head")
            with eng.begin() as c:
                mark = c.execute(text("SELECT folded_before FROM case_stat_one_mark")).scalar_one()
                assert mark == c.execute(text("SELECT local_day(now())")).scalar_one()
                backfilled = c.execute(text(ONE)).all()
                hotline = {(r.day.day, r.key_id, r.community_id): (r.reported, r.open) for r in backfilled
                           if r.grain == "day" and r.dim == "grid" and r.filter == "channel"}
                assert hotline == {(14, -1, -1): (1, 1), (16, 0, 0): (1, 1), (16, gid, com): (1, 1)}
                assert {(r.dim, r.filter) for r in backfilled} >= {("grid", "level"), ("person", ""), ("department", "")}
                assert c.execute(text("SELECT proconfig FROM pg_proc WHERE proname = 'case_event_collect_cuts'"))\
                    .scalar_one() == ["jit=off"]
                rebuild_stats(c)
                assert _nonzero(c.execute(text(ONE)).all()) == _nonzero(backfilled)
                # a mark in the past: an event on a later day does not fold (the job does)
                c.execute(text("UPDATE case_stat_one_mark SET folded_before = '2025-10-15'"))
                refold_one(c)
                assert {r.day.day for r in c.execute(text(ONE)).all() if r.grain == "day"} == {14}
                _event(c, inside, "2025-10-17 09:00+08", "reject", "rejected", gid)
                assert c.execute(text("SELECT folded_before FROM case_stat_one_mark")).scalar_one() == date(2025, 10, 15)
                assert {r.day.day for r in c.execute(text(ONE)).all() if r.grain == "day"} == {14}
            with eng.begin() as c:  # the job, in its own transaction: every day before today
                today = c.execute(text("SELECT local_day(now())")).scalar_one()
                assert fold_due(c) == today
                days = {r.day for r in c.execute(text(ONE)).all() if r.grain == "day"}
                assert days == {date(2025, 10, 14), date(2025, 10, 16), date(2025, 10, 17)}
                folded = _nonzero(c.execute(text(ONE)).all())
                refold_one(c)
                assert _nonzero(c.execute(text(ONE)).all()) == folded
            with eng.begin() as c:  # a report arriving now takes no lock of the fold's
                _placed(c, c.execute(text("SELECT now()::text")).scalar_one(), gid)
                assert c.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                      "AND pid = pg_backend_pid()")).scalar_one() == 0
            with eng.begin() as c:  # a past one does (shared, until its commit)
                _placed(c, "2025-10-19 09:00+08", gid)
                assert c.execute(text("SELECT mode FROM pg_locks WHERE locktype = 'advisory' "
                                      "AND pid = pg_backend_pid()")).scalars().all() == ["ShareLock"]
            downgrade(url, "0024")
            with eng.begin() as c:
                assert c.execute(text("SELECT to_regclass('case_stat_one')")).scalar() is None
                assert c.execute(text("SELECT to_regclass('case_stat_one_mark')")).scalar() is None
                n = c.execute(text("SELECT count(*) FROM case_stat_group")).scalar_one()
                _placed(c, "2025-10-18 09:00+08", gid)
                assert c.execute(text("SELECT count(*) FROM case_stat_group")).scalar_one() > n
        finally:
            eng.dispose()
