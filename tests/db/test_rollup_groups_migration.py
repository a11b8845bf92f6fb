"""Migration 0021 on a database that already holds events: its backfill of ``case_stat_group``
equals a rebuild from the log, with a report awaiting location (待定位, key -1), one located later,
one outside every grid (key 0) and one in a grid; the trigger keeps adding to it afterwards; a
downgrade drops the table and leaves ``case_stat_cut`` kept as 0020 kept it."""
from __future__ import annotations

from sqlalchemy import create_engine, text

from db.migrate import downgrade, upgrade
from stats.indicators import AWAITING_KEY, COUNTERS, rebuild_stats
from tests.factories import make_grids, scratch_database, square
from tests.db.test_awaiting_location_migration import _event

GROUP = ("SELECT grain, dim, day, category_code, key_id, community_id, department_id, level, channel, "
         + ", ".join(COUNTERS) + " FROM case_stat_group ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9")
CUT = "SELECT * FROM case_stat_cut ORDER BY grain, day, community_id, department_id, category_code, level, channel"


def _unlocated(c, at, address="某路 1 号"):
    """A report with an address only, its event marked as the lifecycle marks it since 0020."""
    cid = c.execute(text("INSERT INTO cases(channel, category_code, address, reported_at, updated_at) "
                         "VALUES ('hotline', NULL, :a, :t, :t) RETURNING id"), {"a": address, "t": at}).scalar_one()
    c.execute(text("INSERT INTO case_event(case_id, at, actor_role, action, from_status, to_status, grid_id, data, "
                   "awaiting_location) VALUES (:c, :at, 'system', 'report', NULL, 'reported', NULL, "
                   "CAST(:d AS jsonb), true)"), {"c": cid, "at": at, "d": '{"channel": "hotline", "awaiting_location": true}'})
    return cid


def _placed(c, at, gid):
    """A hotline report at a point, in grid ``gid`` (None: outside every grid)."""
    cid = c.execute(text("INSERT INTO cases(channel, category_code, address, reported_at, updated_at) "
                         "VALUES ('hotline', NULL, '某路 3 号', :t, :t) RETURNING id"), {"t": at}).scalar_one()
    _event(c, cid, at, "report", "reported", gid, '{"channel": "hotline"}')
    return cid


def _nonzero(rows):
    return [r for r in rows if any(r[9:])]


def test_0021_backfills_the_group_rollup_as_a_rebuild_would():
    with scratch_database("group_migration", migrate=False) as url:
        upgrade(url, "0020")
        eng = create_engine(url)
        try:
            with eng.begin() as c:
                gid = next(iter(make_grids(c, {"001": square(0, 0)}).values()))
                com = c.execute(text("SELECT community_id FROM unit_grid WHERE id = :g"), {"g": gid}).scalar_one()
                _unlocated(c, "2025-10-14 09:00+08")
                located = _unlocated(c, "2025-10-14 10:00+08", "某路 2 号")
                _event(c, located, "2025-10-15 09:00+08", "locate", "reported", gid)
                _placed(c, "2025-10-16 09:00+08", None)
                inside = _placed(c, "2025-10-16 10:00+08", gid)
                cut_before = c.execute(text(CUT)).all()
            upgrade(url, "head")
            with eng.begin() as c:
                backfilled = c.execute(text(GROUP)).all()
                grid_days = {(r.day.day, r.key_id, r.community_id): (r.reported, r.open) for r in backfilled
                             if r.grain == "day" and r.dim == "grid"}
                assert grid_days == {(14, AWAITING_KEY, AWAITING_KEY): (2, 2), (15, AWAITING_KEY, AWAITING_KEY): (0, -1),
                                     (15, gid, com): (0, 1), (16, 0, 0): (1, 1), (16, gid, com): (1, 1)}
                assert {r.dim for r in backfilled} == {"grid", "person"}
                assert {(r.grain, r.day.day) for r in backfilled if r.grain == "month"} == {("month", 1)}
                rebuild_stats(c)
                assert _nonzero(c.execute(text(GROUP)).all()) == _nonzero(backfilled)
                assert c.execute(text(CUT)).all() == cut_before
                # the trigger adds the next event to both roll-ups
                _event(c, inside, "2025-10-17 09:00+08", "reject", "rejected", gid)
                kept = c.execute(text(GROUP)).all(), c.execute(text(CUT)).all()
                assert any(r.day.day == 17 and r.key_id == gid and r.open == -1 for r in kept[0])
                rebuild_stats(c)
                assert _nonzero(c.execute(text(GROUP)).all()) == _nonzero(kept[0])
                assert c.execute(text(CUT)).all() == kept[1]
            downgrade(url, "0020")
            with eng.begin() as c:
                assert c.execute(text("SELECT to_regclass('case_stat_group')")).scalar() is None
                n = c.execute(text("SELECT count(*) FROM case_stat_cut")).scalar_one()
                _placed(c, "2025-10-18 09:00+08", gid)
                assert c.execute(text("SELECT count(*) FROM case_stat_cut")).scalar_one() > n
        finally:
            eng.dispose()
