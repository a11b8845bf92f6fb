"""Filtered tables under one filter read a roll-up by group and that filter alone (issue 12 §2).

- ``case_stat_one``: the deltas of ``case_event_cut_deltas`` (0010, keyed as 0020 and 0021 key
  them) summed per group and one filter of the charts page: ``dim`` 'grid' (its grid, 0 none /
  outside every grid, -1 awaiting location), 'person' or 'department' as ``key_id``, ``filter``
  the filter's column ('category_code', 'level', 'channel', 'department_id', or '' for none) and
  ``value`` its value as text ('' none; a department's id in decimal), with the community of the
  delta's grid (-1 awaiting location, 0 outside every grid) for tables within an area. Per day
  and per month like ``case_stat_cut``; the primary key leads with (grain, dim, filter, value,
  day), so one filter over a period is one range of a few thousand rows a day instead of every
  row of ``case_stat_group`` (0021: about 27,000 grid rows a day at 16,000 reports a day).

  Which (dim, filter) pairs are kept: ``SETS``. Tables by grid or person (and so by community or
  subdistrict, and the trends) also under two filters that ``case_stat_group``'s key does not
  lead with (``PAIRS``: level + channel, level + department, channel + department; ``filter``
  the two names joined by '+', ``value`` their values by '|'): read from the group roll-up they
  scan every grid row of the period (1.1-2.4 s at 1 M). Other tables with two filters or more
  beyond the area read ``case_stat_group`` (a category leads its key after the day) /
  ``case_stat_cut`` as before.

Written for past days only, in bulk: ``case_stat_one`` holds every delta dated before the day
in ``case_stat_one_mark.folded_before`` (W), and nothing of later days; readers take the days
from W on from ``case_stat_group`` / ``case_stat_cut`` (a day or two: W is today or yesterday
once the job has run). ``case_stat_one_fold(upto)`` adds the fine roll-ups' day rows of [W, upto)
(and their months) and moves W to ``upto``. No event's transaction folds (session 7 folded in
the trigger of each day's first event: 5-7 CPU s at 1 M cases, 21-34 s at load, inside one
report's transaction): ``case_stat_one_fold_due()`` is a job, run hourly by the app's timer
(``db.schedule``), by ``manage.py fold-stats``, and by pg_cron where the extension is installed in
this database (``FOLD_JOB``). A delta dated before W (an event inserted with a past time: tests,
replays; a due time already past) is added to ``case_stat_one`` straight away by the trigger.

Concurrency: a writer whose batch may hold a delta dated before today or before W (the least of
its events' times and due times; a report arriving now has none) holds a shared advisory lock
(``ONE_LOCK``) from before it reads W until it commits; every other writer takes no lock and
writes only days from its transaction's start on. The job folds up to today, or to the first day
of the oldest other client transaction still open (``pg_stat_activity``), and takes the lock
exclusively without waiting (``pg_try_advisory_xact_lock``: when a writer of past deltas is in
flight it is skipped and the next run folds). So no fold runs while a transaction that read the
old W may still commit rows dated in [W, upto), and only writers of past deltas can wait on a
fold (for as long as it takes to commit).

The backfill folds every day before today from the two fine roll-ups (into the table before its
primary key); ``case_stat_one_refold()`` makes the table again the same way (keeping W):
``stats.indicators.rebuild_stats`` calls it after rebuilding them, the history player's bulk
path after writing them (``sample_data.rollup``).

Frozen: every constant is written here; no project code is imported.

Revision ID: 0025
Revises: 0024 (for now: the integrator re-chains branches when merging)
"""
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

COUNTERS = ("reported", "registered", "closed", "closed_np", "closed_on_time", "closed_lower", "closed_on_spot",
            "disposal_wh", "verified", "reworked", "open", "overdue", "overdue_np")
CUT_KEYS = ("community_id", "department_id", "category_code", "level", "channel")
GROUP_KEYS = ("dim", "category_code", "key_id", "community_id", "department_id", "level", "channel")
AWAITING = -1  # the grid (and community) key of an event whose case has no position (0020)


def _grid(alias: str) -> str:
    return f"CASE WHEN {alias}.awaiting_location THEN {AWAITING} ELSE {alias}.grid_id END"


def _deltas(events: str, *, look_back: bool) -> str:
    """0020's cut deltas of the events in ``events`` with their keys (k_* columns). ``look_back``:
    the events are a new batch whose earlier events are in ``case_event`` (the trigger); the
    state before a case's first event in the batch is read from there."""
    prev_join = f"""
            LEFT JOIN LATERAL (
                SELECT p.to_status, p.to_level, {_grid('p')} AS grid_id, p.department_id, p.handler_id, p.due_at,
                       p.postponed, p.category_code
                FROM case_event p
                WHERE x.l_id IS NULL AND x.action <> 'report' AND p.case_id = x.case_id AND (p.at, p.id) < (x.at, x.id)
                ORDER BY p.at DESC, p.id DESC LIMIT 1
            ) prev ON true""" if look_back else ""

    def q(col: str, lag: str) -> str:
        return f"CASE WHEN x.l_id IS NULL THEN prev.{col} ELSE x.{lag} END" if look_back else f"x.{lag}"

    return f"""
            SELECT dd.day, date_trunc('month', dd.day)::date AS month,
                   CASE WHEN dd.grid_id = {AWAITING} THEN {AWAITING} ELSE COALESCE(ug.community_id, 0) END AS k_com,
                   COALESCE(dd.department_id, 0) AS k_dep, COALESCE(dd.category_code, '') AS k_cat,
                   COALESCE(dd.level, '') AS k_lvl, COALESCE(x.channel, '') AS k_ch,
                   COALESCE(dd.grid_id, 0) AS k_grid, COALESCE(dd.person_id, 0) AS k_person,
                   {", ".join(f"dd.{c}" for c in COUNTERS)}
            FROM (
                SELECT n.id, n.case_id, n.at, n.action, n.actor_id, n.to_status, n.to_level, {_grid('n')} AS grid_id,
                       n.department_id, n.handler_id, n.due_at, n.postponed, n.disposal_wh, n.category_code, n.channel,
                       lag(n.id) OVER w AS l_id, lag(n.to_status) OVER w AS l_status, lag({_grid('n')}) OVER w AS l_grid,
                       lag(n.department_id) OVER w AS l_department, lag(n.handler_id) OVER w AS l_handler,
                       lag(n.due_at) OVER w AS l_due, lag(n.postponed) OVER w AS l_postponed,
                       lag(n.to_level) OVER w AS l_level, lag(n.category_code) OVER w AS l_category
                FROM {events} n
                WINDOW w AS (PARTITION BY n.case_id ORDER BY n.at, n.id)
            ) x{prev_join}
            CROSS JOIN LATERAL case_event_cut_deltas(
                x.at, x.action, x.actor_id, x.to_status, x.to_level, x.grid_id, x.department_id, x.handler_id, x.due_at,
                x.postponed, x.disposal_wh, x.category_code, {q('to_status', 'l_status')}, {q('to_level', 'l_level')},
                {q('grid_id', 'l_grid')}, {q('department_id', 'l_department')}, {q('handler_id', 'l_handler')},
                {q('due_at', 'l_due')}, {q('postponed', 'l_postponed')}, {q('category_code', 'l_category')}) dd
            LEFT JOIN unit_grid ug ON ug.id = dd.grid_id"""


_SUMS = ", ".join(f"COALESCE(sum(d.{c}), 0)" for c in COUNTERS)
_NONZERO = " OR ".join(f"COALESCE(sum(d.{c}), 0) <> 0" for c in COUNTERS)
_UPDATE = ", ".join(f"{c} = s.{c} + EXCLUDED.{c}" for c in COUNTERS)
# each delta in its two groups
_DIMS = "CROSS JOIN LATERAL (VALUES ('grid', d.k_grid), ('person', d.k_person)) g(dim, key)"


def _add_cut(src: str) -> str:
    keys = "d.k_com, d.k_dep, d.k_cat, d.k_lvl, d.k_ch"
    return f"""
        INSERT INTO case_stat_cut AS s (grain, day, {", ".join(CUT_KEYS)}, {", ".join(COUNTERS)})
        SELECT CASE WHEN GROUPING(d.day) = 0 THEN 'day' ELSE 'month' END, COALESCE(d.day, d.month), {keys}, {_SUMS}
        FROM {src} d
        GROUP BY GROUPING SETS ((d.day, {keys}), (d.month, {keys}))
        HAVING {_NONZERO}
        ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (grain, day, {", ".join(CUT_KEYS)}) DO UPDATE SET {_UPDATE}"""


def _add_group(src: str) -> str:
    keys = "g.dim, d.k_cat, g.key, d.k_com, d.k_dep, d.k_lvl, d.k_ch"
    return f"""
        INSERT INTO case_stat_group AS s (grain, day, {", ".join(GROUP_KEYS)}, {", ".join(COUNTERS)})
        SELECT CASE WHEN GROUPING(d.day) = 0 THEN 'day' ELSE 'month' END, COALESCE(d.day, d.month), {keys}, {_SUMS}
        FROM {src} d {_DIMS}
        GROUP BY GROUPING SETS ((d.day, {keys}), (d.month, {keys}))
        HAVING {_NONZERO}
        ORDER BY 1, 3, 2, 4, 5, 6, 7, 8, 9
        ON CONFLICT (grain, dim, day, category_code, key_id, community_id, department_id, level, channel)
        DO UPDATE SET {_UPDATE}"""


def _collect_cuts(one: bool) -> str:
    """``case_event_collect_cuts``: 0021's (``one`` False: the deltas, computed once, into
    ``case_stat_cut`` and ``case_stat_group``), or this migration's (``_collect_cuts_one``)."""
    if one:
        return _collect_cuts_one()
    body = (f"WITH d AS MATERIALIZED ({_deltas('new_events', look_back=True)}),\n"
            f"        cut AS ({_add_cut('d')})\n{_add_group('d')};")
    return f"""
    CREATE OR REPLACE FUNCTION case_event_collect_cuts() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {body}
        RETURN NULL;
    END $$;"""


# the (dim, filter) pairs of case_stat_one: every single filter of the charts page for tables by
# grid (and so by community and subdistrict, and the trends: the grid rows carry the community),
# by person and by department; '' no filter (a person's or department's table within an area)
SETS = (("grid", "category_code"), ("grid", "level"), ("grid", "channel"), ("grid", "department_id"),
        ("person", ""), ("person", "category_code"), ("person", "level"), ("person", "channel"),
        ("person", "department_id"),
        ("department", ""), ("department", "category_code"), ("department", "level"), ("department", "channel"),
        *((dim, pair) for dim in ("grid", "person") for pair in ("level+channel", "level+department_id",
                                                                 "channel+department_id")))
ONE_KEYS = ("dim", "filter", "value", "key_id", "community_id")
# a delta's group per dim, and its value per filter (k_* columns of _deltas; the columns of a row of
# case_stat_group or case_stat_cut for the backfill)
_DELTA_KEY = {"grid": "d.k_grid", "person": "d.k_person", "department": "d.k_dep"}
_DELTA_VALUE = {"": "''", "category_code": "d.k_cat", "level": "d.k_lvl", "channel": "d.k_ch",
                "department_id": "d.k_dep::text"}
_ROW_VALUE = {"": "''", "category_code": "d.category_code", "level": "d.level", "channel": "d.channel",
              "department_id": "d.department_id::text"}
PAIRS = ("level+channel", "level+department_id", "channel+department_id")  # two filters: their values joined by '|'
for _v in (_DELTA_VALUE, _ROW_VALUE):
    _v.update({p: " || '|' || ".join(_v[f] for f in p.split("+")) for p in PAIRS})


def _sets(key: dict, value: dict, dims: tuple[str, ...]) -> str:
    rows = ", ".join(f"('{dim}', '{f}', {value[f]}, {key[dim]})" for dim, f in SETS if dim in dims)
    return f"CROSS JOIN LATERAL (VALUES {rows}) o(dim, filter, value, key)"


ONE_LOCK = 220022  # the advisory lock key of case_stat_one's fold (shared: writers; exclusive: the fold)
_ONE_ORDER = "ORDER BY 1, 3, 4, 5, 2, 6, 7"
_ONE_CONFLICT = f"ON CONFLICT (grain, dim, filter, value, day, key_id, community_id) DO UPDATE SET {_UPDATE}"


def _add_one(src: str) -> str:
    """The deltas of ``src`` dated before W straight into ``case_stat_one`` (events inserted with
    a past time)."""
    keys = "o.dim, o.filter, o.value, o.key, d.k_com"
    return f"""
        INSERT INTO case_stat_one AS s (grain, day, {", ".join(ONE_KEYS)}, {", ".join(COUNTERS)})
        SELECT CASE WHEN GROUPING(d.day) = 0 THEN 'day' ELSE 'month' END, COALESCE(d.day, d.month), {keys}, {_SUMS}
        FROM {src} d {_sets(_DELTA_KEY, _DELTA_VALUE, ("grid", "person", "department"))}
        WHERE d.day < (SELECT folded_before FROM case_stat_one_mark)
        GROUP BY GROUPING SETS ((d.day, {keys}), (d.month, {keys}))
        HAVING {_NONZERO}
        {_ONE_ORDER}
        {_ONE_CONFLICT}"""


def _fold_select(lo: str, hi: str) -> str:
    """The rows of ``case_stat_one`` that the fine roll-ups' day rows of [lo, hi) add up to, at
    both grains (one part per dim: its rows are one range of the fine roll-up's primary key
    (grain, dim, day); the parts' dims differ, so no row of one meets a row of another)."""
    keys = "o.dim, o.filter, o.value, o.key, d.community_id"
    parts = []
    for table, dims in (("case_stat_group", ("grid",)), ("case_stat_group", ("person",)),
                        ("case_stat_cut", ("department",))):
        key = {"grid": "d.key_id", "person": "d.key_id", "department": "d.department_id"}
        dim_cond = f" AND d.dim = '{dims[0]}'" if table == "case_stat_group" else ""
        parts.append(f"""
            SELECT CASE WHEN GROUPING(d.day) = 0 THEN 'day' ELSE 'month' END AS grain,
                   COALESCE(d.day, m.month) AS day, {keys}, {_SUMS}
            FROM {table} d CROSS JOIN LATERAL (SELECT date_trunc('month', d.day)::date AS month) m
            {_sets(key, _ROW_VALUE, dims)}
            WHERE d.grain = 'day' AND d.day >= {lo} AND d.day < {hi}{dim_cond}
            GROUP BY GROUPING SETS ((d.day, {keys}), (m.month, {keys}))
            HAVING {_NONZERO}""")
    return " UNION ALL ".join(parts)


_ONE_INSERT = f"INSERT INTO case_stat_one AS s (grain, day, {', '.join(ONE_KEYS)}, {', '.join(COUNTERS)})"


def _fold_sql() -> str:
    """The body of ``case_stat_one_fold(upto)``: the fine day rows of [W, upto) re-summed per
    (dim, filter) at both grains and added; W moved to ``upto``. (No ORDER BY: the fold holds the
    lock every writer of case_stat_one shares, so no other upsert runs meanwhile.) The lock is
    taken here, waiting (the job has it already, taken without waiting)."""
    return f"""
        PERFORM pg_advisory_xact_lock({ONE_LOCK});
        SELECT folded_before INTO w FROM case_stat_one_mark;
        IF upto <= w THEN
            RETURN;
        END IF;
        {_ONE_INSERT}
        {_fold_select("w", "upto")}
        {_ONE_CONFLICT};
        UPDATE case_stat_one_mark SET folded_before = upto;"""


def _refold_sql() -> str:
    """The body of ``case_stat_one_refold()``: the table made again from the fine roll-ups, every
    day before W (repair, after a rebuild or a bulk load of the fine roll-ups); W stays."""
    return f"""
        PERFORM pg_advisory_xact_lock({ONE_LOCK});
        SELECT folded_before INTO w FROM case_stat_one_mark;
        DELETE FROM case_stat_one;
        {_ONE_INSERT}
        {_fold_select("'-infinity'::date", "w")};"""


def _collect_cuts_one() -> str:
    """0021's trigger, and, when the batch may hold a delta dated before W or before today: the
    shared lock, then the deltas before W into ``case_stat_one``. No fold here (the scheduled
    ``case_stat_one_fold_due``): a delta is dated at its event's time, at the previous due time
    if later, or at the event's due time, so a batch whose events' times and due times are all
    today or later (a report coming in now) has no delta before today and takes no lock."""
    return f"""
    CREATE OR REPLACE FUNCTION case_event_collect_cuts() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF (SELECT min(LEAST(local_day(n.at), local_day(n.due_at))) FROM new_events n)
           < (SELECT GREATEST(local_day(now()), folded_before) FROM case_stat_one_mark) THEN
            PERFORM pg_advisory_xact_lock_shared({ONE_LOCK});
            WITH d AS MATERIALIZED ({_deltas('new_events', look_back=True)}),
            cut AS ({_add_cut('d')}),
            grp AS ({_add_group('d')})
            {_add_one('d')};
        ELSE
            WITH d AS MATERIALIZED ({_deltas('new_events', look_back=True)}),
            cut AS ({_add_cut('d')})
            {_add_group('d')};
        END IF;
        RETURN NULL;
    END $$;"""


def _fold_due_sql() -> str:
    """The body of ``case_stat_one_fold_due()``, the scheduled job: W moved to today, or to the
    first day of the oldest transaction of another client still open (its unlocked writes are
    dated from its start on; a session whose start this role may not see holds W back a day),
    with the exclusive lock taken without waiting; returns W after, NULL if a writer of past
    deltas held the shared lock (the next run folds)."""
    return f"""
        PERFORM pg_stat_clear_snapshot();
        SELECT LEAST(local_day(now()), min(CASE WHEN a.state IS NULL THEN local_day(now()) - 1
                                                 ELSE local_day(a.xact_start) END))
        INTO upto
        FROM pg_stat_activity a
        WHERE a.pid <> pg_backend_pid() AND a.datname = current_database() AND a.backend_type = 'client backend'
          AND (a.state IS NULL OR a.xact_start IS NOT NULL);
        upto := COALESCE(upto, local_day(now()));
        IF NOT pg_try_advisory_xact_lock({ONE_LOCK}) THEN
            RETURN NULL;
        END IF;
        PERFORM case_stat_one_fold(upto);
        RETURN (SELECT folded_before FROM case_stat_one_mark);"""


FOLD_JOB = "case-stat-one-fold"  # the pg_cron job's name, where the extension is installed


def _cron(schedule: bool) -> None:
    """An hourly pg_cron job where the extension is installed in this database (as 0024's)."""
    bind = op.get_bind()
    if not bind.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron')").scalar():
        return
    if schedule:
        op.execute(f"SELECT cron.schedule('{FOLD_JOB}', '7 * * * *', 'SELECT case_stat_one_fold_due()')")
    else:
        op.execute(f"SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = '{FOLD_JOB}'")


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE case_stat_one (
        grain text NOT NULL CHECK (grain IN ('day', 'month')),
        dim text NOT NULL CHECK (dim IN ('grid', 'person', 'department')),
        filter text NOT NULL CHECK (filter IN ('', 'category_code', 'level', 'channel', 'department_id', {", ".join(f"'{p}'" for p in PAIRS)})),
        value text NOT NULL,
        day date NOT NULL,
        key_id integer NOT NULL,
        community_id integer NOT NULL,
        {", ".join(f"{c} double precision NOT NULL DEFAULT 0" if c == "disposal_wh" else f"{c} integer NOT NULL DEFAULT 0" for c in COUNTERS)},
        CHECK (grain = 'day' OR extract(day FROM day) = 1)
    );
    COMMENT ON TABLE case_stat_one IS 'indicator deltas dated before case_stat_one_mark.folded_before per grid, person or department under one filter (category, level, channel or department; or none), with the community, per day and per month';
    CREATE TABLE case_stat_one_mark (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        folded_before date NOT NULL
    );
    COMMENT ON TABLE case_stat_one_mark IS 'case_stat_one holds every delta dated before folded_before, none after';
    INSERT INTO case_stat_one_mark (folded_before) VALUES (local_day(now()));
    CREATE FUNCTION case_stat_one_fold(upto date) RETURNS void LANGUAGE plpgsql SET jit = off AS $$
    DECLARE
        w date;
    BEGIN
        {_fold_sql()}
    END $$;
    CREATE FUNCTION case_stat_one_refold() RETURNS void LANGUAGE plpgsql SET jit = off SET work_mem = '512MB' AS $$
    DECLARE
        w date;
    BEGIN
        {_refold_sql()}
    END $$;
    CREATE FUNCTION case_stat_one_fold_due() RETURNS date LANGUAGE plpgsql SET jit = off SET work_mem = '256MB' AS $$
    DECLARE
        upto date;
    BEGIN
        {_fold_due_sql()}
    END $$;
    {_collect_cuts_one()}
    -- CREATE OR REPLACE dropped 0021's setting (JIT costs this trigger more than it saves)
    ALTER FUNCTION case_event_collect_cuts() SET jit = off;
    """)
    # the backfill: every day before today (the mark), from the fine roll-ups, into the table
    # before its primary key (built once afterwards, not row by row)
    op.execute("SET LOCAL work_mem = '512MB'")
    op.execute(f"{_ONE_INSERT.replace(' AS s', '')} {_fold_select(chr(39) + '-infinity' + chr(39) + '::date', '(SELECT folded_before FROM case_stat_one_mark)')}")
    op.execute("ALTER TABLE case_stat_one ADD PRIMARY KEY (grain, dim, filter, value, day, key_id, community_id)")
    _cron(True)


def downgrade() -> None:
    _cron(False)
    op.execute(f"""
    {_collect_cuts(one=False)}
    ALTER FUNCTION case_event_collect_cuts() SET jit = off;
    DROP FUNCTION IF EXISTS case_stat_one_fold_due();
    DROP FUNCTION IF EXISTS case_stat_one_fold(date);
    DROP FUNCTION IF EXISTS case_stat_one_refold();
    DROP TABLE IF EXISTS case_stat_one_mark;
    DROP TABLE IF EXISTS case_stat_one;
    """)
