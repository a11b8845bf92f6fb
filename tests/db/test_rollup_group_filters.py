"""Migration 0028: a table by grid or person under level, channel and department reads one range
of ``case_stat_group`` (``case_stat_group_filters_idx``) instead of every row of its period; a
downgrade drops the index and nothing else."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import create_engine, text

from db.migrate import downgrade, upgrade
from tests.factories import scratch_database

INDEX = "case_stat_group_filters_idx"


def _rows(c, days: int = 60, keys: int = 40) -> None:
    """Roll-up rows of many grids, categories, levels, channels and departments over ``days``."""
    c.execute(text("""
        INSERT INTO case_stat_group (grain, dim, day, category_code, key_id, community_id, department_id, level,
                                     channel, reported, open)
        SELECT 'day', 'grid', DATE '2026-09-01' + d, 'cat' || (k % 7), k, k % 5, k % 4,
               (ARRAY['grid', 'community', 'subdistrict', 'district'])[1 + k % 4],
               (ARRAY['hotline', 'wechat', 'grid_worker'])[1 + (k / 4) % 3], 1, 1
        FROM generate_series(0, :days - 1) d, generate_series(1, :keys) k"""), {"days": days, "keys": keys})
    c.execute(text("ANALYZE case_stat_group"))


def _plan(c) -> str:
    """The plan of the grid table's read under the three filters, over a month."""
    return "\n".join(c.execute(text("""
        EXPLAIN SELECT key_id, sum(reported) FROM case_stat_group
        WHERE grain = 'day' AND dim = 'grid' AND day >= :a AND day < :b
          AND level = 'district' AND channel = 'hotline' AND department_id = 3 GROUP BY 1"""),
        {"a": date(2026, 10, 1), "b": date(2026, 10, 1) + timedelta(days=30)}).scalars())


def test_the_three_filter_read_takes_one_range_and_a_downgrade_drops_only_the_index():
    with scratch_database("group_filters") as url:
        eng = create_engine(url)
        try:
            with eng.begin() as c:
                _rows(c)
                c.execute(text("SET LOCAL enable_seqscan = off"))  # a small table: the choice between indexes
                plan = _plan(c)
            assert INDEX in plan, plan
            assert "case_stat_group_pkey" not in plan, plan
            downgrade(url, "0027")
            with eng.begin() as c:
                assert c.execute(text("SELECT to_regclass(:i)"), {"i": INDEX}).scalar() is None
                assert c.execute(text("SELECT count(*) FROM case_stat_group")).scalar() == 60 * 40
                c.execute(text("SET LOCAL enable_seqscan = off"))
                assert "case_stat_group_pkey" in _plan(c)  # what every such read took before
            upgrade(url, "head")
            with eng.begin() as c:
                assert c.execute(text("SELECT to_regclass(:i)"), {"i": INDEX}).scalar() is not None
        finally:
            eng.dispose()
