"""Cases and events partitioned by month (issue 12 §6; the design is in docs/scale.md, *Years of
cases*).

- ``cases`` becomes ``PARTITION BY RANGE (reported_at)``, ``case_event`` ``PARTITION BY RANGE
  (at)``, one partition per month of the command centre's clock (Asia/Shanghai) plus a DEFAULT
  partition each; primary keys ``(id, reported_at)`` and ``(id, at)``.
- ``case_key (id, case_no, reported_at, ended_at, duplicate_of)``: one row per case, kept by
  triggers on ``cases``; every foreign key that pointed at ``cases(id)`` points at it (same name,
  same ON DELETE), and it keeps ``case_no`` unique. ``ended_at`` tells which months hold the open
  cases; ``duplicate_of`` lists a case's duplicates without reading every month of ``cases``.
- ``ensure_case_partitions(months_ahead, since)``: makes the months that are missing and moves
  rows waiting in a DEFAULT partition into their month. Called here, by the app's ticker and by
  pg_cron when it is installed.

The tables are rebuilt from the live catalogue (columns, checks, defaults, indexes, triggers with
their enabled state, grants, comments, dependent views, foreign keys in and out), so what earlier
migrations of other branches added to them is carried over; the id sequences are re-owned, not
recreated. What cannot be carried is refused with its name. Downgrade rebuilds plain tables the
same way.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0024
Revises: 0021 (re-linked when branches are merged: it must stay the last migration)
"""
import re

from alembic import op
from sqlalchemy import text

revision = "0024"
down_revision = "0021"
branch_labels = None
depends_on = None

TIME_ZONE = "Asia/Shanghai"
MONTHS_AHEAD = 3
TABLES = (("cases", "reported_at"), ("case_event", "at"))
KEY_TRIGGERS = ("cases_key_insert", "cases_key_insert_bulk", "cases_key_update", "cases_key_delete",
                "cases_key_truncate", "cases_key_ended", "cases_key_ended_bulk")
TERMINAL = "('closed', 'rejected', 'merged')"
LIKE = ("INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STATISTICS "
        "INCLUDING COMMENTS INCLUDING STORAGE INCLUDING COMPRESSION")
REFS_CASES = re.compile(r"REFERENCES (public\.)?cases\(id\)")
REFS_KEY = re.compile(r"REFERENCES (public\.)?case_key\(id\)")


def _rows(sql: str, **params):
    return op.get_bind().execute(text(sql), params).all()


def _one(sql: str, **params):
    return op.get_bind().execute(text(sql), params).scalar()


def _ensure_function() -> str:
    return f"""
    CREATE FUNCTION ensure_case_partitions(months_ahead integer DEFAULT {MONTHS_AHEAD}, since timestamptz DEFAULT NULL)
    RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    -- Make every missing month of cases and case_event from since's month (default: this month)
    -- to months_ahead months after this one, and every month that has rows waiting in a DEFAULT
    -- partition (those rows are moved into it, triggers off for the move only: the roll-ups
    -- counted them when they came in, and the grid stamp must not be recomputed). New months are
    -- built with LIKE + ATTACH PARTITION, which locks the parent in SHARE UPDATE EXCLUSIVE mode
    -- only. Returns how many partitions were made.
    DECLARE
        t record; m timestamp; lo timestamptz; hi timestamptz; part text; dflt text;
        cols text; waiting boolean; prev_role text; made integer := 0;
    BEGIN
        IF months_ahead IS NULL OR months_ahead NOT BETWEEN 0 AND 120 THEN
            RAISE EXCEPTION 'ensure_case_partitions: months_ahead must be 0 to 120, not %', months_ahead
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM pg_advisory_xact_lock(hashtext('ensure_case_partitions'));
        FOR t IN SELECT * FROM (VALUES ('cases', 'reported_at'), ('case_event', 'at')) v(tbl, key) LOOP
            IF (SELECT relkind FROM pg_class WHERE oid = to_regclass(t.tbl)) IS DISTINCT FROM 'p' THEN
                CONTINUE;
            END IF;
            dflt := t.tbl || '_default';
            FOR m IN EXECUTE format(
                'SELECT g FROM generate_series(date_trunc(''month'', COALESCE($1, now()) AT TIME ZONE %L), '
                '  date_trunc(''month'', now() AT TIME ZONE %L) + make_interval(months => $2), ''1 month'') g '
                'UNION SELECT DISTINCT date_trunc(''month'', %I AT TIME ZONE %L) FROM %I ORDER BY 1',
                '{TIME_ZONE}', '{TIME_ZONE}', t.key, '{TIME_ZONE}', dflt) USING since, months_ahead
            LOOP
                part := t.tbl || '_p' || to_char(m, 'YYYY_MM');
                IF to_regclass(part) IS NOT NULL THEN
                    CONTINUE;
                END IF;
                lo := m AT TIME ZONE '{TIME_ZONE}';
                hi := (m + interval '1 month') AT TIME ZONE '{TIME_ZONE}';
                EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, t.tbl);
                EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= $1 AND %I < $2)', dflt, t.key, t.key)
                    INTO waiting USING lo, hi;
                IF waiting THEN
                    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
                    FROM pg_attribute WHERE attrelid = t.tbl::regclass AND attnum > 0 AND NOT attisdropped
                         AND attgenerated = '';
                    prev_role := current_setting('session_replication_role');
                    PERFORM set_config('session_replication_role', 'replica', true);
                    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                                   'INSERT INTO %I (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM moved',
                                   dflt, t.key, t.key, part, cols, cols) USING lo, hi;
                    PERFORM set_config('session_replication_role', prev_role, true);
                END IF;
                EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', t.tbl, part, lo, hi);
                IF t.tbl = 'case_event' THEN
                    -- a TRUNCATE of one partition would pass the parent's statement trigger by
                    EXECUTE format('CREATE TRIGGER case_event_no_truncate BEFORE TRUNCATE ON %I '
                                   'FOR EACH STATEMENT EXECUTE FUNCTION case_event_append_only()', part);
                END IF;
                made := made + 1;
            END LOOP;
        END LOOP;
        RETURN made;
    END $$;
    """


# (set-wise) the key's ended_at and the case's (n) differ: it left or re-entered the open set, or
# its end time changed (not merely now() again, for an end time that is missing)
ENDED_CHANGED = ("((k.ended_at IS NULL) <> (n.ended_at IS NULL) OR (n.ended_at IS NOT NULL AND k.ended_at <> n.ended_at "
                 "AND n.ended_at IS DISTINCT FROM now()))")

KEY_FUNCTIONS = f"""
CREATE TABLE case_key (
    id bigint PRIMARY KEY,
    case_no text NOT NULL UNIQUE,
    reported_at timestamptz NOT NULL,
    ended_at timestamptz,
    duplicate_of bigint
);
COMMENT ON TABLE case_key IS 'one row per case (kept by the cases_key_* triggers): what foreign keys to a case point at, and what keeps id and case_no unique across the month partitions of cases';
COMMENT ON COLUMN case_key.ended_at IS 'when the case left the open set (its closed_at, rejected_at or merged_at; now() when that is missing); NULL while it is open. Tells which months hold the open cases and the cases ended since a time, so queries over them name those months and the planner prunes the rest';
COMMENT ON COLUMN case_key.duplicate_of IS 'the case''s duplicate_of (the original it was merged into), kept with it: a case''s duplicates are listed from this table (id, case_no, reported_at), where over cases they could lie in any month and every month would be read';
-- The open set's months, by a skip scan (one probe per month); the cases ended since a time;
-- a case's duplicates.
CREATE INDEX case_key_open_idx ON case_key (reported_at) WHERE ended_at IS NULL;
CREATE INDEX case_key_ended_idx ON case_key (ended_at) INCLUDE (reported_at) WHERE ended_at IS NOT NULL;
CREATE INDEX case_key_duplicate_of_idx ON case_key (duplicate_of) INCLUDE (reported_at, case_no)
    WHERE duplicate_of IS NOT NULL;

CREATE FUNCTION case_ended_at(status text, closed_at timestamptz, rejected_at timestamptz, merged_at timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN status IN {TERMINAL} THEN
        COALESCE(CASE status WHEN 'closed' THEN closed_at WHEN 'rejected' THEN rejected_at ELSE merged_at END, now())
    END
$$;

-- Ordinary writes: a row trigger, so an event inserted in the same statement as its case finds
-- the key. A row moved to another month by an UPDATE of reported_at comes back as a DELETE and
-- an INSERT: the insert then updates the key, the delete leaves it (the case is still there).
CREATE FUNCTION cases_key_insert() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO case_key (id, case_no, reported_at, ended_at, duplicate_of)
    VALUES (NEW.id, NEW.case_no, NEW.reported_at, case_ended_at(NEW.status, NEW.closed_at, NEW.rejected_at, NEW.merged_at),
            NEW.duplicate_of)
    ON CONFLICT (id) DO UPDATE SET case_no = EXCLUDED.case_no, reported_at = EXCLUDED.reported_at,
                                   ended_at = EXCLUDED.ended_at, duplicate_of = EXCLUDED.duplicate_of
        WHERE (SELECT count(*) FROM cases c WHERE c.id = EXCLUDED.id) = 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'case id % is already taken', NEW.id USING ERRCODE = 'unique_violation',
            CONSTRAINT = 'case_key_pkey';
    END IF;
    RETURN NULL;
END $$;
-- Bulk paths run with session_replication_role = replica (ordinary triggers off): one set-wise
-- insert per statement instead.
CREATE FUNCTION cases_key_insert_bulk() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO case_key (id, case_no, reported_at, ended_at, duplicate_of)
    SELECT id, case_no, reported_at, case_ended_at(status, closed_at, rejected_at, merged_at), duplicate_of FROM new_cases;
    RETURN NULL;
END $$;
-- A case leaving or re-entering the open set (or its end time changing): row-wise for ordinary
-- writes, set-wise for the bulk paths (replica role), as for inserts; the set-wise one also
-- carries duplicate_of (row-wise, cases_key_update does).
CREATE FUNCTION cases_key_ended() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE case_key SET ended_at = case_ended_at(NEW.status, NEW.closed_at, NEW.rejected_at, NEW.merged_at)
    WHERE id = NEW.id;
    RETURN NULL;
END $$;
CREATE FUNCTION cases_key_ended_bulk() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE case_key k SET ended_at = CASE WHEN {ENDED_CHANGED} THEN n.ended_at ELSE k.ended_at END,
                          duplicate_of = n.duplicate_of
    FROM (SELECT id, duplicate_of, case_ended_at(status, closed_at, rejected_at, merged_at) AS ended_at FROM new_cases) n
    WHERE k.id = n.id AND ({ENDED_CHANGED} OR k.duplicate_of IS DISTINCT FROM n.duplicate_of);
    RETURN NULL;
END $$;
CREATE FUNCTION cases_key_update() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE case_key SET id = NEW.id, case_no = NEW.case_no, reported_at = NEW.reported_at, duplicate_of = NEW.duplicate_of
    WHERE id = OLD.id;
    RETURN NULL;
END $$;
CREATE FUNCTION cases_key_delete() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM case_key k WHERE k.id = OLD.id AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = OLD.id);
    RETURN NULL;
END $$;
CREATE FUNCTION cases_key_truncate() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM case_key;  -- refused while events or other rows still point at a case
    RETURN NULL;
END $$;
"""

KEY_TRIGGER_SQL = f"""
CREATE TRIGGER cases_key_insert AFTER INSERT ON cases FOR EACH ROW EXECUTE FUNCTION cases_key_insert();
CREATE TRIGGER cases_key_insert_bulk AFTER INSERT ON cases REFERENCING NEW TABLE AS new_cases
    FOR EACH STATEMENT EXECUTE FUNCTION cases_key_insert_bulk();
ALTER TABLE cases ENABLE REPLICA TRIGGER cases_key_insert_bulk;
CREATE TRIGGER cases_key_update AFTER UPDATE OF id, case_no, reported_at, duplicate_of ON cases FOR EACH ROW
    WHEN ((OLD.id, OLD.case_no, OLD.reported_at, OLD.duplicate_of)
          IS DISTINCT FROM (NEW.id, NEW.case_no, NEW.reported_at, NEW.duplicate_of))
    EXECUTE FUNCTION cases_key_update();
CREATE TRIGGER cases_key_delete AFTER DELETE ON cases FOR EACH ROW EXECUTE FUNCTION cases_key_delete();
CREATE TRIGGER cases_key_truncate AFTER TRUNCATE ON cases FOR EACH STATEMENT EXECUTE FUNCTION cases_key_truncate();
CREATE TRIGGER cases_key_ended AFTER UPDATE OF status, closed_at, rejected_at, merged_at ON cases FOR EACH ROW
    WHEN ((OLD.status IN {TERMINAL}) IS DISTINCT FROM (NEW.status IN {TERMINAL})
          OR (NEW.status IN {TERMINAL} AND (OLD.closed_at, OLD.rejected_at, OLD.merged_at)
                                           IS DISTINCT FROM (NEW.closed_at, NEW.rejected_at, NEW.merged_at)))
    EXECUTE FUNCTION cases_key_ended();
CREATE TRIGGER cases_key_ended_bulk AFTER UPDATE ON cases REFERENCING NEW TABLE AS new_cases
    FOR EACH STATEMENT EXECUTE FUNCTION cases_key_ended_bulk();
ALTER TABLE cases ENABLE REPLICA TRIGGER cases_key_ended_bulk;
"""


# --- reading the live catalogue ------------------------------------------------------------------

def _refuse_unsupported(table: str, key: str) -> None:
    """Stop with the object's name when the table carries something this migration cannot carry."""
    problems = []
    problems += [f"rule {r}" for (r,) in _rows(
        "SELECT rulename FROM pg_rules WHERE schemaname = 'public' AND tablename = :t", t=table)]
    problems += [f"row-level security policy {p}" for (p,) in _rows(
        "SELECT policyname FROM pg_policies WHERE schemaname = 'public' AND tablename = :t", t=table)]
    problems += [f"publication {p}" for (p,) in _rows(
        "SELECT pubname FROM pg_publication_tables WHERE schemaname = 'public' AND tablename = :t", t=table)]
    problems += [f"function {f} (its body is bound to the table)" for (f,) in _rows(
        "SELECT DISTINCT p.oid::regprocedure::text FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid "
        "WHERE d.classid = 'pg_proc'::regclass AND d.refobjid IN (CAST(:t AS regclass), "
        "(SELECT reltype FROM pg_class WHERE oid = CAST(:t AS regclass)))", t=table)]
    problems += [f"constraint {c} ({d})" for c, d in _rows(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
        "AND (contype = 'x' OR (contype = 'u' AND NOT (conname = 'cases_case_no_key' AND :t = 'cases')))", t=table)]
    problems += [f"unique index {i}" for (i,) in _rows(
        "SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = CAST(:t AS regclass) "
        "AND x.indisunique AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)", t=table)]
    if table == "case_event":
        problems += [f"foreign key {c} on {r}" for c, r in _rows(
            "SELECT conname, conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
            "AND confrelid = 'case_event'::regclass")]
    else:
        problems += [f"foreign key {c} on {r} ({d})" for c, r, d in _rows(
            "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid = 'cases'::regclass") if not REFS_CASES.search(d)]
    if problems:
        raise RuntimeError(f"migration 0024 cannot partition {table} by {key}: it does not know how to carry "
                           + "; ".join(problems))


def _views(tables: tuple[str, ...]) -> list[tuple]:
    """Views (and materialized views) that depend on the tables, directly or through other views,
    in an order they can be created in: (name, kind, definition, owner, comment, grants)."""
    oids = ", ".join(f"'{t}'::regclass" for t in tables)
    views = _rows(f"""
        WITH RECURSIVE dep(oid, depth) AS (
            SELECT r.ev_class, 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
            WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid IN ({oids}) AND r.ev_class NOT IN ({oids})
            UNION
            SELECT r.ev_class, dep.depth + 1 FROM dep JOIN pg_depend d ON d.refobjid = dep.oid
            JOIN pg_rewrite r ON r.oid = d.objid
            WHERE d.classid = 'pg_rewrite'::regclass AND r.ev_class <> dep.oid AND dep.depth < 20
        )
        SELECT c.relname, c.relkind, pg_get_viewdef(c.oid), pg_get_userbyid(c.relowner),
               obj_description(c.oid, 'pg_class'), max(dep.depth) AS depth
        FROM dep JOIN pg_class c ON c.oid = dep.oid
        GROUP BY c.oid ORDER BY depth, c.relname""")
    return [(*row[:5], _grants(row[0])) for row in views]


def _grants(relation: str) -> list[str]:
    return [g for (g,) in _rows("""
        SELECT format('GRANT %s ON %I TO %s%s', a.privilege_type, c.relname,
                      CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                      CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = CAST(:t AS regclass) AND a.grantee <> c.relowner""", t=relation)]


def _capture(table: str) -> dict:
    """What the rebuilt table must get back, read before the old one goes."""
    def own(kinds):
        return _rows(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
            "AND conparentid = 0 AND contype = ANY(CAST(:k AS \"char\"[])) "
            "AND confrelid NOT IN ('cases'::regclass, 'case_event'::regclass, COALESCE(to_regclass('case_key'), 0)) "
            "ORDER BY conname", t=table, k=list(kinds))
    return {
        "foreign_keys": own("f"),
        "indexes": _rows(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND i.tablename = :t "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = CAST(:t AS regclass) "
            "AND k.conname = i.indexname) ORDER BY i.indexname", t=table),
        "triggers": _rows(
            "SELECT tgname, pg_get_triggerdef(oid), tgenabled FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) "
            "AND NOT tgisinternal AND tgparentid = 0 AND NOT (tgname = ANY(:own)) ORDER BY tgname",
            t=table, own=list(KEY_TRIGGERS)),
        "grants": _grants(table),
        "comment": _one("SELECT obj_description(CAST(:t AS regclass), 'pg_class')", t=table),
        # serial sequences (owned by a column: re-owned, so their values are kept)
        "sequences": _rows(
            "SELECT s.oid::regclass::text, a.attname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
            "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
            "WHERE d.classid = 'pg_class'::regclass AND d.refobjid = CAST(:t AS regclass) AND d.deptype = 'a'", t=table),
        # identity columns get a new sequence from LIKE: set to where the old one was
        "identities": _rows(
            "SELECT attname, pg_get_serial_sequence(:t, attname) FROM pg_attribute "
            "WHERE attrelid = CAST(:t AS regclass) AND attidentity <> '' AND NOT attisdropped", t=table),
    }


def _incoming_foreign_keys(target: str) -> list[tuple]:
    """(table, name, definition) of every foreign key pointing at target (parents only)."""
    return _rows(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND confrelid = CAST(:t AS regclass) AND conparentid = 0 ORDER BY 1, 2", t=target)


# --- rebuilding ----------------------------------------------------------------------------------

def _rebuild(table: str, key: str, saved: dict, *, partitioned: bool) -> None:
    """Replace ``table`` by a new one (partitioned by month on ``key``, or plain), rows kept."""
    old = f"{table}_before_0024"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    for seq, _col in saved["sequences"]:
        op.execute(f"ALTER SEQUENCE {seq} OWNED BY NONE")
    identity_at = {col: _one(f"SELECT last_value FROM {seq}") for col, seq in saved["identities"]}
    tail = f" PARTITION BY RANGE ({key})" if partitioned else ""
    op.execute(f"CREATE TABLE {table} (LIKE {old} {LIKE}){tail}")
    if partitioned:
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    cols = ", ".join(f'"{c}"' for (c,) in _rows(
        "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 "
        "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum", t=table))
    if partitioned:
        since = _one(f"SELECT min({key}) FROM {old}")
        if since is not None:  # every month from the oldest row (the rest come from the function below)
            op.get_bind().execute(text("SELECT ensure_case_partitions(:n, :since)"), {"n": MONTHS_AHEAD, "since": since})
    op.execute(f"INSERT INTO {table} ({cols}) OVERRIDING SYSTEM VALUE SELECT {cols} FROM {old}")
    op.execute(f"DROP TABLE {old}")
    pk = f"{table}_pkey"
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {pk} PRIMARY KEY (id{', ' + key if partitioned else ''})")
    if table == "cases":
        if partitioned:
            op.execute("CREATE INDEX cases_case_no_idx ON cases (case_no)")  # unique through case_key
        else:
            op.execute("ALTER TABLE cases ADD CONSTRAINT cases_case_no_key UNIQUE (case_no)")
    for name, definition in saved["foreign_keys"]:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for name, definition in saved["indexes"]:
        if not partitioned and name == "cases_case_no_idx":
            continue
        op.execute(definition.replace(" ON ONLY ", " ON "))
    for name, definition, enabled in saved["triggers"]:
        op.execute(definition)
        state = {"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}.get(enabled)
        if state:
            op.execute(f"ALTER TABLE {table} {state} TRIGGER {name}")
    for grant in saved["grants"]:
        op.execute(grant)
    if saved["comment"] is not None:
        op.get_bind().execute(text(f"COMMENT ON TABLE {table} IS " + _one("SELECT quote_literal(:c)", c=saved["comment"])))
    for seq, col in saved["sequences"]:
        op.execute(f"ALTER SEQUENCE {seq} OWNED BY {table}.{col}")
    for col, value in identity_at.items():
        if value is not None:
            op.get_bind().execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', '{col}'), :v)"), {"v": value})
    if partitioned and table == "case_event":
        op.execute("""
        DO $$ DECLARE p regclass; BEGIN
            FOR p IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'case_event'::regclass LOOP
                IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = p AND tgname = 'case_event_no_truncate') THEN
                    EXECUTE format('CREATE TRIGGER case_event_no_truncate BEFORE TRUNCATE ON %s '
                                   'FOR EACH STATEMENT EXECUTE FUNCTION case_event_append_only()', p);
                END IF;
            END LOOP;
        END $$""")


def _recreate_views(views: list[tuple]) -> None:
    for name, kind, definition, owner, comment, grants in views:
        what = "MATERIALIZED VIEW" if kind == "m" else "VIEW"
        op.execute(f"CREATE {what} {name} AS {definition.rstrip().rstrip(';')}")
        op.execute(f'ALTER {what} {name} OWNER TO "{owner}"')
        for grant in grants:
            op.execute(grant)
        if comment is not None:
            op.get_bind().execute(text(f"COMMENT ON {what} {name} IS " + _one("SELECT quote_literal(:c)", c=comment)))


def _drop_views(views: list[tuple]) -> None:
    for name, kind, *_ in reversed(views):
        op.execute(f"DROP {'MATERIALIZED VIEW' if kind == 'm' else 'VIEW'} {name}")


def _cron(schedule: bool) -> None:
    """A daily pg_cron job where the extension is installed (another migration may add it)."""
    if not _one("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron')"):
        return
    if schedule:
        op.execute("SELECT cron.schedule('case-partitions', '17 3 * * *', 'SELECT ensure_case_partitions()')")
    else:
        op.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'case-partitions'")


def upgrade() -> None:
    for table, key in TABLES:
        _refuse_unsupported(table, key)
    op.execute(_ensure_function())
    op.execute(KEY_FUNCTIONS)
    op.execute("INSERT INTO case_key (id, case_no, reported_at, ended_at, duplicate_of) "
               "SELECT id, case_no, reported_at, case_ended_at(status, closed_at, rejected_at, merged_at), duplicate_of "
               "FROM cases")
    views = _views(tuple(t for t, _ in TABLES))
    incoming = _incoming_foreign_keys("cases")
    saved = {table: _capture(table) for table, _ in TABLES}
    _drop_views(views)
    for source, name, _ in incoming:
        op.execute(f"ALTER TABLE {source} DROP CONSTRAINT {name}")
    for table, key in TABLES:
        _rebuild(table, key, saved[table], partitioned=True)
    for source, name, definition in incoming:
        op.execute(f"ALTER TABLE {source} ADD CONSTRAINT {name} {REFS_CASES.sub('REFERENCES case_key(id)', definition)}")
    op.execute(KEY_TRIGGER_SQL)
    _recreate_views(views)
    op.execute("SELECT ensure_case_partitions()")
    _cron(True)
    op.execute("ANALYZE cases; ANALYZE case_event; ANALYZE case_key")


def downgrade() -> None:
    _cron(False)
    views = _views(tuple(t for t, _ in TABLES))
    incoming = _incoming_foreign_keys("case_key")
    saved = {table: _capture(table) for table, _ in TABLES}
    _drop_views(views)
    for source, name, _ in incoming:
        op.execute(f"ALTER TABLE {source} DROP CONSTRAINT {name}")
    for name in KEY_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON cases")
    for table, key in TABLES:
        saved[table]["indexes"] = [(n, d) for n, d in saved[table]["indexes"] if n != "cases_case_no_idx"]
        _rebuild(table, key, saved[table], partitioned=False)
    for source, name, definition in incoming:
        op.execute(f"ALTER TABLE {source} ADD CONSTRAINT {name} {REFS_KEY.sub('REFERENCES cases(id)', definition)}")
    _recreate_views(views)
    op.execute("DROP TABLE case_key")
    op.execute("DROP FUNCTION ensure_case_partitions(integer, timestamptz), cases_key_insert(), cases_key_insert_bulk(), "
               "cases_key_update(), cases_key_delete(), cases_key_truncate(), cases_key_ended(), cases_key_ended_bulk(), "
               "case_ended_at(text, timestamptz, timestamptz, timestamptz)")
    op.execute("ANALYZE cases; ANALYZE case_event")
