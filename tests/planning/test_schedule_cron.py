"""Scheduled changes applied by the database itself (pg_cron, migration 0014), with no app
process running; and ``apply_due_boundary_changes`` applying a change once however many callers
(pg_cron, every app's timer, ``manage.py boundary-apply-due``) run it at the same moment. The
maintenance jobs ``manage.py migrate`` schedules (db.schedule.schedule_maintenance: the months
daily, the roll-up's fold hourly), and a
dropped scratch database's jobs going with it (db.cluster.drop_database)."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from db.config import TIME_ZONE
from db.migrate import upgrade
from db.schedule import (CRON_COMMAND, CRON_JOB_PREFIX, FOLD_COMMAND, FOLD_JOB_PREFIX, FOLD_SCHEDULE,
                         PARTITIONS_COMMAND, PARTITIONS_JOB_PREFIX, PARTITIONS_SCHEDULE, _cron_engine, cron_job,
                         cron_jobs_in, schedule_maintenance)
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


def _one_run(url: str, jobid: int) -> list:
    """Make the job run every minute and wait (up to 90 s) for one run that ended."""
    cron = _cron_engine(url)
    try:
        with cron.connect() as c:
            c.execute(text("SELECT cron.alter_job(:i, schedule := '* * * * *')"), {"i": jobid})
            deadline, runs = time.monotonic() + 90, []
            while not runs and time.monotonic() < deadline:
                runs = c.execute(text("SELECT status, return_message FROM cron.job_run_details "
                                      "WHERE jobid = :i AND status IN ('succeeded', 'failed')"), {"i": jobid}).all()
                if not runs:
                    time.sleep(1)
    finally:
        cron.dispose()
    return runs


def test_migrate_schedules_the_maintenance_jobs(owner_engine):
    """pg_cron lives in ``postgres`` on the local cluster, so migrations 0024 and 0025 find no
    extension in the migrated database and schedule nothing; ``db.migrate.upgrade`` schedules the
    months (daily) and the roll-up's fold (hourly) from pg_cron's database, once however often it
    runs, and pg_cron runs them as the owner in the right database."""
    _need_pg_cron(owner_engine)
    with scratch_database("cronjobs", cron=True) as url:
        name = url.rsplit("/", 1)[1]
        months, fold = cron_job(url, PARTITIONS_JOB_PREFIX), cron_job(url, FOLD_JOB_PREFIX)
        assert months is not None and fold is not None, "manage.py migrate scheduled no maintenance job"
        assert (months["schedule"], months["command"], months["database"], months["active"]) == (
            PARTITIONS_SCHEDULE, PARTITIONS_COMMAND, name, True)
        assert (fold["schedule"], fold["command"], fold["database"], fold["active"]) == (
            FOLD_SCHEDULE, FOLD_COMMAND, name, True)
        jobs = [CRON_JOB_PREFIX + name, FOLD_JOB_PREFIX + name, PARTITIONS_JOB_PREFIX + name]
        assert cron_jobs_in(url) == jobs
        upgrade(url)  # migrating again (nothing to do) adds no second job
        assert cron_jobs_in(url) == jobs
        for job in (months, fold):
            runs = _one_run(url, job["jobid"])
            assert runs, f"pg_cron did not run {job['command']} within 90 s"
            assert runs[0].status == "succeeded", runs[0].return_message


def test_maintenance_replaces_an_old_command_and_the_migrations_own_jobs(owner_engine):
    """A database whose partitions job still runs another command (session 8's, or 0024's own
    ``case-partitions`` running the months in one transaction, where pg_cron is installed in the
    database itself) gets the job as it is meant now; a job whose function is gone is removed."""
    _need_pg_cron(owner_engine)
    with scratch_database("cronold", cron=True) as url:
        name = url.rsplit("/", 1)[1]
        cron = _cron_engine(url)
        try:
            with cron.connect() as c:
                c.execute(text("SELECT cron.alter_job(jobid, command := 'SELECT ensure_case_partitions()') "
                               "FROM cron.job WHERE jobname = :j"), {"j": PARTITIONS_JOB_PREFIX + name})
                c.execute(text("SELECT cron.schedule_in_database('case-partitions', '17 3 * * *', "
                               "'SELECT ensure_case_partitions()', :d)"), {"d": name})
        finally:
            cron.dispose()
        assert "case-partitions" in cron_jobs_in(url)
        got = schedule_maintenance(url)
        assert got == {PARTITIONS_JOB_PREFIX + name: True, FOLD_JOB_PREFIX + name: True}
        assert cron_job(url, PARTITIONS_JOB_PREFIX)["command"] == PARTITIONS_COMMAND
        assert "case-partitions" not in cron_jobs_in(url)
        # the fold's function gone (as below 0025): its job goes, the others stay
        owner = create_engine(url)
        try:
            with owner.begin() as c:
                c.execute(text("ALTER FUNCTION case_stat_one_fold_due() RENAME TO case_stat_one_fold_due_gone"))
            got = schedule_maintenance(url)
            assert got[FOLD_JOB_PREFIX + name] is False and got[PARTITIONS_JOB_PREFIX + name] is True
            assert cron_jobs_in(url) == [CRON_JOB_PREFIX + name, PARTITIONS_JOB_PREFIX + name]
        finally:
            with owner.begin() as c:
                c.execute(text("ALTER FUNCTION case_stat_one_fold_due_gone() RENAME TO case_stat_one_fold_due"))
            owner.dispose()
