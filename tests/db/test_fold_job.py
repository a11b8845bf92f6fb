"""The app's timer folds ``case_stat_one`` (migration 0025) in its own transaction: with the mark
W three days back, one ``DueChangeTicker.fold_stats`` moves it to today; while another session
holds the shared lock a writer of past-dated events takes, the fold is skipped (nothing changed,
nothing waited for) and the next run does it."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import create_engine, text

from db.schedule import DueChangeTicker
from tests.factories import scratch_database

ONE_LOCK = 220022  # migration 0025's advisory lock key


def test_the_timer_folds_and_skips_while_a_past_writer_holds_the_lock():
    with scratch_database("fold_job") as url:
        eng = create_engine(url)
        try:
            with eng.begin() as c:
                today = c.execute(text("SELECT local_day(now())")).scalar_one()
                c.execute(text("UPDATE case_stat_one_mark SET folded_before = :d"), {"d": today - timedelta(days=3)})
            ticker = DueChangeTicker(url)
            with eng.connect() as writer:
                writer.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": ONE_LOCK})
                assert ticker.fold_stats() is None and ticker.fold_error is None
                with eng.connect() as c:
                    assert c.execute(text("SELECT folded_before FROM case_stat_one_mark")).scalar_one() \
                        == today - timedelta(days=3)
                writer.rollback()
            # W moves to today, or to the first day of another client's open transaction (none here
            # but the test's own pool, idle)
            w = ticker.fold_stats()
            assert w in (today, today + timedelta(days=1)) and ticker.fold_error is None  # (midnight between)
            with eng.connect() as c:
                assert c.execute(text("SELECT folded_before FROM case_stat_one_mark")).scalar_one() == w
        finally:
            eng.dispose()
