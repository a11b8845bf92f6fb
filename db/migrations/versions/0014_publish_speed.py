"""Publish speed: the re-assignment of open cases skips the cases still inside their grid, writes
its events without a per-row trigger call, and runs without JIT; scheduled boundary changes
applied by pg_cron where the server has it.

What ``reassign_open_cases`` stores is unchanged (the moved cases, their ``regrid`` events, the
roll-ups the events feed, the versions); how it finds them:

- Every open case (the form without ``p_grid_ids``: ``bench publish``'s ``rejoin``, a whole
  re-assignment) is first checked against its *own* grid's live polygon, joined by the grid's id
  (a hash join, no spatial index probe): a point strictly inside that polygon
  (``ST_Contains``: not on its boundary) whose community and subdistrict are its grid's stays
  where it is. That is exactly the point rule's answer whenever no other live grid shares
  interior with its grid (then no other polygon can hold a point strictly inside it); grids
  that do overlap one with a lower code (rare: publish refuses overlaps above 0.01 m²) are found
  in the same statement and their cases take the full rule. Only the rest (cases outside or on the edge of
  their grid, in a retired grid, with no grid, in an overlapping grid) take the point rule
  itself, points as the outer loop (lowest code on shared edges, as ``grid_at_point``).
- The events carry the case's category and channel from the moved row, so the
  ``case_event_stamp_case`` trigger (0010), which only fills them when the writer gives none,
  is no longer called for them: it now has ``WHEN (NEW.category_code IS NULL OR NEW.channel IS
  NULL)``, evaluated by the executor without entering PL/pgSQL (every other writer that omits
  them gets them exactly as before).
- ``SET jit = off`` on the re-assignment and the apply functions: compiling the statement cost
  0.4 s of an 8 s run under load and never paid back for 50,000 rows.

pg_cron: where the extension is installed and preloaded (``shared_preload_libraries``), a job
named ``gridgov-apply-due:<database>`` runs ``SELECT apply_due_boundary_changes()`` in this
database every minute. pg_cron lives in one database of the server (``cron.database_name``):
in this database the extension is created and the job scheduled with ``cron.schedule``; from
another database (the local cluster keeps pg_cron in ``postgres`` so that the app's, the
tests' and the benchmarks' databases all get their job) the job is scheduled there with
``cron.schedule_in_database``, on a second connection as the same role. Without pg_cron, or
without the right to schedule, the migration says so (a NOTICE / a warning) and goes on: the
app's timer (db/schedule.py) stays the fallback, and ``apply_due_boundary_changes`` applies a
change once however many callers run it at the same time (``FOR UPDATE SKIP LOCKED`` and the
status check under the row lock).

Frozen: every constant is written here; no project code is imported.

Revision ID: 0014
Revises: 0010
"""
import warnings

from alembic import op
from sqlalchemy import create_engine, text

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None

OPEN = "NOT IN ('closed', 'rejected', 'merged')"
JOB_PREFIX = "gridgov-apply-due:"
JOB_COMMAND = "SELECT apply_due_boundary_changes()"
JOB_SCHEDULE = "* * * * *"

# the moved cases, their state after the move, into the event log (one statement)
_EVENTS = """
            INSERT INTO case_event(case_id, at, actor_id, actor_role, action, from_status, to_status, from_level,
                                   to_level, department_id, grid_id, handler_id, due_at, postponed, data,
                                   category_code, channel)
            SELECT mv.id, p_at, p_actor, COALESCE((SELECT role FROM person WHERE id = p_actor), 'system'), 'regrid',
                   mv.status, mv.status, mv.level, mv.level, mv.department_id, mv.grid_id, mv.handler_id, mv.due_at,
                   mv.postponed_at IS NOT NULL,
                   jsonb_build_object('from_grid_code', mv.old_grid_code, 'to_grid_code', mv.grid_code,
                                      'from_community_id', mv.old_community_id, 'to_community_id', mv.community_id,
                                      'change_id', p_change),
                   mv.category_code, mv.channel
            FROM moved mv;"""

_UPDATE = """
            ), diff AS (
                SELECT * FROM m WHERE (m.old_grid_id, m.old_community_id, m.old_subdistrict_id)
                                      IS DISTINCT FROM (m.grid_id, m.community_id, m.subdistrict_id)
            ), moved AS (
                -- "= ANY(ARRAY(…))": the moved cases by their primary key, not a scan of every case
                UPDATE cases c SET grid_id = m.grid_id, grid_code = m.grid_code, community_id = m.community_id,
                       subdistrict_id = m.subdistrict_id, version = c.version + 1, updated_at = p_at
                FROM diff m
                WHERE c.id = m.case_id AND c.id = ANY(ARRAY(SELECT case_id FROM diff))
                RETURNING c.id, c.status, c.level, c.department_id, c.handler_id, c.due_at, c.postponed_at,
                          c.grid_id, c.grid_code, m.old_grid_code, m.old_community_id, c.community_id,
                          c.category_code, c.channel
            )"""

# Every open case. "live": the current polygon of each grid with its parents; "overlapping": the
# grids sharing interior with another live grid (their points may have a lower-coded second
# grid); "rest": the cases the point rule must place.
_MOVE_ALL = f"""
            WITH live AS MATERIALIZED (
                SELECT gv.grid_id, gv.geom, g.code AS grid_code, g.community_id, c.subdistrict_id
                FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id JOIN community c ON c.id = g.community_id
                WHERE gv.valid_to IS NULL
            ), overlapping AS MATERIALIZED (
                -- only a grid with a lower code can take a point strictly inside another one
                -- (OFFSET 0: the codes compared before the costly ST_Relate)
                SELECT a.grid_id FROM live a
                CROSS JOIN LATERAL (SELECT b.geom FROM grid_version b JOIN unit_grid bg ON bg.id = b.grid_id
                                    WHERE b.geom && a.geom AND b.valid_to IS NULL AND bg.code < a.grid_code
                                    OFFSET 0) b
                WHERE ST_Relate(a.geom, b.geom, '2********')
            ), rest AS MATERIALIZED (
                SELECT p.id, p.geom, p.grid_id, p.grid_code, p.community_id, p.subdistrict_id
                FROM cases p LEFT JOIN live l ON l.grid_id = p.grid_id
                WHERE p.status {OPEN} AND NOT p.outside_jurisdiction
                  AND NOT (l.grid_id IS NOT NULL AND ST_Contains(l.geom, p.geom)
                           AND (p.community_id, p.subdistrict_id) IS NOT DISTINCT FROM (l.community_id, l.subdistrict_id)
                           AND l.grid_id NOT IN (SELECT grid_id FROM overlapping))
            ), m AS (
                SELECT r.id AS case_id, x.grid_id, x.grid_code, x.community_id, x.subdistrict_id,
                       r.grid_id AS old_grid_id, r.grid_code AS old_grid_code, r.community_id AS old_community_id,
                       r.subdistrict_id AS old_subdistrict_id
                FROM rest r
                CROSS JOIN LATERAL (SELECT g.id AS grid_id, g.code AS grid_code, g.community_id, c.subdistrict_id
                                    FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
                                    JOIN community c ON c.id = g.community_id
                                    WHERE gv.valid_to IS NULL AND ST_Intersects(gv.geom, r.geom)
                                    ORDER BY g.code LIMIT 1) x
            {_UPDATE}
            {_EVENTS}"""

# Only the points inside the given grids (0007's second form, unchanged but for the events).
_MOVE_GRIDS = f"""
            WITH changed AS (SELECT gv.geom FROM grid_version gv WHERE gv.valid_to IS NULL AND gv.grid_id = ANY(p_grid_ids)),
            m AS (
                SELECT DISTINCT ON (p.id) p.id AS case_id, gg.grid_id, gg.grid_code, gg.community_id,
                       gg.subdistrict_id, p.grid_id AS old_grid_id, p.grid_code AS old_grid_code,
                       p.community_id AS old_community_id, p.subdistrict_id AS old_subdistrict_id
                FROM (SELECT gv.geom, g.id AS grid_id, g.code AS grid_code, g.community_id, c.subdistrict_id
                      FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
                      JOIN community c ON c.id = g.community_id
                      WHERE gv.valid_to IS NULL
                        AND EXISTS (SELECT 1 FROM changed w WHERE ST_Intersects(w.geom, gv.geom))) gg
                JOIN cases p ON ST_Intersects(gg.geom, p.geom)
                WHERE p.status {OPEN} AND NOT p.outside_jurisdiction
                  AND EXISTS (SELECT 1 FROM changed w WHERE ST_Intersects(w.geom, p.geom))
                ORDER BY p.id, gg.grid_code
            {_UPDATE}
            {_EVENTS}"""


def _dynamic(sql: str) -> str:
    """The statement for EXECUTE … USING p_at, p_actor, p_change, p_grid_ids ($1 … $4)."""
    for i, name in enumerate(("p_at", "p_actor", "p_change", "p_grid_ids"), start=1):
        sql = sql.replace(name, f"${i}")
    return sql.rstrip().rstrip(";")


def _reassign(move_all: str, move_grids: str) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION reassign_open_cases(p_at timestamptz, p_actor integer DEFAULT NULL,
                                                   p_change integer DEFAULT NULL, p_grid_ids integer[] DEFAULT NULL)
    RETURNS integer LANGUAGE plpgsql SET jit = off AS $$
    DECLARE
        n integer;
    BEGIN
        IF p_grid_ids IS NULL THEN
            {move_all}
        ELSE
            -- EXECUTE: planned with the actual grid ids each time (a cached generic plan for an
            -- unknown array does not probe the changed grids first and is ~10x slower)
            EXECUTE $q$ {_dynamic(move_grids)} $q$
                USING p_at, p_actor, p_change, p_grid_ids;
        END IF;
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
    END $$;"""


def _schedule_cron() -> None:
    """The every-minute job in pg_cron, where it can be had (see the docstring)."""
    bind = op.get_bind()
    row = bind.execute(text("""
        SELECT current_database() AS db, current_user AS who,
               EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron') AS installed,
               'pg_cron' = ANY(string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))
                   AS loaded,
               current_setting('cron.database_name', true) AS cron_db""")).one()
    if not (row.installed and row.loaded and row.cron_db):
        bind.execute(text("DO $$ BEGIN RAISE NOTICE 'pg_cron is not available here: scheduled boundary changes "
                          "are applied by the app''s timer (db/schedule.py) or manage.py boundary-apply-due'; END $$"))
        return
    job = JOB_PREFIX + row.db
    if row.cron_db == row.db:
        try:
            with bind.begin_nested():  # a role that may not create the extension: the rest still migrates
                bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_cron"))
                bind.execute(text("SELECT cron.schedule(:j, :s, :c)"), {"j": job, "s": JOB_SCHEDULE, "c": JOB_COMMAND})
        except Exception as e:
            warnings.warn(f"pg_cron job {job} not scheduled: {str(e).splitlines()[0]}", stacklevel=1)
        return
    url = bind.engine.url.set(database=row.cron_db)
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as c:
            c.execute(text("CREATE EXTENSION IF NOT EXISTS pg_cron"))
            c.execute(text("SELECT cron.schedule_in_database(:j, :s, :c, :d)"),
                      {"j": job, "s": JOB_SCHEDULE, "c": JOB_COMMAND, "d": row.db})
    except Exception as e:  # no right to it (a managed server): the app's timer remains
        warnings.warn(f"pg_cron job {job} not scheduled in database {row.cron_db}: {str(e).splitlines()[0]}",
                      stacklevel=1)
    finally:
        eng.dispose()


def _unschedule_cron() -> None:
    bind = op.get_bind()
    row = bind.execute(text("SELECT current_database() AS db, current_setting('cron.database_name', true) AS cron_db"
                            )).one()
    if not row.cron_db:
        return
    job = JOB_PREFIX + row.db
    sql = text("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = :j")
    if row.cron_db == row.db:
        if bind.execute(text("SELECT to_regclass('cron.job') IS NOT NULL")).scalar():
            bind.execute(sql, {"j": job})
        return
    eng = create_engine(bind.engine.url.set(database=row.cron_db), isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as c:
            if c.execute(text("SELECT to_regclass('cron.job') IS NOT NULL")).scalar():
                c.execute(sql, {"j": job})
    except Exception as e:
        warnings.warn(f"pg_cron job {job} not unscheduled: {str(e).splitlines()[0]}", stacklevel=1)
    finally:
        eng.dispose()


def upgrade() -> None:
    op.execute(_reassign(_MOVE_ALL, _MOVE_GRIDS))
    op.execute("""
    DROP TRIGGER case_event_stamp_case ON case_event;
    CREATE TRIGGER case_event_stamp_case BEFORE INSERT ON case_event
        FOR EACH ROW WHEN (NEW.category_code IS NULL OR NEW.channel IS NULL)
        EXECUTE FUNCTION case_event_stamp_case();
    ALTER FUNCTION apply_boundary_change(integer, timestamptz) SET jit = off;
    ALTER FUNCTION apply_due_boundary_changes(timestamptz) SET jit = off;
    """)
    _schedule_cron()


def downgrade() -> None:
    _unschedule_cron()
    op.execute("""
    ALTER FUNCTION apply_due_boundary_changes(timestamptz) RESET jit;
    ALTER FUNCTION apply_boundary_change(integer, timestamptz) RESET jit;
    DROP TRIGGER case_event_stamp_case ON case_event;
    CREATE TRIGGER case_event_stamp_case BEFORE INSERT ON case_event
        FOR EACH ROW EXECUTE FUNCTION case_event_stamp_case();
    """)
    # 0007's function as it was: the join of every open case, events stamped by the trigger
    old_all = f"""
            WITH m AS (
                SELECT DISTINCT ON (p.id) p.id AS case_id, gg.grid_id, gg.grid_code, gg.community_id,
                       gg.subdistrict_id, p.grid_id AS old_grid_id, p.grid_code AS old_grid_code,
                       p.community_id AS old_community_id, p.subdistrict_id AS old_subdistrict_id
                FROM (SELECT gv.geom, g.id AS grid_id, g.code AS grid_code, g.community_id, c.subdistrict_id
                      FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
                      JOIN community c ON c.id = g.community_id
                      WHERE gv.valid_to IS NULL) gg
                JOIN cases p ON ST_Intersects(gg.geom, p.geom)
                WHERE p.status {OPEN} AND NOT p.outside_jurisdiction
                ORDER BY p.id, gg.grid_code
            {_UPDATE}
            {_EVENTS}"""
    op.execute(_reassign(old_all, _MOVE_GRIDS).replace("LANGUAGE plpgsql SET jit = off", "LANGUAGE plpgsql"))
