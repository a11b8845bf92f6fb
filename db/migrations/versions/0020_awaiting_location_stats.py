"""An unlocated report is not outside the jurisdiction: the roll-ups count it in a row of its own.

A report that came with an address only (待定位, migration 0011) has no grid, and so did a case
outside every grid (辖区外): both were summed under the roll-ups' key 0 and shown in the
indicators' 辖区外 row. Nobody knows where an unlocated case is, so it is not outside:

- ``case_event.awaiting_location``: the case had no position after the event (its 'report', and
  a 'reject' or 'merge' before it was ever placed; never its 'locate', which places it). Written
  by the lifecycle's writers; events of cases reported before this migration are marked from the
  log (the 'report' event's ``data.awaiting_location``, up to the case's 'locate' event).
- the two roll-up triggers (``case_event_collect_stats``, 0002; ``case_event_collect_cuts``,
  0010) attribute such an event's deltas to the grid key -1 instead of its NULL grid:
  ``case_stat_day`` (dim 'grid') key -1 and ``case_stat_cut`` community -1 are "awaiting
  location"; key 0 stays "outside every grid". When the case is located, its open state moves
  from -1 to its grid (or to 0, if the point is outside every grid) exactly as a change of grid
  moves it; the flows it had before (its report) stay where they happened, as for every event.
  ``stats.indicators`` computes the same from the log (``rebuild_stats``, ``exact=True``).
- the rows the roll-ups already hold for such cases are moved: their deltas as 0002/0010
  attributed them are taken out, and added again as now.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0020
Revises: 0018
"""
from alembic import op

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None

COUNTERS = ("reported", "registered", "closed", "closed_np", "closed_on_time", "closed_lower", "closed_on_spot",
            "disposal_wh", "verified", "reworked", "open", "overdue", "overdue_np")
KEYS = ("community_id", "department_id", "category_code", "level", "channel")
AWAITING = -1  # the grid (and community) key of an event whose case has no position


def _grid(alias: str, split: bool) -> str:
    """The grid key of event ``alias``: -1 while its case awaits location (``split``), else its grid."""
    if not split:
        return f"{alias}.grid_id"
    return f"CASE WHEN {alias}.awaiting_location THEN {AWAITING} ELSE {alias}.grid_id END"


def _collect_day(events: str, *, sign: str, split: bool) -> str:
    """0002's statement adding the deltas of ``events`` to ``case_stat_day`` (``sign`` '+' or '-'),
    with the grid key of ``_grid``."""
    return f"""
            INSERT INTO case_stat_day AS s (dim, day, key_id, {", ".join(COUNTERS)})
            SELECT CASE WHEN GROUPING(d.grid_id) = 0 THEN 'grid' WHEN GROUPING(d.department_id) = 0 THEN 'department'
                        ELSE 'person' END,
                   d.day, COALESCE(d.grid_id, d.department_id, d.person_id, 0),
                   {", ".join(f"{sign}COALESCE(sum(d.{c}), 0)" for c in COUNTERS)}
            FROM (
                SELECT n.id, n.case_id, n.at, n.action, n.actor_id, n.to_status, n.to_level, {_grid('n', split)} AS grid_id,
                       n.department_id, n.handler_id, n.due_at, n.postponed, n.disposal_wh,
                       lag(n.id) OVER w AS l_id, lag(n.to_status) OVER w AS l_status,
                       lag({_grid('n', split)}) OVER w AS l_grid,
                       lag(n.department_id) OVER w AS l_department, lag(n.handler_id) OVER w AS l_handler,
                       lag(n.due_at) OVER w AS l_due, lag(n.postponed) OVER w AS l_postponed
                FROM {events} n
                WINDOW w AS (PARTITION BY n.case_id ORDER BY n.at, n.id)
            ) x
            LEFT JOIN LATERAL (
                SELECT p.to_status, {_grid('p', split)} AS grid_id, p.department_id, p.handler_id, p.due_at, p.postponed
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


def _collect_cut(events: str, *, sign: str, split: bool) -> str:
    """0010's statement adding the deltas of ``events`` to ``case_stat_cut`` at both grains
    (``sign`` '+' or '-'), the community key -1 for the grid key -1 of ``_grid``."""
    def q(col: str, lag: str) -> str:
        return f"CASE WHEN x.l_id IS NULL THEN prev.{col} ELSE x.{lag} END"

    community = (f"CASE WHEN dd.grid_id = {AWAITING} THEN {AWAITING} ELSE COALESCE(ug.community_id, 0) END"
                 if split else "COALESCE(ug.community_id, 0)")
    deltas = f"""
            SELECT dd.day, date_trunc('month', dd.day)::date AS month, {community} AS k_com,
                   COALESCE(dd.department_id, 0) AS k_dep,
                   COALESCE(dd.category_code, '') AS k_cat, COALESCE(dd.level, '') AS k_lvl,
                   COALESCE(x.channel, '') AS k_ch, {", ".join(f"dd.{c}" for c in COUNTERS)}
            FROM (
                SELECT n.id, n.case_id, n.at, n.action, n.actor_id, n.to_status, n.to_level, {_grid('n', split)} AS grid_id,
                       n.department_id, n.handler_id, n.due_at, n.postponed, n.disposal_wh, n.category_code, n.channel,
                       lag(n.id) OVER w AS l_id, lag(n.to_status) OVER w AS l_status,
                       lag({_grid('n', split)}) OVER w AS l_grid,
                       lag(n.department_id) OVER w AS l_department, lag(n.handler_id) OVER w AS l_handler,
                       lag(n.due_at) OVER w AS l_due, lag(n.postponed) OVER w AS l_postponed,
                       lag(n.to_level) OVER w AS l_level, lag(n.category_code) OVER w AS l_category
                FROM {events} n
                WINDOW w AS (PARTITION BY n.case_id ORDER BY n.at, n.id)
            ) x
            LEFT JOIN LATERAL (
                SELECT p.to_status, p.to_level, {_grid('p', split)} AS grid_id, p.department_id, p.handler_id, p.due_at,
                       p.postponed, p.category_code
                FROM case_event p
                WHERE x.l_id IS NULL AND x.action <> 'report' AND p.case_id = x.case_id AND (p.at, p.id) < (x.at, x.id)
                ORDER BY p.at DESC, p.id DESC LIMIT 1
            ) prev ON true
            CROSS JOIN LATERAL case_event_cut_deltas(
                x.at, x.action, x.actor_id, x.to_status, x.to_level, x.grid_id, x.department_id, x.handler_id, x.due_at,
                x.postponed, x.disposal_wh, x.category_code, {q('to_status', 'l_status')}, {q('to_level', 'l_level')},
                {q('grid_id', 'l_grid')}, {q('department_id', 'l_department')}, {q('handler_id', 'l_handler')},
                {q('due_at', 'l_due')}, {q('postponed', 'l_postponed')}, {q('category_code', 'l_category')}) dd
            LEFT JOIN unit_grid ug ON ug.id = dd.grid_id"""
    keys = "d.k_com, d.k_dep, d.k_cat, d.k_lvl, d.k_ch"
    return f"""
        INSERT INTO case_stat_cut AS s (grain, day, {", ".join(KEYS)}, {", ".join(COUNTERS)})
        SELECT CASE WHEN GROUPING(d.day) = 0 THEN 'day' ELSE 'month' END, COALESCE(d.day, d.month), {keys},
               {", ".join(f"{sign}COALESCE(sum(d.{c}), 0)" for c in COUNTERS)}
        FROM ({deltas}) d
        GROUP BY GROUPING SETS ((d.day, {keys}), (d.month, {keys}))
        HAVING {" OR ".join(f"COALESCE(sum(d.{c}), 0) <> 0" for c in COUNTERS)}
        ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (grain, day, {", ".join(KEYS)}) DO UPDATE SET
            {", ".join(f"{c} = s.{c} + EXCLUDED.{c}" for c in COUNTERS)};"""


def _triggers(split: bool) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION case_event_collect_stats() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_collect_day("new_events", sign="+", split=split)}
        RETURN NULL;
    END $$;
    CREATE OR REPLACE FUNCTION case_event_collect_cuts() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_collect_cut("new_events", sign="+", split=split)}
        RETURN NULL;
    END $$;"""


# every event of the cases that ever awaited location: their whole histories, so each case's
# first event is its report and no earlier state is looked up
_AFFECTED = ("(SELECT * FROM case_event WHERE case_id IN "
             "(SELECT case_id FROM case_event WHERE action = 'report' AND data ? 'awaiting_location'))")


def _move(split_from: bool) -> str:
    """Take the affected cases' deltas out as ``split_from`` attributes them and add them as the other."""
    return "\n".join((_collect_day(_AFFECTED, sign="-", split=split_from), _collect_cut(_AFFECTED, sign="-", split=split_from),
                      _collect_day(_AFFECTED, sign="+", split=not split_from),
                      _collect_cut(_AFFECTED, sign="+", split=not split_from)))


def upgrade() -> None:
    op.execute(f"""
    ALTER TABLE case_event ADD COLUMN awaiting_location boolean NOT NULL DEFAULT false;
    COMMENT ON COLUMN case_event.awaiting_location IS
        'the case had no position after the event (待定位): the roll-ups count it under grid/community {AWAITING}';

    -- The backfill is the only update the event log gets here: the append-only rule is lifted
    -- for it alone, inside this migration's transaction.
    ALTER TABLE case_event DISABLE TRIGGER case_event_append_only;
    UPDATE case_event e SET awaiting_location = true
    FROM case_event r
    WHERE r.case_id = e.case_id AND r.action = 'report' AND r.data ? 'awaiting_location'
      AND e.action <> 'locate' AND e.grid_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM case_event l WHERE l.case_id = e.case_id AND l.action = 'locate'
                      AND (l.at, l.id) < (e.at, e.id));
    ALTER TABLE case_event ENABLE TRIGGER case_event_append_only;
    {_triggers(split=True)}
    """)
    op.execute(_move(split_from=False))


def downgrade() -> None:
    op.execute(_move(split_from=True))
    op.execute(f"""
    {_triggers(split=False)}
    ALTER TABLE case_event DROP COLUMN IF EXISTS awaiting_location;
    """)
