"""Scheduled changes applied by the database itself (pg_cron, migration 0014), with no app
process running; and ``apply_due_boundary_changes`` applying a change once however many callers
(pg_cron, every app's timer, ``manage.py boundary-apply-due``) run it at the same moment. The
daily partitions job ``manage.py migrate`` schedules (db.schedule.schedule_partitions), and a
dropped scratch database's jobs going with it (db.cluster.drop_database)."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from db.config import TIME_ZONE
from db.migrate import upgrade
from db.schedule import (CRON_COMMAND, CRON_JOB_PREFIX, PARTITIONS_COMMAND, PARTITIONS_JOB_PREFIX,
                         PARTITIONS_SCHEDULE, _cron_engine, cron_job, cron_jobs_in)
from planning.publish import publish
from tests.factories import scratch_database
from tests.planning.draft_rows import draft_of, set_geom
from tests.planning.test_publish import G1, G2, box
from tests.world import build_world


def _scheduled(eng, seconds: float) -> int:
    """The world with a change that moves G1/G2's common edge, committed, due in ``seconds``."""
    with eng.begin() as conn:
        w = build_world(conn)
        d = draft_of(conn, [w.com["C1"], w.com["C2"]])
        set_geom(conn, d, G1, box(0, 0.5))
        set_geom(conn, d, G2, box(0.5, 2))
        eff = conn.execute(text("SELECT clock_timestamp()")).scalar_one() + timedelta(seconds=seconds)
        return publish(conn, d, actor_id=None, reason="由数据库定时生效", effective_at=eff).change_id


def _status(eng, change: int) -> str:
    with eng.connect() as conn:
        return conn.execute(text("SELECT status FROM boundary_change WHERE id = :i"), {"i": change}).scalar_one()


def _need_pg_cron(owner_engine) -> None:
    with owner_engine.connect() as c:
        loaded = c.execute(text("SELECT 'pg_cron' = ANY(string_to_array(replace(current_setting("
                                "'shared_preload_libraries'), ' ', ''), ','))")).scalar()
    if not loaded:
        pytest.skip("pg_cron is not loaded in the test server (postgresql-15-cron, shared_preload_libraries): "
                    "the app's timer applies scheduled changes there (test_schedule_ticker)")


def test_pg_cron_applies_a_scheduled_change_with_no_app_running(owner_engine):
    _need_pg_cron(owner_engine)
    with scratch_database("cron", cron=True) as url:
        job = cron_job(url)
        assert job is not None, "migration 0014 scheduled no pg_cron job for this database"
        assert (job["schedule"], job["command"], job["active"]) == ("* * * * *", CRON_COMMAND, True)
        assert job["database"] == url.rsplit("/", 1)[1]
        eng = create_engine(url, connect_args={"options": f"-c timezone={TIME_ZONE}"})
        try:
            change = _scheduled(eng, 3)
            assert _status(eng, change) == "scheduled"
            # pg_cron runs each minute on the minute: at most 60 s after it is due, with room
            deadline = time.monotonic() + 75
            while _status(eng, change) == "scheduled" and time.monotonic() < deadline:
                time.sleep(1)
            with eng.connect() as conn:
                row = conn.execute(text("SELECT status, applied_at >= effective_at AS after, result "
                                        "FROM boundary_change WHERE id = :i"), {"i": change}).one()
                assert row.status == "applied" and row.after and row.result["versions_added"] == 2
                assert conn.execute(text("SELECT count(*) FROM grid_version")).scalar_one() == 5
                # nothing applied twice: the app's timer finds nothing left to do
                assert conn.execute(text("SELECT apply_due_boundary_changes()")).scalar_one() == 0
        finally:
            eng.dispose()


def test_apply_due_applies_a_change_once_under_concurrent_callers():
    """Two sessions at once: the second skips the change the first holds, and finds it applied
    once the first commits (no second set of versions, no error)."""
    with scratch_database("applydue") as url:
        eng = create_engine(url, connect_args={"options": f"-c timezone={TIME_ZONE}"})
        try:
            change = _scheduled(eng, 0.5)
            time.sleep(0.6)
            with eng.connect() as a, eng.connect() as b:
                ta = a.begin()
                assert a.execute(text("SELECT apply_due_boundary_changes()")).scalar_one() == 1
                b.execute(text("SET lock_timeout = '5s'"))
                assert b.execute(text("SELECT apply_due_boundary_changes()")).scalar_one() == 0  # skipped, not blocked
                b.rollback()
                ta.commit()
                assert b.execute(text("SELECT apply_due_boundary_changes()")).scalar_one() == 0
                b.commit()
            assert _status(eng, change) == "applied"
            with eng.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM grid_version")).scalar_one() == 5
                assert conn.execute(text("SELECT count(*) FROM grid_version WHERE change_id = :i"),
                                    {"i": change}).scalar_one() == 2
        finally:
            eng.dispose()


def test_a_dropped_scratch_database_keeps_no_pg_cron_job(owner_engine):
    """``db.cluster.drop_database`` (every scratch and benchmark database is dropped by it)
    removes the jobs the migrations scheduled in the database before dropping it: pg_cron would
    otherwise keep failing them every minute, against a database that is gone."""
    _need_pg_cron(owner_engine)
    owner_url = owner_engine.url.render_as_string(hide_password=False)
    with scratch_database("cronleft", cron=True) as url:
        name = url.rsplit("/", 1)[1]
        assert CRON_JOB_PREFIX + name in cron_jobs_in(url)
    assert cron_jobs_in(owner_url, name) == []


def test_migrate_schedules_the_daily_partitions_job(owner_engine):
    """pg_cron lives in ``postgres`` on the local cluster, so migration 0024 finds no extension in
    the migrated database and schedules nothing; ``db.migrate.upgrade`` schedules the job from
    pg_cron's database, once however often it runs, and pg_cron runs it as the owner in the
    right database."""
    _need_pg_cron(owner_engine)
    with scratch_database("cronjobs", cron=True) as url:
        name = url.rsplit("/", 1)[1]
        job = cron_job(url, PARTITIONS_JOB_PREFIX)
        assert job is not None, "manage.py migrate scheduled no partitions job"
        assert (job["schedule"], job["command"], job["database"], job["active"]) == (
            PARTITIONS_SCHEDULE, PARTITIONS_COMMAND, name, True)
        assert cron_jobs_in(url) == [CRON_JOB_PREFIX + name, PARTITIONS_JOB_PREFIX + name]
        upgrade(url)  # migrating again (nothing to do) adds no second job
        assert cron_jobs_in(url) == [CRON_JOB_PREFIX + name, PARTITIONS_JOB_PREFIX + name]
        # pg_cron runs it: every minute for this test, then wait for one run that succeeded
        cron = _cron_engine(url)
        try:
            with cron.connect() as c:
                c.execute(text("SELECT cron.alter_job(:i, schedule := '* * * * *')"), {"i": job["jobid"]})
                deadline, runs = time.monotonic() + 90, []
                while not runs and time.monotonic() < deadline:
                    runs = c.execute(text("SELECT status, return_message FROM cron.job_run_details "
                                          "WHERE jobid = :i AND status IN ('succeeded', 'failed')"),
                                     {"i": job["jobid"]}).all()
                    if not runs:
                        time.sleep(1)
        finally:
            cron.dispose()
        assert runs, "pg_cron did not run the partitions job within 90 s"
        assert runs[0].status == "succeeded", runs[0].return_message
