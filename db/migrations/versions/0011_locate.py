"""Reports with an address and no position (待定位, awaiting location).

The hotline takes many calls with an address only, and there is no geocoder: such a report is
stored without a position and placed later by a dispatcher (the lifecycle's ``locate`` move).

- ``cases.geom`` and ``received_x`` / ``received_y`` / ``received_crs`` become nullable: all four
  NULL together (``cases_received_with_position``), and only while the case awaits location.
- ``cases_awaiting_location``: a case without a position is still being sorted ('reported') or was
  rejected or merged without ever being placed; it has no grid, no report-time stamp, no area, is
  not outside the jurisdiction (nobody knows where it is), and it has an address.
- the old ``cases_check`` (``outside_jurisdiction = (grid_id IS NULL)``, 0001) holds for every
  located case (``cases_outside_iff_no_grid``).
- ``cases_assign_grid()`` (the one point-in-grid trigger, 0001) accepts a case without a position
  and, when its position is first set, assigns and stamps the grid exactly as for a new report.
  A located case never loses its position; an unlocated one has no stamp to change.
- a partial index for the 待定位 queue.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0011
Revises: 0010
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# cases_assign_grid() as 0001 made it: restored by downgrade().
_ASSIGN_0001 = """
CREATE OR REPLACE FUNCTION cases_assign_grid() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF ST_Equals(NEW.geom, OLD.geom) THEN
            IF NEW.reported_grid_version_id IS DISTINCT FROM OLD.reported_grid_version_id
               OR NEW.reported_grid_code IS DISTINCT FROM OLD.reported_grid_code THEN
                RAISE EXCEPTION 'case %: the report-time grid stamp is immutable', OLD.case_no
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END IF;
        -- only a point that fell outside every grid may be relocated (and is then stamped)
        IF NOT OLD.outside_jurisdiction THEN
            RAISE EXCEPTION 'case %: the location of a case inside the district is immutable', OLD.case_no
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF NEW.geom IS NULL THEN
        RAISE EXCEPTION 'a case needs a location' USING ERRCODE = 'not_null_violation';
    END IF;
    IF NEW.case_no IS NULL THEN
        NEW.case_no := to_char(COALESCE(NEW.reported_at, now()) AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD')
                       || lpad(nextval('case_no_seq')::text, 7, '0');
    END IF;
    SELECT * INTO r FROM grid_at_point(NEW.geom);
    IF FOUND THEN
        NEW.reported_grid_version_id := r.grid_version_id;
        NEW.reported_grid_code := r.grid_code;
        NEW.grid_id := r.grid_id;
        NEW.grid_code := r.grid_code;
        NEW.community_id := r.community_id;
        NEW.subdistrict_id := r.subdistrict_id;
        NEW.outside_jurisdiction := false;
    ELSE
        -- stored and queued for a person to look at: never dropped, never snapped
        NEW.reported_grid_version_id := NULL;
        NEW.reported_grid_code := NULL;
        NEW.grid_id := NULL;
        NEW.grid_code := NULL;
        NEW.community_id := NULL;
        NEW.subdistrict_id := NULL;
        NEW.outside_jurisdiction := true;
    END IF;
    RETURN NEW;
END $$;
"""

# The same rule, and a case may start without a position (待定位) and get one once.
_ASSIGN_0011 = """
CREATE OR REPLACE FUNCTION cases_assign_grid() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    IF NEW.case_no IS NULL THEN
        NEW.case_no := to_char(COALESCE(NEW.reported_at, now()) AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD')
                       || lpad(nextval('case_no_seq')::text, 7, '0');
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.geom IS NOT NULL AND NEW.geom IS NULL THEN
            RAISE EXCEPTION 'case %: a located case keeps its location', OLD.case_no
                USING ERRCODE = 'check_violation';
        END IF;
        IF (OLD.geom IS NULL AND NEW.geom IS NULL) OR ST_Equals(NEW.geom, OLD.geom) THEN
            IF NEW.reported_grid_version_id IS DISTINCT FROM OLD.reported_grid_version_id
               OR NEW.reported_grid_code IS DISTINCT FROM OLD.reported_grid_code THEN
                RAISE EXCEPTION 'case %: the report-time grid stamp is immutable', OLD.case_no
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END IF;
        -- a case awaiting location (待定位) is placed once; otherwise only a point that fell
        -- outside every grid may be relocated. Either way it is then stamped like a new report.
        IF OLD.geom IS NOT NULL AND NOT OLD.outside_jurisdiction THEN
            RAISE EXCEPTION 'case %: the location of a case inside the district is immutable', OLD.case_no
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF NEW.geom IS NULL THEN
        -- 待定位: no grid until located (the CHECK cases_awaiting_location says what else holds)
        NEW.reported_grid_version_id := NULL;
        NEW.reported_grid_code := NULL;
        NEW.grid_id := NULL;
        NEW.grid_code := NULL;
        NEW.community_id := NULL;
        NEW.subdistrict_id := NULL;
        NEW.outside_jurisdiction := false;
        RETURN NEW;
    END IF;
    SELECT * INTO r FROM grid_at_point(NEW.geom);
    IF FOUND THEN
        NEW.reported_grid_version_id := r.grid_version_id;
        NEW.reported_grid_code := r.grid_code;
        NEW.grid_id := r.grid_id;
        NEW.grid_code := r.grid_code;
        NEW.community_id := r.community_id;
        NEW.subdistrict_id := r.subdistrict_id;
        NEW.outside_jurisdiction := false;
    ELSE
        -- stored and queued for a person to look at: never dropped, never snapped
        NEW.reported_grid_version_id := NULL;
        NEW.reported_grid_code := NULL;
        NEW.grid_id := NULL;
        NEW.grid_code := NULL;
        NEW.community_id := NULL;
        NEW.subdistrict_id := NULL;
        NEW.outside_jurisdiction := true;
    END IF;
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.execute(_ASSIGN_0011)
    op.execute("""
    ALTER TABLE cases
        ALTER COLUMN geom DROP NOT NULL,
        ALTER COLUMN received_x DROP NOT NULL,
        ALTER COLUMN received_y DROP NOT NULL,
        ALTER COLUMN received_crs DROP NOT NULL,
        DROP CONSTRAINT cases_check,
        ADD CONSTRAINT cases_outside_iff_no_grid CHECK (geom IS NULL OR outside_jurisdiction = (grid_id IS NULL)),
        ADD CONSTRAINT cases_received_with_position CHECK (
            (received_x IS NULL) = (geom IS NULL) AND (received_y IS NULL) = (geom IS NULL)
            AND (received_crs IS NULL) = (geom IS NULL)),
        ADD CONSTRAINT cases_awaiting_location CHECK (geom IS NOT NULL OR (
            status IN ('reported', 'rejected', 'merged')
            AND grid_id IS NULL AND grid_code IS NULL AND community_id IS NULL AND subdistrict_id IS NULL
            AND reported_grid_version_id IS NULL AND reported_grid_code IS NULL AND NOT outside_jurisdiction
            AND btrim(COALESCE(address, '')) <> ''));
    -- the 待定位 queue, oldest first
    CREATE INDEX cases_awaiting_location_idx ON cases(reported_at) WHERE geom IS NULL AND status = 'reported';
    """)


def downgrade() -> None:
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM cases WHERE geom IS NULL) THEN
            RAISE EXCEPTION 'cases without a position (待定位) exist: locate or delete them before downgrading'
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END $$;
    DROP INDEX IF EXISTS cases_awaiting_location_idx;
    ALTER TABLE cases
        DROP CONSTRAINT cases_awaiting_location,
        DROP CONSTRAINT cases_received_with_position,
        DROP CONSTRAINT cases_outside_iff_no_grid,
        ADD CONSTRAINT cases_check CHECK (outside_jurisdiction = (grid_id IS NULL)),
        ALTER COLUMN geom SET NOT NULL,
        ALTER COLUMN received_x SET NOT NULL,
        ALTER COLUMN received_y SET NOT NULL,
        ALTER COLUMN received_crs SET NOT NULL;
    """)
    op.execute(_ASSIGN_0001)
