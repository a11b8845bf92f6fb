"""Case lifecycle: working calendar, time-limit policy, lifecycle columns of cases, self-describing
case events and the daily indicator roll-up kept by the database from the event log.

- ``working_period`` / ``calendar_day``: the working calendar (dispatch/calendar.py). Days are
  seeded from the ``chinesecalendar`` package (public holidays, make-up working days 调休);
  a day without a row follows the weekday rule. Both tables stay editable.
- ``time_limit_policy``: category × level → value + unit (working_hours | working_days),
  seeded from ``db.reference.CATEGORIES`` at every level.
- ``cases``: handler, deadline bookkeeping (warn_at = the instant from which less than a fifth
  of the working time is left), postponement, rework, rejection, merge, evaluation, disposal
  time; constraints that keep states and fields consistent.
- ``case_event`` gains the case's state *after* the event (grid, handler, deadline, postponed,
  disposal time at closure; lead department and status/level were already there). The state
  before an event is the state after the previous one, so each event says exactly what it
  changed.
- ``case_event_deltas(...)``: the one SQL definition of what an event adds to the indicators;
  ``case_stat_day`` sums those deltas per local day and grid / department / person, kept up to
  date by a statement trigger on ``case_event`` (single inserts and COPY alike). Events are
  append-only; maintenance that deletes some (with that trigger off) must take their deltas out
  too, or call ``stats.indicators.rebuild_stats``.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LEVELS = ("grid", "community", "subdistrict", "district")
TERMINAL = "('closed', 'rejected', 'merged')"
WITH_DEPARTMENT = "('dispatched', 'disposing', 'awaiting_verification', 'rework', 'postponed')"
COUNTERS = ("reported", "registered", "closed", "closed_np", "closed_on_time", "closed_lower", "closed_on_spot",
            "disposal_wh", "verified", "reworked", "open", "overdue", "overdue_np")


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE working_period (
        id serial PRIMARY KEY,
        starts time NOT NULL,
        ends time NOT NULL,
        CHECK (ends > starts),
        EXCLUDE USING gist (tsrange('2000-01-01'::date + starts, '2000-01-01'::date + ends) WITH &&)
    );
    INSERT INTO working_period(starts, ends) VALUES ('08:30', '12:00'), ('13:30', '17:30');

    CREATE TABLE calendar_day (
        day date PRIMARY KEY,
        is_working boolean NOT NULL,
        kind text NOT NULL CHECK (kind IN ('workday', 'weekend', 'holiday', 'makeup_workday', 'closure')),
        name text,
        source text NOT NULL DEFAULT 'manual',
        CHECK (is_working = (kind IN ('workday', 'makeup_workday')))
    );

    CREATE TABLE time_limit_policy (
        category_code text NOT NULL CHECK (category_code ~ '^[0-9]{{4}}$'),
        level text NOT NULL CHECK (level IN {_in(LEVELS)}),
        value numeric(8, 2) NOT NULL CHECK (value > 0),
        unit text NOT NULL CHECK (unit IN ('working_hours', 'working_days')),
        note text,
        PRIMARY KEY (category_code, level)
    );

    ALTER TABLE cases
        ADD COLUMN handler_id integer REFERENCES person(id),
        ADD COLUMN time_limit_value numeric(8, 2),
        ADD COLUMN time_limit_unit text CHECK (time_limit_unit IN ('working_hours', 'working_days')),
        ADD COLUMN deadline_from timestamptz,
        ADD COLUMN warn_at timestamptz,
        ADD COLUMN accepted_at timestamptz,
        ADD COLUMN verified_at timestamptz,
        ADD COLUMN rework_count smallint NOT NULL DEFAULT 0,
        ADD COLUMN rejected_at timestamptz,
        ADD COLUMN reject_reason text CHECK (length(reject_reason) <= 1000),
        ADD COLUMN merged_at timestamptz,
        ADD COLUMN postponed_at timestamptz,
        ADD COLUMN postpone_count smallint NOT NULL DEFAULT 0,
        ADD COLUMN postpone_reason text CHECK (length(postpone_reason) <= 1000),
        ADD COLUMN postpone_requested_at timestamptz,
        ADD COLUMN postpone_requested_by integer REFERENCES person(id),
        ADD COLUMN postpone_requested_due_at timestamptz,
        ADD COLUMN postpone_request_reason text CHECK (length(postpone_request_reason) <= 1000),
        ADD COLUMN supervised_at timestamptz,
        ADD COLUMN result_photo_ref text CHECK (length(result_photo_ref) <= 500),
        ADD COLUMN disposal_wh real,
        ADD COLUMN evaluation_score smallint CHECK (evaluation_score BETWEEN 1 AND 5),
        ADD COLUMN evaluation_comment text CHECK (length(evaluation_comment) <= 1000),
        ADD COLUMN evaluated_at timestamptz,
        ADD CONSTRAINT cases_merged_has_original CHECK ((status = 'merged') = (duplicate_of IS NOT NULL)),
        ADD CONSTRAINT cases_department_while_dispatched CHECK (
            status NOT IN {WITH_DEPARTMENT} OR (department_id IS NOT NULL AND due_at IS NOT NULL)),
        ADD CONSTRAINT cases_closed_has_closed_at CHECK (status <> 'closed' OR (closed_at IS NOT NULL AND level IS NOT NULL)),
        ADD CONSTRAINT cases_level_once_registered CHECK (status IN ('reported', 'rejected', 'merged') OR level IS NOT NULL),
        ADD CONSTRAINT cases_warn_before_due CHECK (warn_at IS NULL OR (due_at IS NOT NULL AND warn_at <= due_at));

    CREATE INDEX cases_awaiting_sorting_idx ON cases(reported_at) WHERE status IN ('reported', 'returned');
    CREATE INDEX cases_supervised_open_idx ON cases(due_at) WHERE supervised AND status NOT IN {TERMINAL};
    CREATE INDEX cases_closed_at_idx ON cases(closed_at) WHERE closed_at IS NOT NULL;
    CREATE INDEX cases_handler_idx ON cases(handler_id) WHERE handler_id IS NOT NULL;

    -- The case's state after the event. No foreign keys: these are snapshots, and the history
    -- loader writes millions of them at once.
    ALTER TABLE case_event
        ADD COLUMN grid_id integer,
        ADD COLUMN handler_id integer,
        ADD COLUMN due_at timestamptz,
        ADD COLUMN postponed boolean NOT NULL DEFAULT false,
        ADD COLUMN disposal_wh real;
    COMMENT ON COLUMN case_event.department_id IS 'lead department after the event';

    CREATE FUNCTION local_day(ts timestamptz) RETURNS date
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (ts AT TIME ZONE 'Asia/Shanghai')::date $$;
    """)

    # --- indicators: the one definition of what an event contributes ----------------------
    # Written as UNION ALL branches whose WHERE is tested first: about 4x faster in bulk than
    # one VALUES list whose every row is computed.
    open0 = f"q_status IS NOT NULL AND q_status NOT IN {TERMINAL}"
    open1 = f"p_status NOT IN {TERMINAL}"
    before = "q_grid, q_department, q_handler, q_due, COALESCE(q_postponed, false)"
    after = "p_grid, p_department, p_handler, p_due, COALESCE(p_postponed, false)"
    changed = f"({open0}, {before}) IS DISTINCT FROM ({open1}, {after})"
    closing = "p_action IN ('close', 'verify_pass', 'self_handle')"
    zero = ", ".join(["0"] * 7) + ", NULL::double precision, 0, 0"
    op.execute(f"""
    -- What one event adds to the daily indicator counters. p_* is the case's state after the
    -- event, q_* the state before it (the previous event's p_*, all NULL for the first event).
    -- Rows: the event's flows (at the event's day, attributed to its grid, lead department and
    -- handler-or-actor); the case entering its new state (open +1; overdue +1 at the new
    -- deadline's day); the case leaving its old state (open -1, and its deadline's overdue +1
    -- taken back: at the deadline's day if not yet due, else at the event's day). State rows
    -- only when the state changed. Summing the deltas of the days before D gives the counts as
    -- they stood at the start of D.
    CREATE FUNCTION case_event_deltas(
        p_at timestamptz, p_action text, p_actor integer, p_status text, p_level text,
        p_grid integer, p_department integer, p_handler integer, p_due timestamptz,
        p_postponed boolean, p_disposal_wh real,
        q_status text, q_grid integer, q_department integer, q_handler integer, q_due timestamptz,
        q_postponed boolean)
    RETURNS TABLE (day date, grid_id integer, department_id integer, person_id integer,
        reported integer, registered integer, closed integer, closed_np integer, closed_on_time integer,
        closed_lower integer, closed_on_spot integer, disposal_wh double precision,
        verified integer, reworked integer, open integer, overdue integer, overdue_np integer)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT local_day(p_at), p_grid, p_department, COALESCE(p_handler, p_actor),
               (p_action = 'report')::int, (p_action IN ('register', 'self_handle'))::int, ({closing})::int,
               ({closing} AND NOT COALESCE(q_postponed, false))::int,
               ({closing} AND NOT COALESCE(q_postponed, false) AND (q_due IS NULL OR p_at <= q_due))::int,
               ({closing} AND p_level IS DISTINCT FROM 'district')::int, (p_action = 'self_handle')::int,
               CASE WHEN {closing} THEN p_disposal_wh::double precision END,
               (p_action IN ('verify_pass', 'verify_fail'))::int, (p_action = 'verify_fail')::int, 0, 0, 0
        WHERE p_action IN ('report', 'register', 'self_handle', 'close', 'verify_pass', 'verify_fail')
        UNION ALL
        SELECT local_day(p_at), p_grid, p_department, p_handler, {zero}, 1, 0, 0
        WHERE {open1} AND {changed}
        UNION ALL
        SELECT local_day(p_at), q_grid, q_department, q_handler, {zero}, -1, 0, 0
        WHERE {open0} AND {changed}
        UNION ALL
        SELECT local_day(greatest(q_due, p_at)), q_grid, q_department, q_handler, {zero}, 0, -1,
               -(NOT COALESCE(q_postponed, false))::int
        WHERE q_due IS NOT NULL AND {open0} AND {changed}
        UNION ALL
        SELECT local_day(p_due), p_grid, p_department, p_handler, {zero}, 0, 1, (NOT COALESCE(p_postponed, false))::int
        WHERE p_due IS NOT NULL AND {open1} AND {changed}
    $$;

    -- Daily sums of those deltas per grid (key 0: outside every grid), lead department (0: none)
    -- and person (handler, else the actor for flows; 0: none). Maintained by the trigger below;
    -- stats.indicators.rebuild_stats() recomputes it from case_event.
    CREATE TABLE case_stat_day (
        dim text NOT NULL CHECK (dim IN ('grid', 'department', 'person')),
        day date NOT NULL,
        key_id integer NOT NULL,
        {", ".join(f"{c} double precision NOT NULL DEFAULT 0" if c == "disposal_wh" else f"{c} integer NOT NULL DEFAULT 0" for c in COUNTERS)},
        PRIMARY KEY (dim, day, key_id)
    );

    CREATE FUNCTION case_event_collect_stats() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_collect("new_events", "+")}
        RETURN NULL;
    END $$;
    CREATE TRIGGER case_event_collect_stats AFTER INSERT ON case_event
        REFERENCING NEW TABLE AS new_events
        FOR EACH STATEMENT EXECUTE FUNCTION case_event_collect_stats();
    """)

    _seed(op.get_bind())


def _collect(events: str, sign: str) -> str:
    """The statement adding the deltas of the events in ``events`` to the roll-up (``sign`` "+")."""
    return f"""
            INSERT INTO case_stat_day AS s (dim, day, key_id, {", ".join(COUNTERS)})
            SELECT CASE WHEN GROUPING(d.grid_id) = 0 THEN 'grid' WHEN GROUPING(d.department_id) = 0 THEN 'department'
                        ELSE 'person' END,
                   d.day, COALESCE(d.grid_id, d.department_id, d.person_id, 0),
                   {", ".join(f"{sign}COALESCE(sum(d.{c}), 0)" for c in COUNTERS)}
            FROM (
                SELECT n.id, n.case_id, n.at, n.action, n.actor_id, n.to_status, n.to_level, n.grid_id, n.department_id,
                       n.handler_id, n.due_at, n.postponed, n.disposal_wh,
                       lag(n.id) OVER w AS l_id, lag(n.to_status) OVER w AS l_status, lag(n.grid_id) OVER w AS l_grid,
                       lag(n.department_id) OVER w AS l_department, lag(n.handler_id) OVER w AS l_handler,
                       lag(n.due_at) OVER w AS l_due, lag(n.postponed) OVER w AS l_postponed
                FROM {events} n
                WINDOW w AS (PARTITION BY n.case_id ORDER BY n.at, n.id)
            ) x
            LEFT JOIN LATERAL (
                SELECT p.to_status, p.grid_id, p.department_id, p.handler_id, p.due_at, p.postponed
                FROM case_event p
                WHERE x.l_id IS NULL AND x.action <> 'report' AND p.case_id = x.case_id AND (p.at, p.id) < (x.at, x.id)
                ORDER BY p.at DESC, p.id DESC LIMIT 1
            ) prev ON true
            CROSS JOIN LATERAL case_event_deltas(
                x.at, x.action, x.actor_id, x.to_status, x.to_level, x.grid_id, x.department_id, x.handler_id, x.due_at,
                x.postponed, x.disposal_wh,
                CASE WHEN x.l_id IS NULL THEN prev.to_status ELSE x.l_status END,
                CASE WHEN x.l_id IS NULL THEN prev.grid_id ELSE x.l_grid END,
                CASE WHEN x.l_id IS NULL THEN prev.department_id ELSE x.l_department END,
                CASE WHEN x.l_id IS NULL THEN prev.handler_id ELSE x.l_handler END,
                CASE WHEN x.l_id IS NULL THEN prev.due_at ELSE x.l_due END,
                CASE WHEN x.l_id IS NULL THEN prev.postponed ELSE x.l_postponed END) d
            GROUP BY GROUPING SETS ((d.day, d.grid_id), (d.day, d.department_id), (d.day, d.person_id))
            HAVING {" OR ".join(f"COALESCE(sum(d.{c}), 0) <> 0" for c in COUNTERS)}
            ORDER BY 1, 2, 3
            ON CONFLICT (dim, day, key_id) DO UPDATE SET
                {", ".join(f"{c} = s.{c} + EXCLUDED.{c}" for c in COUNTERS)};"""


def _seed(conn) -> None:
    from sqlalchemy import text

    from db.reference import CATEGORIES

    try:
        from dispatch.calendar import chinese_calendar_days

        days = [{"d": d, "w": w, "k": k, "n": n} for d, w, k, n in chinese_calendar_days()]
    except ImportError:  # the package is pinned in requirements.txt; without it only weekdays count
        days = []
    if days:
        conn.execute(text("INSERT INTO calendar_day(day, is_working, kind, name, source) "
                          "VALUES (:d, :w, :k, :n, 'chinesecalendar')"), days)
    conn.execute(
        text("INSERT INTO time_limit_policy(category_code, level, value, unit, note) VALUES (:c, :l, :v, :u, :n)"),
        [{"c": c[0], "l": lvl, "v": c[9][0], "u": c[9][1], "n": "seeded from db/reference.py"}
         for c in CATEGORIES for lvl in LEVELS],
    )


def downgrade() -> None:
    op.execute("""
    DROP TRIGGER IF EXISTS case_event_collect_stats ON case_event;
    DROP FUNCTION IF EXISTS case_event_collect_stats();
    DROP TABLE IF EXISTS case_stat_day;
    DROP FUNCTION IF EXISTS case_event_deltas(timestamptz, text, integer, text, text, integer, integer, integer,
        timestamptz, boolean, real, text, integer, integer, integer, timestamptz, boolean);
    DROP FUNCTION IF EXISTS local_day(timestamptz);
    ALTER TABLE case_event DROP COLUMN IF EXISTS grid_id, DROP COLUMN IF EXISTS handler_id,
        DROP COLUMN IF EXISTS due_at, DROP COLUMN IF EXISTS postponed, DROP COLUMN IF EXISTS disposal_wh;
    DROP INDEX IF EXISTS cases_awaiting_sorting_idx, cases_supervised_open_idx, cases_closed_at_idx, cases_handler_idx;
    ALTER TABLE cases
        DROP CONSTRAINT IF EXISTS cases_merged_has_original,
        DROP CONSTRAINT IF EXISTS cases_department_while_dispatched,
        DROP CONSTRAINT IF EXISTS cases_closed_has_closed_at,
        DROP CONSTRAINT IF EXISTS cases_level_once_registered,
        DROP CONSTRAINT IF EXISTS cases_warn_before_due,
        DROP COLUMN IF EXISTS handler_id, DROP COLUMN IF EXISTS time_limit_value, DROP COLUMN IF EXISTS time_limit_unit,
        DROP COLUMN IF EXISTS deadline_from, DROP COLUMN IF EXISTS warn_at, DROP COLUMN IF EXISTS accepted_at,
        DROP COLUMN IF EXISTS verified_at, DROP COLUMN IF EXISTS rework_count, DROP COLUMN IF EXISTS rejected_at,
        DROP COLUMN IF EXISTS reject_reason, DROP COLUMN IF EXISTS merged_at, DROP COLUMN IF EXISTS postponed_at,
        DROP COLUMN IF EXISTS postpone_count, DROP COLUMN IF EXISTS postpone_reason,
        DROP COLUMN IF EXISTS postpone_requested_at, DROP COLUMN IF EXISTS postpone_requested_by,
        DROP COLUMN IF EXISTS postpone_requested_due_at, DROP COLUMN IF EXISTS postpone_request_reason,
        DROP COLUMN IF EXISTS supervised_at, DROP COLUMN IF EXISTS result_photo_ref, DROP COLUMN IF EXISTS disposal_wh,
        DROP COLUMN IF EXISTS evaluation_score, DROP COLUMN IF EXISTS evaluation_comment,
        DROP COLUMN IF EXISTS evaluated_at;
    DROP TABLE IF EXISTS time_limit_policy, calendar_day, working_period;
    """)
