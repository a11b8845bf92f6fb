"""The app's fallback timer for scheduled boundary changes.

A boundary change published for a later time (planning.publish) waits in ``boundary_change``
with ``status = 'scheduled'``; the SQL function ``apply_due_boundary_changes()`` (migration
0007) applies the ones that are due. Where the server has pg_cron, it calls that function each
minute, so the change is applied with no one logged in: migration 0014 schedules the job
``gridgov-apply-due:<database>`` where pg_cron is installed and preloaded (the local cluster
does it, db/cluster.py; docs/planning.md says how elsewhere); ``cron_job`` reads it back and
``unschedule`` removes it and the database's other jobs (a scratch database about to be
dropped: ``db.cluster.drop_database``). A server without pg_cron relies on this thread, which
every app process starts once: it calls the same function every ``every_s`` seconds, each call
its own transaction. Several
processes may run it at once: the function locks each due change (``FOR UPDATE SKIP LOCKED``)
and applies it once. A ``manage.py boundary-apply-due`` in the system's cron does the same.

The same thread makes the month partitions of the case and event tables ahead of time
(``db.partitions``, migration 0024), at most once every ``partitions_every_s`` (an hour): a
cheap call when every month exists. Where pg_cron is loaded, ``schedule_maintenance`` (called by
``db.migrate`` after every migration) adds a daily job ``gridgov-partitions:<database>`` doing
the same with no app process alive, and an hourly ``gridgov-fold:<database>`` folding the
roll-up (below). Migrations 0024 and 0025 schedule jobs of their own only when pg_cron is
installed in the migrated database (the local cluster keeps pg_cron in ``postgres``, as 0014's
job, which is scheduled from there, so they found no extension); ``schedule_maintenance``
replaces those with its own, 0024's running the months in one transaction.

And it folds the days before today into the one-filter roll-up ``case_stat_one`` (migration
0025, ``case_stat_one_fold_due()``) at most once every ``fold_every_s`` (an hour), never inside
an event's transaction: a no-op when W is already today; a run that finds a writer of past-dated
events holding the fold's lock does nothing, and the next one folds.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from db.engine import get_engine
from db.partitions import make_partitions

log = logging.getLogger(__name__)

CRON_JOB_PREFIX = "gridgov-apply-due:"  # as migration 0014 names a database's job
CRON_COMMAND = "SELECT apply_due_boundary_changes()"
PARTITIONS_JOB_PREFIX = "gridgov-partitions:"
PARTITIONS_SCHEDULE = "17 3 * * *"  # daily, as 0024's own job
# one month per transaction under a short lock time-out (migration 0027), as the app's timer
PARTITIONS_COMMAND = "CALL make_case_partitions()"
FOLD_JOB_PREFIX = "gridgov-fold:"
FOLD_SCHEDULE = "7 * * * *"  # hourly, as 0025's own job
FOLD_COMMAND = "SELECT case_stat_one_fold_due()"


def _cron_engine(owner_url: str):
    """An engine on the database where pg_cron lives (``cron.database_name``), as the owner of
    ``owner_url``; None when the server has no pg_cron loaded."""
    u = make_url(owner_url)
    eng = create_engine(u, poolclass=NullPool)
    try:
        with eng.connect() as c:
            cron_db = c.execute(text("SELECT CASE WHEN 'pg_cron' = ANY(string_to_array(replace("
                                     "current_setting('shared_preload_libraries'), ' ', ''), ',')) "
                                     "THEN current_setting('cron.database_name', true) END")).scalar()
    finally:
        eng.dispose()
    if not cron_db:
        return None
    return create_engine(u.set(database=cron_db), isolation_level="AUTOCOMMIT", poolclass=NullPool)


@contextmanager
def _cron_jobs(owner_url: str, prefix: str = CRON_JOB_PREFIX):
    """A connection to pg_cron's database as the owner of ``owner_url`` and the job name
    (``prefix`` + database) of that database; (None, name) when the server has no pg_cron loaded
    or no job table."""
    name = prefix + make_url(owner_url).database
    eng = _cron_engine(owner_url)
    if eng is None:
        yield None, name
        return
    try:
        with eng.connect() as c:
            has_jobs = c.execute(text("SELECT to_regclass('cron.job') IS NOT NULL")).scalar()
            yield (c if has_jobs else None), name
    finally:
        eng.dispose()


def cron_job(owner_url: str, prefix: str = CRON_JOB_PREFIX) -> dict | None:
    """The pg_cron job applying due changes (or, with ``PARTITIONS_JOB_PREFIX``, making the
    months) in the database of ``owner_url`` (its jobid, schedule, command, database, username,
    active), or None (no pg_cron, or no job)."""
    with _cron_jobs(owner_url, prefix) as (c, name):
        if c is None:
            return None
        row = c.execute(text("SELECT jobid, schedule, command, database, username, active FROM cron.job "
                             "WHERE jobname = :j"), {"j": name}).mappings().one_or_none()
        return dict(row) if row is not None else None


def cron_jobs_in(owner_url: str, database: str | None = None) -> list[str]:
    """The names of every pg_cron job that runs in ``database`` (default: that of ``owner_url``,
    through which pg_cron's database is reached), none without pg_cron."""
    with _cron_jobs(owner_url) as (c, _):
        if c is None:
            return []
        return list(c.execute(text("SELECT jobname FROM cron.job WHERE database = :d ORDER BY jobname"),
                              {"d": database or make_url(owner_url).database}).scalars())


def unschedule(owner_url: str) -> bool:
    """Remove every pg_cron job that runs in the database of ``owner_url`` (before the database
    is dropped: pg_cron would keep running them against a database that is gone, an error a
    minute): the apply-due job, the maintenance jobs; whether there was one."""
    with _cron_jobs(owner_url) as (c, _):
        if c is None:
            return False
        return bool(c.execute(text("SELECT cron.unschedule(jobid) FROM cron.job WHERE database = :d"),
                              {"d": make_url(owner_url).database}).all())


@dataclasses.dataclass(frozen=True)
class MaintenanceJob:
    """A pg_cron job ``prefix`` + database that ``db.migrate`` keeps in every migrated database
    whose schema has ``needs`` (a function or procedure), and removes where it has not."""
    prefix: str
    schedule: str
    command: str
    needs: str


# What keeps a database in shape with no app process alive (each also done by the app's timer,
# ``DueChangeTicker``): the month partitions ahead of time (daily), and the fold of the days
# before today into the one-filter roll-up (hourly; a no-op when done, and a run that finds a
# writer of past-dated events holding the fold's lock does nothing: the next one folds).
MAINTENANCE_JOBS: tuple[MaintenanceJob, ...] = (
    MaintenanceJob(PARTITIONS_JOB_PREFIX, PARTITIONS_SCHEDULE, PARTITIONS_COMMAND, "make_case_partitions"),
    MaintenanceJob(FOLD_JOB_PREFIX, FOLD_SCHEDULE, FOLD_COMMAND, "case_stat_one_fold_due"),
)
# the jobs migrations 0024 and 0025 schedule themselves where pg_cron is installed in the migrated
# database: 0024's runs the one-transaction ``ensure_case_partitions()`` (the month moves that held
# a lock on cases_default for minutes, session 8) and 0025's the fold; MAINTENANCE_JOBS replace them
OWN_JOBS = ("case-partitions", "case-stat-one-fold")


def schedule_maintenance(owner_url: str) -> dict[str, bool]:
    """Give the database of ``owner_url`` each of ``MAINTENANCE_JOBS`` whose function its schema
    has, once (an existing job of that name with another command or schedule is rescheduled),
    remove the ones whose function is gone (migrated down), and remove the migrations' own jobs
    (``OWN_JOBS``) of that database. Returns {job name: whether the database has it now}. Errors
    are logged, not raised: the app's timer does the same work (``DueChangeTicker``)."""
    db = make_url(owner_url).database
    out: dict[str, bool] = {}
    try:
        eng = create_engine(owner_url, poolclass=NullPool)
        try:
            with eng.connect() as c:
                have = {j.needs: bool(c.execute(text("SELECT to_regproc(:f) IS NOT NULL"), {"f": j.needs}).scalar())
                        for j in MAINTENANCE_JOBS}
        finally:
            eng.dispose()
        with _cron_jobs(owner_url) as (c, _):
            if c is None:
                return {j.prefix + db: False for j in MAINTENANCE_JOBS}
            c.execute(text("SELECT cron.unschedule(jobid) FROM cron.job WHERE database = :d AND jobname = ANY(:n)"),
                      {"d": db, "n": list(OWN_JOBS)})
            for j in MAINTENANCE_JOBS:
                name = j.prefix + db
                row = c.execute(text("SELECT jobid, schedule, command FROM cron.job WHERE jobname = :j"),
                                {"j": name}).one_or_none()
                if not have[j.needs]:
                    if row is not None:
                        c.execute(text("SELECT cron.unschedule(:i)"), {"i": row.jobid})
                    out[name] = False
                    continue
                if row is None or (row.schedule, row.command) != (j.schedule, j.command):
                    if row is not None:
                        c.execute(text("SELECT cron.unschedule(:i)"), {"i": row.jobid})
                    c.execute(text("SELECT cron.schedule_in_database(:j, :s, :c, :d)"),
                              {"j": name, "s": j.schedule, "c": j.command, "d": db})
                out[name] = True
    except Exception as e:  # the jobs are a convenience: the app's timer does the same
        log.warning("pg_cron maintenance jobs not scheduled in %s: %s", db, str(e).splitlines()[0])
    return out


def reload_cron(owner_url: str) -> bool:
    """Make pg_cron read its job list again now, by altering the database's job to what it is
    (``cron.alter_job``: an update of ``cron.job``, which fires pg_cron's cache invalidation);
    whether there was a job. Called after migrations (``db.migrate.upgrade``).

    pg_cron (1.4.2 here, and 1.6 alike) learns of a new job through a relation-cache
    invalidation of ``cron.job``. Its scheduler reads invalidations only between its sleeps (up
    to a minute); PostgreSQL gives a process that has fallen more than the queue's 4096 messages
    behind a cache reset instead, and pg_cron's callback ignores a reset (it acts only on
    ``cron.job``'s own oid: ``InvalidateJobCacheCallback``, src/job_metadata.c) and keeps its old
    job list until ``cron.job`` changes again. Migration 0014 schedules the job and the later
    migrations' DDL (0024 rebuilds the case tables and their months) can be that many
    invalidations before the scheduler reads the queue, on a loaded machine: the new database's
    job then never runs. A change of ``cron.job`` after the last migration's commit is read on
    the scheduler's next wake-up, after everything else. Errors are logged, not raised (a server
    whose pg_cron database the owner may not reach: the app's timer remains)."""
    try:
        with _cron_jobs(owner_url) as (c, name):
            if c is None:
                return False
            return bool(c.execute(text("SELECT cron.alter_job(jobid, active := active) FROM cron.job "
                                       "WHERE jobname = :j"), {"j": name}).all())
    except Exception as e:  # the job is a convenience: the timer applies due changes too
        log.warning("pg_cron job list not reloaded: %s", str(e).splitlines()[0])
        return False


class DueChangeTicker:
    """A daemon thread applying due boundary changes every ``every_s`` seconds."""

    def __init__(self, url: str, *, every_s: float = 60.0, partitions_every_s: float = 3600.0,
                 fold_every_s: float = 3600.0):
        self._url = url
        self._fold_every_s = fold_every_s
        self._fold_due = 0.0  # monotonic time of the next fold of case_stat_one
        self.folded_before = None  # case_stat_one's mark after the last fold that ran
        self.fold_error: str | None = None
        self._every_s = every_s
        self._partitions_every_s = partitions_every_s
        self._partitions_due = 0.0  # monotonic time of the next partition check
        self.partitions_made = 0
        self.partitions_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied = 0
        self.last_error: str | None = None

    def tick(self) -> int:
        """Apply what is due now; how many changes (errors are logged, and the next tick retries)."""
        try:
            with get_engine(self._url).begin() as conn:
                n = conn.execute(text("SELECT apply_due_boundary_changes()")).scalar_one()
        except Exception as e:  # the database down, a change that fails: log it, try again next time
            self.last_error = str(e).splitlines()[0]
            log.error("applying due boundary changes failed: %s", self.last_error)
            return 0
        if n:
            log.info("applied %d scheduled boundary change(s)", n)
        self.applied += n
        self.last_error = None
        return n

    def make_partitions(self) -> int:
        """Make the month partitions that are due (errors are logged; the next check retries)."""
        self._partitions_due = time.monotonic() + self._partitions_every_s
        try:  # one month per transaction under a short lock time-out: the pages never queue behind it
            run = make_partitions(get_engine(self._url))
        except Exception as e:
            self.partitions_error = str(e).splitlines()[0]
            log.error("making month partitions failed: %s", self.partitions_error)
            return 0
        n = run.made
        if run.left:  # months whose locks were not granted: try again in a minute, not an hour
            self._partitions_due = time.monotonic() + min(60.0, self._partitions_every_s)
        if n:
            log.info("made %d month partition(s)", n)
        self.partitions_made += n
        self.partitions_error = None
        return n

    def fold_stats(self):
        """Fold the days before today into ``case_stat_one`` (its own transaction; errors are
        logged and the next check retries); its mark after, or None when skipped."""
        self._fold_due = time.monotonic() + self._fold_every_s
        try:
            with get_engine(self._url).begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '5s'"))
                w = conn.execute(text("SELECT case_stat_one_fold_due()")).scalar_one()
        except Exception as e:
            self.fold_error = str(e).splitlines()[0]
            log.error("folding case_stat_one failed: %s", self.fold_error)
            return None
        if w is None:
            self._fold_due = time.monotonic() + min(self._fold_every_s, 60.0)  # a writer held the lock: soon again
        else:
            self.folded_before = w
        self.fold_error = None
        return w

    def start(self) -> "DueChangeTicker":
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="boundary-ticker", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            if time.monotonic() >= self._partitions_due:
                self.make_partitions()
            if time.monotonic() >= self._fold_due:
                self.fold_stats()
            self._stop.wait(self._every_s)
