"""Rows waiting in a DEFAULT partition are moved into their months without refusing readers
(issue 12 §6, the session 8 finding: one transaction of minutes holding ``cases_default`` in
ACCESS EXCLUSIVE mode, every page refused by its lock time-out). ``make_partitions`` makes one
month per transaction under a short lock time-out and retries: a reader with the app's lock
time-out is served while the move runs, even while another reader's long transaction makes the
move wait, and every row ends in its month."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db.config import TIME_ZONE, test_database_url
from db.engine import LOCK_TIMEOUT_MS
from db.partitions import make_partitions, months_due, partition_list
from db.schedule import DueChangeTicker
from dispatch import service
from tests.factories import scratch_database
from tests.world import build_world

MONTHS = 6


def _engine(url: str, name: str, lock_timeout_ms: int | None = None):
    options = f"-c timezone={TIME_ZONE}" + (f" -c lock_timeout={lock_timeout_ms}" if lock_timeout_ms else "")
    return create_engine(url, connect_args={"options": options, "application_name": name})


def _by_month(conn, table: str, key: str) -> dict:
    """month -> sorted ids of ``table``'s rows (every partition, the DEFAULT one included)."""
    rows = conn.execute(text(
        f"SELECT to_char({key} AT TIME ZONE '{TIME_ZONE}', 'YYYY_MM'), array_agg(id ORDER BY id) FROM {table} GROUP BY 1"))
    return {m: ids for m, ids in rows}


def _where(conn, table: str, key: str) -> set:
    """(partition, month of the row) for every row: each must lie in its month's partition."""
    return set(conn.execute(text(
        f"SELECT DISTINCT tableoid::regclass::text, to_char({key} AT TIME ZONE '{TIME_ZONE}', 'YYYY_MM') FROM {table}")))


def _wait_until(predicate, what: str, timeout_s: float = 120.0) -> None:
    end = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _months_back(now: datetime, back: int) -> datetime:
    """Noon of the 15th, ``back`` months before ``now``'s month in the command centre's zone (the
    zone the partitions' months are cut in). Not ``now`` minus 30-day steps: from some days of a
    month two such steps land in one month (seen on 3 December: 1 July and 31 July)."""
    local = now.astimezone(ZoneInfo(TIME_ZONE))
    m = local.year * 12 + local.month - 1 - back
    return local.replace(year=m // 12, month=m % 12 + 1, day=15, hour=12, minute=0, second=0, microsecond=0)


def test_rows_of_several_months_in_default_move_out_while_readers_are_served():
    with scratch_database("partition_moves") as url:
        owner = _engine(url, "gridgov-test-setup")
        with owner.begin() as conn:
            build_world(conn)
            now = conn.execute(text("SELECT now()")).scalar_one()
            for i in range(MONTHS * 10):  # ten cases in each of the six months before this one
                service.report_case(conn, channel="hotline", lon=0.5 + (i % 3), lat=0.5,
                                    reported_at=_months_back(now, 1 + i % MONTHS) - timedelta(hours=i))
        with owner.connect() as conn:
            waiting = {r[0] for r in conn.execute(text("SELECT count(*) FROM cases_default"))}
            assert waiting == {MONTHS * 10}
            assert conn.execute(text("SELECT count(*) FROM case_event_default")).scalar_one() > 0
            due = months_due(conn)
            assert sum(1 for t, _m, w in due if t == "cases" and w) >= MONTHS
            before = {t: _by_month(conn, t, k) for t, k in (("cases", "reported_at"), ("case_event", "at"))}
            some_id = conn.execute(text("SELECT min(id) FROM cases_default")).scalar_one()

        reader = _engine(url, "gridgov-test-reader", LOCK_TIMEOUT_MS)   # the app's lock time-out
        holder = _engine(url, "gridgov-test-holder")
        mover = _engine(url, "gridgov-test-mover")
        refused: list[str] = []
        reads = [0]
        done = threading.Event()
        result: dict = {}

        def read_all():
            """A page's reads of cases, over and over, until the move is done."""
            with reader.connect() as c:
                while not done.is_set():
                    try:
                        c.execute(text("SELECT count(*), max(updated_at) FROM cases")).one()
                        c.execute(text("SELECT case_no FROM cases WHERE id = :i"), {"i": some_id}).one()
                        c.execute(text("SELECT count(*) FROM case_event")).one()
                        c.commit()
                        reads[0] += 1
                    except Exception as e:  # a refusal (lock time-out) is what must not happen
                        refused.append(str(e).splitlines()[0])
                        c.rollback()

        def move():
            try:
                result["run"] = make_partitions(mover, lock_timeout_ms=200, tries=200)
            except Exception as e:
                result["error"] = e
            finally:
                done.set()

        # a long read in flight (a page's transaction) holds cases_default: the move must wait for
        # it without making the other readers wait behind its ACCESS EXCLUSIVE request
        hold = holder.connect()
        hold.execute(text("SELECT count(*) FROM cases"))
        readers = [threading.Thread(target=read_all) for _ in range(2)]
        for t in readers:
            t.start()
        mv = threading.Thread(target=move)
        mv.start()
        try:
            with owner.connect() as watch:
                def mover_waits_on_a_lock():
                    watch.commit()
                    return watch.execute(text(
                        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'gridgov-test-mover' "
                        "AND wait_event_type = 'Lock')")).scalar() or done.is_set()
                _wait_until(mover_waits_on_a_lock, "the move to wait for the long read's lock")
                assert not done.is_set(), "the move did not wait for the long read"
                seen = reads[0]
                _wait_until(lambda: reads[0] >= seen + 3 or done.is_set(), "readers served while the move waits")
        finally:
            hold.rollback()
            hold.close()
        mv.join(timeout=600)
        for t in readers:
            t.join(timeout=60)
        assert "error" not in result, result.get("error")
        run = result["run"]
        assert refused == []
        assert reads[0] > 0
        assert run.lock_waits >= 1 and run.left == []
        assert run.made >= 2 * MONTHS

        with owner.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM cases_default")).scalar_one() == 0
            assert conn.execute(text("SELECT count(*) FROM case_event_default")).scalar_one() == 0
            for t, k in (("cases", "reported_at"), ("case_event", "at")):
                assert _by_month(conn, t, k) == before[t]  # every row kept, in the same month
                assert all(part == f"{t}_p{m}" for part, m in _where(conn, t, k))
            assert {f"cases_p{m}" for m in before["cases"]} <= {p.name for p in partition_list(conn, "cases")}
            assert months_due(conn) == []
            # the new months carry the parent's rules and no leftover bound constraint
            assert conn.execute(text(
                "SELECT count(*) FROM pg_constraint WHERE conname LIKE '%\\_bound'")).scalar_one() == 0
        for e in (owner, reader, holder, mover):
            e.dispose()


def test_make_partitions_refuses_bad_arguments(engine):
    with pytest.raises(ValueError, match="lock_timeout_ms"):
        make_partitions(engine, lock_timeout_ms=0)
    with pytest.raises(ValueError, match="months_ahead"):
        make_partitions(engine, months_ahead=-1)


@pytest.mark.parametrize("how", ["pg_cron", "ticker"])
def test_the_scheduled_jobs_move_month_by_month_and_keep_every_row(how):
    """``CALL make_case_partitions()`` (the daily pg_cron job's command, migration 0027) and the
    app's timer (``DueChangeTicker.make_partitions``, as the application's role) commit after each
    month: the rows of several months waiting in DEFAULT end in their months."""
    with scratch_database(f"partition_{how}") as url:
        owner = _engine(url, "gridgov-test-setup")
        with owner.begin() as conn:
            build_world(conn)
            now = conn.execute(text("SELECT now()")).scalar_one()
            for i in range(MONTHS * 3):
                service.report_case(conn, channel="hotline", lon=0.5, lat=0.5,
                                    reported_at=_months_back(now, 1 + i % MONTHS))
        with owner.connect() as conn:
            before = {t: _by_month(conn, t, k) for t, k in (("cases", "reported_at"), ("case_event", "at"))}
            assert conn.execute(text("SELECT count(*) FROM cases_default")).scalar_one() == MONTHS * 3
        if how == "pg_cron":
            with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("CALL make_case_partitions()"))
        else:  # the app's timer, as the application's role
            app = make_url(test_database_url()).set(database=make_url(url).database)
            ticker = DueChangeTicker(app.render_as_string(hide_password=False))
            assert ticker.make_partitions() >= 2 * MONTHS
            assert ticker.partitions_error is None
        with owner.connect() as conn:
            for t, k in (("cases", "reported_at"), ("case_event", "at")):
                assert conn.execute(text(f"SELECT count(*) FROM {t}_default")).scalar_one() == 0
                assert _by_month(conn, t, k) == before[t]
                assert all(part == f"{t}_p{m}" for part, m in _where(conn, t, k))
            assert months_due(conn) == []
        owner.dispose()
