"""Filtered indicator tables by grid and by person, and cheaper filtered periods (issue 12 §2).

- ``case_stat_group``: the deltas of ``case_event_cut_deltas`` (0010) summed per group of an
  indicator table — ``dim`` 'community', 'department', 'grid' or 'person' and its ``key_id``
  (0: none / outside every grid) — with the filters the charts page offers *except the category*
  as columns: the community of the delta's grid, the lead department, the level and the channel
  (same conventions as ``case_stat_cut``: 0 and '' for none). Two more dims carry the category
  too, for tables by grid or person under a category filter: 'grid_category', 'person_category'
  (``category_code`` is '' in the other dims). Per day and per month, like ``case_stat_cut``.

  Why: a table by grid or person under a filter read the event log (25–97 s at 1,000,000
  cases), and a table by community or department for a period that cuts months read
  ``case_stat_cut``'s day rows, whose category key makes them several times the rows these
  groups need. The primary key puts the category before the day, so a category filter reads its
  own rows only.
- ``case_stat_cut_category_idx``: tables by community or department under a category filter
  (still read from ``case_stat_cut``) read that category's rows only.

Kept by a statement trigger on ``case_event`` (the same deltas as 0010's, computed once more
for this table); ``stats.indicators.rebuild_stats`` recomputes it; the history player's bulk
path writes it from its own sums (``sample_data.rollup``).

Frozen: every constant is written here; no project code is imported.

Revision ID: 0019
Revises: 0016 (for now: the integrator re-chains branches when merging)
"""
from alembic import op

revision = "0019"
down_revision = "0016"
branch_labels = None
depends_on = None

COUNTERS = ("reported", "registered", "closed", "closed_np", "closed_on_time", "closed_lower", "closed_on_spot",
            "disposal_wh", "verified", "reworked", "open", "overdue", "overdue_np")
KEYS = ("dim", "category_code", "key_id", "community_id", "department_id", "level", "channel")
DIMS = ("community", "department", "grid", "person", "grid_category", "person_category")


def _deltas(events: str, *, look_back: bool) -> str:
    """Every delta of the events in ``events`` with the group keys (k_* columns), one row per
    dim. ``look_back``: the events are a new batch whose earlier events are in ``case_event``
    (the trigger); the state before a case's first event in the batch is read from there."""
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
            SELECT dd.day, date_trunc('month', dd.day)::date AS month, g.dim AS k_dim, g.cat AS k_cat, g.key AS k_key,
                   COALESCE(ug.community_id, 0) AS k_com, COALESCE(dd.department_id, 0) AS k_dep,
                   COALESCE(dd.level, '') AS k_lvl, COALESCE(x.channel, '') AS k_ch,
                   {", ".join(f"dd.{c}" for c in COUNTERS)}
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
            LEFT JOIN unit_grid ug ON ug.id = dd.grid_id
            CROSS JOIN LATERAL (VALUES
                ('community', '', COALESCE(ug.community_id, 0)),
                ('department', '', COALESCE(dd.department_id, 0)),
                ('grid', '', COALESCE(dd.grid_id, 0)),
                ('person', '', COALESCE(dd.person_id, 0)),
                ('grid_category', COALESCE(dd.category_code, ''), COALESCE(dd.grid_id, 0)),
                ('person_category', COALESCE(dd.category_code, ''), COALESCE(dd.person_id, 0))
            ) g(dim, cat, key)"""


def _collect(events: str, *, look_back: bool) -> str:
    """The statement adding the deltas of ``events`` to ``case_stat_group`` at both grains."""
    keys = "d.k_dim, d.k_cat, d.k_key, d.k_com, d.k_dep, d.k_lvl, d.k_ch"
    return f"""
        INSERT INTO case_stat_group AS s (grain, day, {", ".join(KEYS)}, {", ".join(COUNTERS)})
        SELECT CASE WHEN GROUPING(d.day) = 0 THEN 'day' ELSE 'month' END, COALESCE(d.day, d.month), {keys},
               {", ".join(f"COALESCE(sum(d.{c}), 0)" for c in COUNTERS)}
        FROM ({_deltas(events, look_back=look_back)}) d
        GROUP BY GROUPING SETS ((d.day, {keys}), (d.month, {keys}))
        HAVING {" OR ".join(f"COALESCE(sum(d.{c}), 0) <> 0" for c in COUNTERS)}
        ORDER BY 1, 3, 4, 2, 5, 6, 7, 8, 9
        ON CONFLICT (grain, dim, category_code, day, key_id, community_id, department_id, level, channel) DO UPDATE SET
            {", ".join(f"{c} = s.{c} + EXCLUDED.{c}" for c in COUNTERS)}"""


def upgrade() -> None:
    dims = ", ".join(f"'{d}'" for d in DIMS)
    op.execute(f"""
    CREATE TABLE case_stat_group (
        grain text NOT NULL CHECK (grain IN ('day', 'month')),
        dim text NOT NULL CHECK (dim IN ({dims})),
        category_code text NOT NULL,
        day date NOT NULL,
        key_id integer NOT NULL,
        community_id integer NOT NULL,
        department_id integer NOT NULL,
        level text NOT NULL,
        channel text NOT NULL,
        {", ".join(f"{c} double precision NOT NULL DEFAULT 0" if c == "disposal_wh" else f"{c} integer NOT NULL DEFAULT 0" for c in COUNTERS)},
        PRIMARY KEY (grain, dim, category_code, day, key_id, community_id, department_id, level, channel),
        CHECK (grain = 'day' OR extract(day FROM day) = 1),
        CHECK (category_code = '' OR dim IN ('grid_category', 'person_category'))
    );
    COMMENT ON TABLE case_stat_group IS 'indicator deltas per community, department, grid or person (and per grid or person and category), with community, department, level and channel, per day and per month';

    CREATE FUNCTION case_event_collect_groups() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_collect("new_events", look_back=True)};
        RETURN NULL;
    END $$;
    -- JIT compiles these statements for a batch of events whose cost it overestimates, for more
    -- CPU than it saves (measured: 2 s more backend CPU for 4,011 played cases); so for the
    -- older roll-up triggers too (0002, 0010).
    ALTER FUNCTION case_event_collect_groups() SET jit = off;
    ALTER FUNCTION case_event_collect_cuts() SET jit = off;
    ALTER FUNCTION case_event_collect_stats() SET jit = off;
    CREATE TRIGGER case_event_collect_groups AFTER INSERT ON case_event
        REFERENCING NEW TABLE AS new_events
        FOR EACH STATEMENT EXECUTE FUNCTION case_event_collect_groups();

    CREATE INDEX case_stat_cut_category_idx ON case_stat_cut (grain, category_code, day);
    """)
    # the backfill sorts every delta six times over (one per dim): at 1,000,000 cases tens of
    # millions of rows, spilled to disk with the default work_mem
    op.execute("SET LOCAL work_mem = '256MB'")
    op.execute(_collect("case_event", look_back=False))


def downgrade() -> None:
    op.execute("""
    ALTER FUNCTION case_event_collect_cuts() RESET jit;
    ALTER FUNCTION case_event_collect_stats() RESET jit;
    DROP INDEX IF EXISTS case_stat_cut_category_idx;
    DROP TRIGGER IF EXISTS case_event_collect_groups ON case_event;
    DROP FUNCTION IF EXISTS case_event_collect_groups();
    DROP TABLE IF EXISTS case_stat_group;
    """)
