"""Publishing boundaries: scheduled changes, what each change sets, and the database's apply step.

- ``boundary_change`` gains why (``reason``, ``warnings_reason``), when (``effective_at``, the
  instant its versions start; ``applied_at``, when the database applied it), its ``status``
  (scheduled → applied, or cancelled), the draft it came from, the communities it touches (for
  the conflict check), the change it rolls back, and its ``result`` (counts).
- ``boundary_change_grid`` / ``boundary_change_responsibility``: the unit grids and
  responsibility grids (with their grid workers) exactly as the change sets them, copied from the
  draft when it is published. A scheduled change is applied from these rows, so later edits of
  anything cannot alter what was published; history and rollback read them too.
- ``reassign_open_cases(at, actor, change, grid_ids)``: the one set-based re-assignment of open
  cases (polygons as the outer loop, lowest code on shared edges, as ``grid_at_point``), which
  writes a ``regrid`` event for each moved case (its state after the move, so the indicator
  roll-up moves the open count from the old grid to the new one) and bumps the case's version.
  ``grid_ids`` limits it to the points inside those grids (NULL: every open case).
- ``apply_boundary_change(change, now)``: applies one scheduled change in the caller's
  transaction: new and renamed responsibility grids and their workers, new unit grids, moves
  between communities, a new version for every grid whose polygon is not ``ST_Equals`` to its
  current one (the current one closed at ``effective_at``), retirements, the areas' outlines,
  the re-assignment, then ``NOTIFY case_changed, 'boundary'`` so the walls redraw.
- ``apply_due_boundary_changes(now)``: applies every scheduled change that is due, oldest first;
  called each minute by pg_cron where the server has it, else by the app's timer
  (db/schedule.py) or ``manage.py boundary-apply-due`` from the system's cron.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0007
Revises: 0006
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OPEN = "NOT IN ('closed', 'rejected', 'merged')"


CHANGED = "changed AS (SELECT gv.geom FROM grid_version gv WHERE gv.valid_to IS NULL AND gv.grid_id = ANY(p_grid_ids)),"
NEAR_CHANGED = "AND EXISTS (SELECT 1 FROM changed w WHERE ST_Intersects(w.geom, gv.geom))"
IN_CHANGED = "AND EXISTS (SELECT 1 FROM changed w WHERE ST_Intersects(w.geom, p.geom))"


def _move(*, changed: str, grids: str, points: str) -> str:
    """One statement: pick each open case's grid by the point rule (polygons as the outer loop,
    the partial GiST index on open cases inside; lowest code on shared edges, as grid_at_point),
    move the cases whose grid or community differs, and write each move into the case's log
    with its state after the move (so the indicator roll-up moves the open count)."""
    return f"""
            WITH {changed}
            m AS (
                SELECT DISTINCT ON (p.id) p.id AS case_id, gg.grid_id, gg.grid_code, gg.community_id,
                       gg.subdistrict_id, p.grid_id AS old_grid_id, p.grid_code AS old_grid_code,
                       p.community_id AS old_community_id, p.subdistrict_id AS old_subdistrict_id
                FROM (SELECT gv.geom, g.id AS grid_id, g.code AS grid_code, g.community_id, c.subdistrict_id
                      FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
                      JOIN community c ON c.id = g.community_id
                      WHERE gv.valid_to IS NULL {grids}) gg
                JOIN cases p ON ST_Intersects(gg.geom, p.geom)
                WHERE p.status {OPEN} AND NOT p.outside_jurisdiction {points}
                ORDER BY p.id, gg.grid_code
            ), moved AS (
                UPDATE cases c SET grid_id = m.grid_id, grid_code = m.grid_code, community_id = m.community_id,
                       subdistrict_id = m.subdistrict_id, version = c.version + 1, updated_at = p_at
                FROM m
                WHERE c.id = m.case_id AND (m.old_grid_id, m.old_community_id, m.old_subdistrict_id)
                                           IS DISTINCT FROM (m.grid_id, m.community_id, m.subdistrict_id)
                RETURNING c.id, c.status, c.level, c.department_id, c.handler_id, c.due_at, c.postponed_at,
                          c.grid_id, c.grid_code, m.old_grid_code, m.old_community_id, c.community_id
            )
            INSERT INTO case_event(case_id, at, actor_id, actor_role, action, from_status, to_status, from_level,
                                   to_level, department_id, grid_id, handler_id, due_at, postponed, data)
            SELECT mv.id, p_at, p_actor, COALESCE((SELECT role FROM person WHERE id = p_actor), 'system'), 'regrid',
                   mv.status, mv.status, mv.level, mv.level, mv.department_id, mv.grid_id, mv.handler_id, mv.due_at,
                   mv.postponed_at IS NOT NULL,
                   jsonb_build_object('from_grid_code', mv.old_grid_code, 'to_grid_code', mv.grid_code,
                                      'from_community_id', mv.old_community_id, 'to_community_id', mv.community_id,
                                      'change_id', p_change)
            FROM moved mv;"""


def upgrade() -> None:
    op.execute("""
    ALTER TABLE boundary_change
        ADD COLUMN reason text NOT NULL DEFAULT '' CHECK (length(reason) <= 2000),
        ADD COLUMN warnings_reason text CHECK (length(warnings_reason) <= 2000),
        ADD COLUMN effective_at timestamptz,
        ADD COLUMN applied_at timestamptz,
        ADD COLUMN status text NOT NULL DEFAULT 'applied' CHECK (status IN ('scheduled', 'applied', 'cancelled')),
        ADD COLUMN draft_id integer REFERENCES boundary_draft(id),
        ADD COLUMN community_ids integer[],
        ADD COLUMN rollback_of integer REFERENCES boundary_change(id),
        ADD COLUMN result jsonb;
    CREATE INDEX boundary_change_due_idx ON boundary_change(effective_at) WHERE status = 'scheduled';

    CREATE TABLE boundary_change_responsibility (
        change_id integer NOT NULL REFERENCES boundary_change(id),
        code text NOT NULL,
        name text NOT NULL,
        community_id integer NOT NULL REFERENCES community(id),
        person_ids integer[] NOT NULL DEFAULT '{}',
        PRIMARY KEY (change_id, code)
    );
    CREATE TABLE boundary_change_grid (
        change_id integer NOT NULL REFERENCES boundary_change(id),
        code text NOT NULL CHECK (code ~ '^[0-9]{15}$'),
        name text NOT NULL,
        community_id integer NOT NULL REFERENCES community(id),
        responsibility_code text,
        geom geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
        retired boolean NOT NULL DEFAULT false,
        PRIMARY KEY (change_id, code)
    );
    """)
    # the existing rows (imports, the sample) were applied when they were made, and so is a row
    # that a writer of 0001's columns adds (status defaults to 'applied'): the trigger says so
    op.execute("""
    UPDATE boundary_change SET effective_at = created_at, applied_at = created_at;
    ALTER TABLE boundary_change ALTER COLUMN effective_at SET NOT NULL,
        ADD CONSTRAINT boundary_change_applied_has_time CHECK ((status = 'applied') = (applied_at IS NOT NULL));
    CREATE FUNCTION boundary_change_times() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.effective_at := COALESCE(NEW.effective_at, NEW.created_at);
        IF NEW.status = 'applied' AND NEW.applied_at IS NULL THEN
            NEW.applied_at := NEW.created_at;
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER boundary_change_times BEFORE INSERT ON boundary_change
        FOR EACH ROW EXECUTE FUNCTION boundary_change_times();
    """)

    op.execute(f"""
    -- The open cases' points, indexed apart: the re-assignment's join (polygons outer) then
    -- probes 5 % of the points instead of filtering every closed case out of the full index.
    CREATE INDEX cases_open_geom_gix ON cases USING gist (geom) WHERE status {OPEN};

    CREATE FUNCTION reassign_open_cases(p_at timestamptz, p_actor integer DEFAULT NULL,
                                        p_change integer DEFAULT NULL, p_grid_ids integer[] DEFAULT NULL)
    RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
        n integer;
    BEGIN
        -- Two forms of one statement rather than one with "p_grid_ids IS NULL OR …", which keeps
        -- the planner from the polygons-outer join. With p_grid_ids: only the points inside a
        -- changed grid, and only the grids touching one (every grid that can hold such a point
        -- touches that grid there).
        IF p_grid_ids IS NULL THEN
            {_move(changed="", grids="", points="")}
        ELSE
            {_move(changed=CHANGED, grids=NEAR_CHANGED, points=IN_CHANGED)}
        END IF;
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
    END $$;

    CREATE FUNCTION apply_boundary_change(p_change integer, p_now timestamptz DEFAULT clock_timestamp())
    RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE
        ch boundary_change%ROWTYPE;
        t timestamptz;
        touched integer[];
        redrawn integer[];
        regridded integer[];
        n_added integer;
        n_retired integer;
        n_unchanged integer;
        n_moved integer;
        res jsonb;
    BEGIN
        SELECT * INTO ch FROM boundary_change WHERE id = p_change FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'boundary change % does not exist', p_change USING ERRCODE = 'no_data_found';
        END IF;
        IF ch.status <> 'scheduled' THEN
            RAISE EXCEPTION 'boundary change % is %, not scheduled', p_change, ch.status
                USING ERRCODE = 'check_violation';
        END IF;
        t := ch.effective_at;

        -- the communities before and after (outlines to refresh)
        touched := ARRAY(SELECT s.community_id FROM boundary_change_grid s WHERE s.change_id = p_change
                         UNION SELECT g.community_id FROM boundary_change_grid s JOIN unit_grid g ON g.code = s.code
                         WHERE s.change_id = p_change);

        -- responsibility grids and their workers
        INSERT INTO responsibility_grid(community_id, code, name)
            SELECT r.community_id, r.code, r.name FROM boundary_change_responsibility r
            WHERE r.change_id = p_change AND NOT EXISTS (SELECT 1 FROM responsibility_grid x WHERE x.code = r.code)
            ORDER BY r.code;
        UPDATE responsibility_grid x SET name = r.name, community_id = r.community_id
            FROM boundary_change_responsibility r
            WHERE r.change_id = p_change AND x.code = r.code
              AND (x.name, x.community_id) IS DISTINCT FROM (r.name, r.community_id);
        DELETE FROM responsibility_grid_worker w
            USING responsibility_grid x, boundary_change_responsibility r
            WHERE r.change_id = p_change AND x.code = r.code AND w.responsibility_grid_id = x.id
              AND NOT (w.person_id = ANY(r.person_ids));
        INSERT INTO responsibility_grid_worker(responsibility_grid_id, person_id)
            SELECT x.id, p.person_id FROM boundary_change_responsibility r
            JOIN responsibility_grid x ON x.code = r.code
            CROSS JOIN LATERAL unnest(r.person_ids) AS p(person_id)
            WHERE r.change_id = p_change
            ON CONFLICT DO NOTHING;

        -- unit grids: new ones, then what changed about each
        INSERT INTO unit_grid(community_id, code, name, created_at)
            SELECT s.community_id, s.code, s.name, t FROM boundary_change_grid s
            WHERE s.change_id = p_change AND NOT s.retired
              AND NOT EXISTS (SELECT 1 FROM unit_grid g WHERE g.code = s.code)
            ORDER BY s.code;
        GET DIAGNOSTICS n_added = ROW_COUNT;
        regridded := ARRAY(SELECT g.id FROM boundary_change_grid s JOIN unit_grid g ON g.code = s.code
                           WHERE s.change_id = p_change AND NOT s.retired AND g.community_id <> s.community_id);
        redrawn := ARRAY(
            SELECT g.id FROM boundary_change_grid s JOIN unit_grid g ON g.code = s.code
            LEFT JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
            WHERE s.change_id = p_change AND NOT s.retired AND (gv.id IS NULL OR NOT ST_Equals(gv.geom, s.geom)));
        SELECT count(*) INTO n_retired FROM boundary_change_grid s JOIN unit_grid g ON g.code = s.code
            WHERE s.change_id = p_change AND s.retired AND g.retired_at IS NULL;
        SELECT count(*) INTO n_unchanged FROM boundary_change_grid s JOIN unit_grid g ON g.code = s.code
            WHERE s.change_id = p_change AND NOT s.retired AND NOT (g.id = ANY(redrawn));
        UPDATE unit_grid g SET name = s.name, community_id = s.community_id,
               responsibility_grid_id = (SELECT x.id FROM responsibility_grid x WHERE x.code = s.responsibility_code),
               retired_at = CASE WHEN s.retired THEN COALESCE(g.retired_at, t) END
            FROM boundary_change_grid s
            WHERE s.change_id = p_change AND g.code = s.code;

        -- versions: close the current one of each redrawn or retired grid, add the new ones
        UPDATE grid_version gv SET valid_to = t
            FROM boundary_change_grid s JOIN unit_grid g ON g.code = s.code
            WHERE s.change_id = p_change AND gv.grid_id = g.id AND gv.valid_to IS NULL
              AND (s.retired OR g.id = ANY(redrawn));
        INSERT INTO grid_version(grid_id, version_no, geom, valid_from, change_id)
            SELECT g.id, COALESCE((SELECT max(v.version_no) FROM grid_version v WHERE v.grid_id = g.id), 0) + 1,
                   s.geom, t, p_change
            FROM boundary_change_grid s JOIN unit_grid g ON g.code = s.code
            WHERE s.change_id = p_change AND g.id = ANY(redrawn)
            ORDER BY s.code;

        -- the areas' outlines are the unions of their current grids
        UPDATE community c SET geom = u.geom FROM (
            SELECT g.community_id, ST_Multi(ST_Union(gv.geom)) AS geom
            FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
            WHERE g.community_id = ANY(touched) GROUP BY g.community_id) u
        WHERE c.id = u.community_id;
        UPDATE subdistrict s SET geom = u.geom FROM (
            SELECT c.subdistrict_id, ST_Multi(ST_Union(gv.geom)) AS geom
            FROM community c JOIN unit_grid g ON g.community_id = c.id
            JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
            WHERE c.subdistrict_id IN (SELECT subdistrict_id FROM community WHERE id = ANY(touched))
            GROUP BY c.subdistrict_id) u
        WHERE s.id = u.subdistrict_id;

        n_moved := reassign_open_cases(p_now, ch.created_by, p_change, redrawn || regridded);
        res := jsonb_build_object('versions_added', cardinality(redrawn), 'grids_added', n_added,
                                  'grids_retired', n_retired, 'grids_unchanged', n_unchanged, 'cases_moved', n_moved);
        UPDATE boundary_change SET status = 'applied', applied_at = p_now, result = res WHERE id = p_change;
        PERFORM pg_notify('case_changed', 'boundary');
        RETURN res;
    END $$;

    CREATE FUNCTION apply_due_boundary_changes(p_now timestamptz DEFAULT clock_timestamp())
    RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
        r record;
        n integer := 0;
    BEGIN
        FOR r IN SELECT id FROM boundary_change WHERE status = 'scheduled' AND effective_at <= p_now
                 ORDER BY effective_at, id FOR UPDATE SKIP LOCKED LOOP
            PERFORM apply_boundary_change(r.id, p_now);
            n := n + 1;
        END LOOP;
        RETURN n;
    END $$;
    """)


def downgrade() -> None:
    op.execute("""
    DROP TRIGGER IF EXISTS boundary_change_times ON boundary_change;
    DROP FUNCTION IF EXISTS boundary_change_times();
    DROP FUNCTION IF EXISTS apply_due_boundary_changes(timestamptz), apply_boundary_change(integer, timestamptz),
        reassign_open_cases(timestamptz, integer, integer, integer[]);
    DROP TABLE IF EXISTS boundary_change_grid, boundary_change_responsibility;
    DROP INDEX IF EXISTS cases_open_geom_gix;
    DROP INDEX IF EXISTS boundary_change_due_idx;
    ALTER TABLE boundary_change DROP CONSTRAINT IF EXISTS boundary_change_applied_has_time,
        DROP COLUMN IF EXISTS result, DROP COLUMN IF EXISTS rollback_of, DROP COLUMN IF EXISTS community_ids,
        DROP COLUMN IF EXISTS draft_id, DROP COLUMN IF EXISTS status, DROP COLUMN IF EXISTS applied_at,
        DROP COLUMN IF EXISTS effective_at, DROP COLUMN IF EXISTS warnings_reason, DROP COLUMN IF EXISTS reason;
    """)
