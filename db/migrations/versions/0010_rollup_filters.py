"""Filtered indicators from a roll-up: the case's category and channel stamped on every event, and
the event deltas summed by community, lead department, category, level and channel, per day and
per month (``case_stat_cut``).

- ``case_event.category_code`` / ``case_event.channel``: the case's category and channel after
  the event (a snapshot, like the grid and the lead department of 0002), filled by a BEFORE
  INSERT trigger from the case row when the writer gives none. Events written before this
  migration get the case's category as it is now (nothing older was recorded).
- ``case_event_cut_deltas``: the deltas of ``case_event_deltas`` (0002) with the level and the
  category among the state an event may change, each row carrying them.
- ``case_stat_cut``: those deltas summed like ``case_stat_day``'s, keyed by
  the community of the event's grid (0: outside every grid), the lead department (0: none), the
  category, the level and the channel ('' : none) as they stood for that delta (the state before
  the event for the rows that take a case out of its old state), at two grains: 'day' and
  'month' (the month's first day). A period of whole months reads the month rows only, which is
  what keeps a filtered indicator table near the cost of a bare count(*) at a million cases;
  other periods read the day rows of the months they cut. Kept by a statement trigger on
  ``case_event``; ``stats.indicators.rebuild_stats`` recomputes it with ``case_stat_day``.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0010
Revises: 0009
``migrate``; the chain is re-linked when branches are merged)
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COUNTERS = ("reported", "registered", "closed", "closed_np", "closed_on_time", "closed_lower", "closed_on_spot",
            "disposal_wh", "verified", "reworked", "open", "overdue", "overdue_np")
KEYS = ("community_id", "department_id", "category_code", "level", "channel")


TERMINAL = "('closed', 'rejected', 'merged')"


def _cut_deltas_function() -> str:
    """``case_event_cut_deltas``: ``case_event_deltas`` of 0002, row for row, with the case's
    level and category among the state it compares (a re-classification or an escalation moves
    the open case from one key of the cut to another, as a change of grid or department does)
    and returned with each row: the state after the event for flows and for the case entering
    its new state, the state before it for the case leaving its old one."""
    open0 = f"q_status IS NOT NULL AND q_status NOT IN {TERMINAL}"
    open1 = f"p_status NOT IN {TERMINAL}"
    before = "q_grid, q_department, q_handler, q_due, COALESCE(q_postponed, false), q_level, q_category"
    after = "p_grid, p_department, p_handler, p_due, COALESCE(p_postponed, false), p_level, p_category"
    changed = f"({open0}, {before}) IS DISTINCT FROM ({open1}, {after})"
    closing = "p_action IN ('close', 'verify_pass', 'self_handle')"
    zero = ", ".join(["0"] * 7) + ", NULL::double precision, 0, 0"
    return f"""
    CREATE FUNCTION case_event_cut_deltas(
        p_at timestamptz, p_action text, p_actor integer, p_status text, p_level text,
        p_grid integer, p_department integer, p_handler integer, p_due timestamptz,
        p_postponed boolean, p_disposal_wh real, p_category text,
        q_status text, q_level text, q_grid integer, q_department integer, q_handler integer, q_due timestamptz,
        q_postponed boolean, q_category text)
    RETURNS TABLE (day date, grid_id integer, department_id integer, person_id integer, level text, category_code text,
        reported integer, registered integer, closed integer, closed_np integer, closed_on_time integer,
        closed_lower integer, closed_on_spot integer, disposal_wh double precision,
        verified integer, reworked integer, open integer, overdue integer, overdue_np integer)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT local_day(p_at), p_grid, p_department, COALESCE(p_handler, p_actor), p_level, p_category,
               (p_action = 'report')::int, (p_action IN ('register', 'self_handle'))::int, ({closing})::int,
               ({closing} AND NOT COALESCE(q_postponed, false))::int,
               ({closing} AND NOT COALESCE(q_postponed, false) AND (q_due IS NULL OR p_at <= q_due))::int,
               ({closing} AND p_level IS DISTINCT FROM 'district')::int, (p_action = 'self_handle')::int,
               CASE WHEN {closing} THEN p_disposal_wh::double precision END,
               (p_action IN ('verify_pass', 'verify_fail'))::int, (p_action = 'verify_fail')::int, 0, 0, 0
        WHERE p_action IN ('report', 'register', 'self_handle', 'close', 'verify_pass', 'verify_fail')
        UNION ALL
        SELECT local_day(p_at), p_grid, p_department, p_handler, p_level, p_category, {zero}, 1, 0, 0
        WHERE {open1} AND {changed}
        UNION ALL
        SELECT local_day(p_at), q_grid, q_department, q_handler, q_level, q_category, {zero}, -1, 0, 0
        WHERE {open0} AND {changed}
        UNION ALL
        SELECT local_day(greatest(q_due, p_at)), q_grid, q_department, q_handler, q_level, q_category, {zero}, 0, -1,
               -(NOT COALESCE(q_postponed, false))::int
        WHERE q_due IS NOT NULL AND {open0} AND {changed}
        UNION ALL
        SELECT local_day(p_due), p_grid, p_department, p_handler, p_level, p_category, {zero}, 0, 1,
               (NOT COALESCE(p_postponed, false))::int
        WHERE p_due IS NOT NULL AND {open1} AND {changed}
    $$;"""


def _deltas(events: str, *, look_back: bool) -> str:
    """Every delta of the events in ``events`` with the keys of the cut (k_* columns).

    ``look_back``: the events are a new batch whose earlier events are in ``case_event`` (the
    trigger); the state before a case's first event in the batch is read from there."""
    prev_join = """
            LEFT JOIN LATERAL (
                SELECT p.to_status, p.to_level, p.grid_id, p.department_id, p.handler_id, p.due_at, p.postponed,
                       p.category_code
                FROM case_event p
                WHERE x.l_id IS NULL AND x.action <> 'report' AND p.case_id = x.case_id AND (p.at, p.id) < (x.at, x.id)
                ORDER BY p.at DESC, p.id DESC LIMIT 1
            ) prev ON true""" if look_back else ""

    def q(col: str, lag: str) -> str:
        return f"CASE WHEN x.l_id IS NULL THEN prev.{col} ELSE x.{lag} END" if look_back else f"x.{lag}"

    return f"""
            SELECT dd.day, date_trunc('month', dd.day)::date AS month, COALESCE(ug.community_id, 0) AS k_com,
                   COALESCE(dd.department_id, 0) AS k_dep,
                   COALESCE(dd.category_code, '') AS k_cat, COALESCE(dd.level, '') AS k_lvl,
                   COALESCE(x.channel, '') AS k_ch, {", ".join(f"dd.{c}" for c in COUNTERS)}
            FROM (
                SELECT n.id, n.case_id, n.at, n.action, n.actor_id, n.to_status, n.to_level, n.grid_id, n.department_id,
                       n.handler_id, n.due_at, n.postponed, n.disposal_wh, n.category_code, n.channel,
                       lag(n.id) OVER w AS l_id, lag(n.to_status) OVER w AS l_status, lag(n.grid_id) OVER w AS l_grid,
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


def _collect(events: str, *, look_back: bool) -> str:
    """The statement adding the deltas of ``events`` to ``case_stat_cut`` at both grains."""
    keys = "d.k_com, d.k_dep, d.k_cat, d.k_lvl, d.k_ch"
    return f"""
        INSERT INTO case_stat_cut AS s (grain, day, {", ".join(KEYS)}, {", ".join(COUNTERS)})
        SELECT CASE WHEN GROUPING(d.day) = 0 THEN 'day' ELSE 'month' END, COALESCE(d.day, d.month), {keys},
               {", ".join(f"COALESCE(sum(d.{c}), 0)" for c in COUNTERS)}
        FROM ({_deltas(events, look_back=look_back)}) d
        GROUP BY GROUPING SETS ((d.day, {keys}), (d.month, {keys}))
        HAVING {" OR ".join(f"COALESCE(sum(d.{c}), 0) <> 0" for c in COUNTERS)}
        ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (grain, day, {", ".join(KEYS)}) DO UPDATE SET
            {", ".join(f"{c} = s.{c} + EXCLUDED.{c}" for c in COUNTERS)}"""


def upgrade() -> None:
    op.execute(f"""
    ALTER TABLE case_event ADD COLUMN category_code text, ADD COLUMN channel text;
    COMMENT ON COLUMN case_event.category_code IS 'the case''s category after the event';
    COMMENT ON COLUMN case_event.channel IS 'the case''s channel';

    -- The backfill is the only update the event log ever gets: the append-only rule is lifted
    -- for it alone, inside this migration's transaction.
    ALTER TABLE case_event DISABLE TRIGGER case_event_append_only;
    UPDATE case_event e SET category_code = c.category_code, channel = c.channel FROM cases c WHERE c.id = e.case_id;
    ALTER TABLE case_event ENABLE TRIGGER case_event_append_only;

    CREATE FUNCTION case_event_stamp_case() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.category_code IS NULL OR NEW.channel IS NULL THEN
            SELECT COALESCE(NEW.category_code, c.category_code), COALESCE(NEW.channel, c.channel)
              INTO NEW.category_code, NEW.channel FROM cases c WHERE c.id = NEW.case_id;
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER case_event_stamp_case BEFORE INSERT ON case_event
        FOR EACH ROW EXECUTE FUNCTION case_event_stamp_case();

    CREATE TABLE case_stat_cut (
        grain text NOT NULL CHECK (grain IN ('day', 'month')),
        day date NOT NULL,
        community_id integer NOT NULL,
        department_id integer NOT NULL,
        category_code text NOT NULL,
        level text NOT NULL,
        channel text NOT NULL,
        {", ".join(f"{c} double precision NOT NULL DEFAULT 0" if c == "disposal_wh" else f"{c} integer NOT NULL DEFAULT 0" for c in COUNTERS)},
        PRIMARY KEY (grain, day, {", ".join(KEYS)}),
        CHECK (grain = 'day' OR extract(day FROM day) = 1)
    );
    COMMENT ON TABLE case_stat_cut IS 'indicator deltas by community, lead department, category, level and channel, per day and per month';

    {_cut_deltas_function()}

    CREATE FUNCTION case_event_collect_cuts() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_collect("new_events", look_back=True)};
        RETURN NULL;
    END $$;
    CREATE TRIGGER case_event_collect_cuts AFTER INSERT ON case_event
        REFERENCING NEW TABLE AS new_events
        FOR EACH STATEMENT EXECUTE FUNCTION case_event_collect_cuts();
    """)
    op.execute(_collect("case_event", look_back=False))


def downgrade() -> None:
    op.execute("""
    DROP TRIGGER IF EXISTS case_event_collect_cuts ON case_event;
    DROP FUNCTION IF EXISTS case_event_collect_cuts();
    DROP TABLE IF EXISTS case_stat_cut;
    DROP FUNCTION IF EXISTS case_event_cut_deltas(timestamptz, text, integer, text, text, integer, integer, integer,
        timestamptz, boolean, real, text, text, text, integer, integer, integer, timestamptz, boolean, text);
    DROP TRIGGER IF EXISTS case_event_stamp_case ON case_event;
    DROP FUNCTION IF EXISTS case_event_stamp_case();
    ALTER TABLE case_event DROP COLUMN IF EXISTS category_code, DROP COLUMN IF EXISTS channel;
    """)
