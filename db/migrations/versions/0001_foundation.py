"""Foundation: administrative hierarchy, versioned grid boundaries, people, departments,
categories, cases with spatial assignment in the database, append-only case events.

Revision ID: 0001
"""
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of today's constants (gis/codes.py's layout gives the code lengths: district 6,
# subdistrict 9, community 12, grid 15 digits); a later change needs a new migration.

CASE_STATUSES = (
    "reported", "registered", "rejected", "dispatched", "disposing", "awaiting_verification",
    "closed", "rework", "postponed", "returned", "merged",
)
LEVELS = ("grid", "community", "subdistrict", "district")
ROLES = ("grid_worker", "department_staff", "dispatcher", "command_staff", "planner", "admin")
CHANNELS = ("grid_worker", "hotline", "wechat", "website", "other")


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(f"""
    CREATE TABLE district (
        id serial PRIMARY KEY,
        code text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{{6}}$'),
        name text NOT NULL,
        name_en text,
        geom geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom))
    );
    CREATE TABLE subdistrict (
        id serial PRIMARY KEY,
        district_id integer NOT NULL REFERENCES district(id),
        code text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{{9}}$'),
        name text NOT NULL,
        name_en text,
        is_agricultural boolean NOT NULL DEFAULT false,
        geom geometry(MultiPolygon, 4326) CHECK (ST_IsValid(geom))
    );
    CREATE TABLE community (
        id serial PRIMARY KEY,
        subdistrict_id integer NOT NULL REFERENCES subdistrict(id),
        code text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{{12}}$'),
        name text NOT NULL,
        name_en text,
        kind text NOT NULL DEFAULT 'community' CHECK (kind IN ('community', 'village')),
        geom geometry(MultiPolygon, 4326) CHECK (ST_IsValid(geom))
    );
    CREATE INDEX community_subdistrict_idx ON community(subdistrict_id);

    CREATE TABLE department (
        id serial PRIMARY KEY,
        code text NOT NULL UNIQUE,
        name text NOT NULL UNIQUE,
        name_en text,
        active boolean NOT NULL DEFAULT true
    );

    CREATE TABLE person (
        id serial PRIMARY KEY,
        username text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{{2,64}}$'),
        full_name text NOT NULL,
        role text NOT NULL CHECK (role IN {_in(ROLES)}),
        unit_level text NOT NULL CHECK (unit_level IN ('community', 'subdistrict', 'district', 'department')),
        community_id integer REFERENCES community(id),
        subdistrict_id integer REFERENCES subdistrict(id),
        department_id integer REFERENCES department(id),
        phone text,
        password_hash text,
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT person_unit_matches_level CHECK (
            (unit_level = 'community') = (community_id IS NOT NULL)
            AND (unit_level = 'subdistrict') = (subdistrict_id IS NOT NULL)
            AND (unit_level = 'department') = (department_id IS NOT NULL)
        )
    );

    CREATE TABLE responsibility_grid (
        id serial PRIMARY KEY,
        community_id integer NOT NULL REFERENCES community(id),
        code text NOT NULL UNIQUE,
        name text NOT NULL
    );
    CREATE TABLE responsibility_grid_worker (
        responsibility_grid_id integer NOT NULL REFERENCES responsibility_grid(id),
        person_id integer NOT NULL REFERENCES person(id),
        PRIMARY KEY (responsibility_grid_id, person_id)
    );
    CREATE INDEX responsibility_grid_worker_person_idx ON responsibility_grid_worker(person_id);

    -- A unit grid is a stable identity; its geometry lives in grid_version rows.
    CREATE TABLE unit_grid (
        id serial PRIMARY KEY,
        community_id integer NOT NULL REFERENCES community(id),
        responsibility_grid_id integer REFERENCES responsibility_grid(id),
        code text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{{15}}$'),
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        retired_at timestamptz
    );
    CREATE INDEX unit_grid_community_idx ON unit_grid(community_id);

    CREATE TABLE boundary_change (
        id serial PRIMARY KEY,
        kind text NOT NULL,
        note text NOT NULL DEFAULT '',
        created_by integer REFERENCES person(id),
        created_at timestamptz NOT NULL DEFAULT now()
    );

    -- Boundary history: a redraw closes the current version (valid_to) and adds a new one.
    -- Versions of one grid never overlap in time; the current one has valid_to IS NULL.
    CREATE TABLE grid_version (
        id serial PRIMARY KEY,
        grid_id integer NOT NULL REFERENCES unit_grid(id),
        version_no integer NOT NULL,
        geom geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
        valid_from timestamptz NOT NULL,
        valid_to timestamptz,
        change_id integer REFERENCES boundary_change(id),
        UNIQUE (grid_id, version_no),
        CHECK (valid_to IS NULL OR valid_to > valid_from),
        EXCLUDE USING gist (grid_id WITH =, tstzrange(valid_from, valid_to) WITH &&)
    );
    CREATE INDEX grid_version_geom_gix ON grid_version USING gist (geom);
    CREATE INDEX grid_version_current_gix ON grid_version USING gist (geom) WHERE valid_to IS NULL;

    CREATE TABLE case_category (
        code text PRIMARY KEY CHECK (code ~ '^[0-9]{{4}}$'),
        kind text NOT NULL CHECK (kind IN ('event', 'component', 'social')),
        major_code text NOT NULL CHECK (major_code ~ '^[0-9]{{2}}$'),
        major_name text NOT NULL,
        major_name_en text,
        name text NOT NULL,
        name_en text,
        default_department_id integer REFERENCES department(id),
        default_level text NOT NULL DEFAULT 'community' CHECK (default_level IN {_in(LEVELS)}),
        is_emergency boolean NOT NULL DEFAULT false,
        CHECK (substr(code, 1, 2) = major_code)
    );

    CREATE SEQUENCE case_no_seq;
    CREATE TABLE cases (
        id bigserial PRIMARY KEY,
        case_no text NOT NULL UNIQUE,
        channel text NOT NULL CHECK (channel IN {_in(CHANNELS)}),
        category_code text REFERENCES case_category(code),
        description text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
        address text CHECK (length(address) <= 500),
        reporter_name text CHECK (length(reporter_name) <= 100),
        reporter_phone text CHECK (length(reporter_phone) <= 40),
        reporter_id integer REFERENCES person(id),
        photo_ref text CHECK (length(photo_ref) <= 500),
        -- exactly as received: coordinates and the coordinate system they were given in
        received_x double precision NOT NULL,
        received_y double precision NOT NULL,
        received_crs text NOT NULL,
        geom geometry(Point, 4326) NOT NULL,
        -- stamped by the database at report time (trigger cases_assign_grid); never changed
        reported_grid_version_id integer REFERENCES grid_version(id),
        reported_grid_code text,
        -- the grid now responsible; equal to the stamp unless a boundary change moved an open case
        grid_id integer REFERENCES unit_grid(id),
        grid_code text,
        community_id integer REFERENCES community(id),
        subdistrict_id integer REFERENCES subdistrict(id),
        outside_jurisdiction boolean NOT NULL DEFAULT false,
        status text NOT NULL DEFAULT 'reported' CHECK (status IN {_in(CASE_STATUSES)}),
        level text CHECK (level IN {_in(LEVELS)}),
        department_id integer REFERENCES department(id),
        due_at timestamptz,
        reported_at timestamptz NOT NULL DEFAULT now(),
        registered_at timestamptz,
        dispatched_at timestamptz,
        feedback_at timestamptz,
        closed_at timestamptz,
        self_handled boolean NOT NULL DEFAULT false,
        supervised boolean NOT NULL DEFAULT false,
        duplicate_of bigint REFERENCES cases(id),
        version integer NOT NULL DEFAULT 1,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (outside_jurisdiction = (grid_id IS NULL)),
        CHECK (duplicate_of IS NULL OR duplicate_of <> id)
    );
    CREATE INDEX cases_geom_gix ON cases USING gist (geom);
    CREATE INDEX cases_status_idx ON cases(status);
    CREATE INDEX cases_reported_at_idx ON cases(reported_at);
    CREATE INDEX cases_grid_idx ON cases(grid_id);
    CREATE INDEX cases_subdistrict_idx ON cases(subdistrict_id);
    CREATE INDEX cases_department_idx ON cases(department_id);
    CREATE INDEX cases_open_due_idx ON cases(due_at) WHERE status NOT IN ('closed', 'rejected', 'merged');
    CREATE INDEX cases_outside_idx ON cases(reported_at) WHERE outside_jurisdiction;

    -- Lead (主办) and cooperating (协办) departments of a case.
    CREATE TABLE case_department (
        case_id bigint NOT NULL REFERENCES cases(id),
        department_id integer NOT NULL REFERENCES department(id),
        role text NOT NULL CHECK (role IN ('lead', 'assist')),
        PRIMARY KEY (case_id, department_id)
    );
    CREATE UNIQUE INDEX case_department_one_lead ON case_department(case_id) WHERE role = 'lead';

    -- Append-only history of every case.
    CREATE TABLE case_event (
        id bigserial PRIMARY KEY,
        case_id bigint NOT NULL REFERENCES cases(id),
        at timestamptz NOT NULL DEFAULT now(),
        actor_id integer REFERENCES person(id),
        actor_role text,
        action text NOT NULL,
        from_status text,
        to_status text,
        from_level text,
        to_level text,
        department_id integer REFERENCES department(id),
        comment text CHECK (length(comment) <= 4000),
        attachments jsonb NOT NULL DEFAULT '[]'::jsonb,
        data jsonb NOT NULL DEFAULT '{{}}'::jsonb
    );
    -- "Being handled by X": who has a case open right now (refreshed while the panel is open).
    CREATE TABLE case_presence (
        case_id bigint NOT NULL REFERENCES cases(id),
        person_id integer NOT NULL REFERENCES person(id),
        seen_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (case_id, person_id)
    );

    CREATE INDEX case_event_case_idx ON case_event(case_id, at, id);
    CREATE INDEX case_event_at_idx ON case_event(at);
    """)

    # --- the one point-in-grid rule -------------------------------------------------------
    op.execute("""
    -- grid_at_point: the current unit grid that covers p (boundary included).
    -- Tie-break: a point on an edge or vertex shared by several grids belongs to the grid
    -- with the lowest code. Every path (trigger, bulk, in-memory) uses this same rule.
    CREATE FUNCTION grid_at_point(p geometry)
    RETURNS TABLE (grid_version_id integer, grid_id integer, grid_code text,
                   community_id integer, subdistrict_id integer)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT gv.id, g.id, g.code, g.community_id, c.subdistrict_id
        FROM grid_version gv
        JOIN unit_grid g ON g.id = gv.grid_id
        JOIN community c ON c.id = g.community_id
        WHERE gv.valid_to IS NULL AND ST_Covers(gv.geom, p)
        ORDER BY g.code
        LIMIT 1
    $$;

    CREATE FUNCTION cases_assign_grid() RETURNS trigger LANGUAGE plpgsql AS $$
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
    CREATE TRIGGER cases_assign_grid BEFORE INSERT OR UPDATE OF geom, reported_grid_version_id, reported_grid_code ON cases
        FOR EACH ROW EXECUTE FUNCTION cases_assign_grid();

    CREATE FUNCTION case_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'case_event is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER case_event_append_only BEFORE UPDATE OR DELETE ON case_event
        FOR EACH ROW EXECUTE FUNCTION case_event_append_only();
    CREATE TRIGGER case_event_no_truncate BEFORE TRUNCATE ON case_event
        FOR EACH STATEMENT EXECUTE FUNCTION case_event_append_only();

    -- Live updates: one notification per statement that changes cases or their events; the
    -- listener only needs to know that something changed (it reloads what it shows).
    CREATE FUNCTION notify_case_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('case_changed', TG_TABLE_NAME);
        RETURN NULL;
    END $$;
    CREATE TRIGGER cases_notify AFTER INSERT OR UPDATE OR DELETE ON cases
        FOR EACH STATEMENT EXECUTE FUNCTION notify_case_changed();
    CREATE TRIGGER case_event_notify AFTER INSERT ON case_event
        FOR EACH STATEMENT EXECUTE FUNCTION notify_case_changed();

    -- Points outside every grid, for a person to place or reject.
    CREATE VIEW outside_jurisdiction_queue AS
        SELECT id, case_no, channel, reported_at, received_x, received_y, received_crs,
               ST_X(geom) AS lon, ST_Y(geom) AS lat, description, status
        FROM cases WHERE outside_jurisdiction AND status NOT IN ('rejected', 'merged', 'closed');
    """)


def downgrade() -> None:
    op.execute("""
    DROP VIEW IF EXISTS outside_jurisdiction_queue;
    DROP TABLE IF EXISTS case_presence, case_event, case_department, cases, case_category, grid_version,
        boundary_change, unit_grid, responsibility_grid_worker, responsibility_grid, person,
        department, community, subdistrict, district CASCADE;
    DROP SEQUENCE IF EXISTS case_no_seq;
    DROP FUNCTION IF EXISTS grid_at_point(geometry), cases_assign_grid(),
        case_event_append_only(), notify_case_changed();
    """)
