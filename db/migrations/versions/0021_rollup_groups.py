"""Filtered indicator tables by grid and by person (issue 12 §2): a roll-up by group.

- ``case_stat_group``: the deltas of ``case_event_cut_deltas`` (0010) summed per grid
  (``dim`` 'grid') and per person (``dim`` 'person') — ``key_id`` the group's id, 0 none /
  outside every grid, -1 awaiting location (待定位, as 0020 keys it) — with every filter the
  charts page offers as columns: the category, the community of the delta's grid (-1 awaiting
  location, 0 outside every grid), the lead department, the level and the channel (0 and '' for
  none, as in ``case_stat_cut``). Per day and per month, like ``case_stat_cut``.

  Two dims only: tables by subdistrict, community or department read ``case_stat_cut``, which
  holds exactly their keys; a grid or person row carries its category (no second dim without it:
  a table without a category filter sums the categories of the rows it reads). The primary key
  leads with (grain, dim, day), so a period reads one range of its dim.

  Why: a table by grid or person under a filter read the event log (25–97 s at 1,000,000
  cases).
- ``case_stat_cut_category_idx``: tables by community or department under a category filter
  read that category's rows only.

Kept by the trigger that keeps ``case_stat_cut`` (``case_event_collect_cuts``, 0010, as 0020
left it): its deltas, computed once per inserted batch, are summed into both tables.
``stats.indicators.rebuild_stats`` recomputes it; the history player's bulk path writes it from
its own sums (``sample_data.rollup``).

Frozen: every constant is written here; no project code is imported.

Revision ID: 0021
Revises: 0020 (for now: the integrator re-chains branches when merging)
"""
from alembic import op

revision = "0021"
down_revision = "0020"
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


def _collect_cuts(groups: bool) -> str:
    """``case_event_collect_cuts``: 0020's (``groups`` False), or the same deltas, computed once,
    into ``case_stat_cut`` and ``case_stat_group``."""
    if groups:
        body = (f"WITH d AS MATERIALIZED ({_deltas('new_events', look_back=True)}),\n"
                f"        cut AS ({_add_cut('d')})\n{_add_group('d')};")
    else:
        body = f"{_add_cut('(' + _deltas('new_events', look_back=True) + ')')};"
    return f"""
    CREATE OR REPLACE FUNCTION case_event_collect_cuts() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {body}
        RETURN NULL;
    END $$;"""


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE case_stat_group (
        grain text NOT NULL CHECK (grain IN ('day', 'month')),
        dim text NOT NULL CHECK (dim IN ('grid', 'person')),
        day date NOT NULL,
        category_code text NOT NULL,
        key_id integer NOT NULL,
        community_id integer NOT NULL,
        department_id integer NOT NULL,
        level text NOT NULL,
        channel text NOT NULL,
        {", ".join(f"{c} double precision NOT NULL DEFAULT 0" if c == "disposal_wh" else f"{c} integer NOT NULL DEFAULT 0" for c in COUNTERS)},
        PRIMARY KEY (grain, dim, day, category_code, key_id, community_id, department_id, level, channel),
        CHECK (grain = 'day' OR extract(day FROM day) = 1)
    );
    COMMENT ON TABLE case_stat_group IS 'indicator deltas per grid or person with category, community, department, level and channel, per day and per month';
    {_collect_cuts(groups=True)}
    -- JIT compiles these statements for a batch of events whose cost it overestimates, for more
    -- CPU than it saves (measured: 2 s more backend CPU for 4,011 played cases)
    ALTER FUNCTION case_event_collect_cuts() SET jit = off;
    ALTER FUNCTION case_event_collect_stats() SET jit = off;
    CREATE INDEX case_stat_cut_category_idx ON case_stat_cut (grain, category_code, day);
    """)
    # the backfill: the day rows from the log in one pass (a hash aggregate; work_mem raised so
    # it stays in memory at 1,000,000 cases), then the month rows from the day rows
    op.execute("SET LOCAL work_mem = '512MB'")
    keys = "g.dim, d.k_cat, g.key, d.k_com, d.k_dep, d.k_lvl, d.k_ch"
    op.execute(f"""
        INSERT INTO case_stat_group (grain, day, {", ".join(GROUP_KEYS)}, {", ".join(COUNTERS)})
        SELECT 'day', d.day, {keys}, {_SUMS}
        FROM ({_deltas('case_event', look_back=False)}) d {_DIMS}
        GROUP BY d.day, {keys}
        HAVING {_NONZERO}""")
    op.execute(f"""
        INSERT INTO case_stat_group (grain, day, {", ".join(GROUP_KEYS)}, {", ".join(COUNTERS)})
        SELECT 'month', date_trunc('month', d.day)::date, {", ".join(f"d.{k}" for k in GROUP_KEYS)}, {_SUMS}
        FROM case_stat_group d WHERE d.grain = 'day'
        GROUP BY 2, {", ".join(f"d.{k}" for k in GROUP_KEYS)}
        HAVING {_NONZERO}""")


def downgrade() -> None:
    op.execute(f"""
    {_collect_cuts(groups=False)}
    ALTER FUNCTION case_event_collect_cuts() RESET jit;
    ALTER FUNCTION case_event_collect_stats() RESET jit;
    DROP INDEX IF EXISTS case_stat_cut_category_idx;
    DROP TABLE IF EXISTS case_stat_group;
    """)
