"""Month partitions made one at a time, each in its own short transaction (issue 12 §6, the
session 8 finding: 973,414 history cases waiting in ``cases_default`` were moved by one call of
``ensure_case_partitions`` in ONE transaction of several minutes; its first ATTACH PARTITION took
the DEFAULT partition in ACCESS EXCLUSIVE mode and held it to the end, so every page reading
``cases`` hit its lock time-out for minutes).

- ``case_partitions_due(months_ahead, since)``: the months of ``cases`` and ``case_event`` that are
  missing (from ``since``'s month, or this one, to ``months_ahead`` ahead, and every month with rows
  waiting in a DEFAULT partition), with whether rows wait for it. Reads only.
- ``ensure_case_partition(tbl, month)``: makes ONE month of one table: the new table is built
  with a CHECK constraint equal to its bound (so ATTACH does not scan it), the month's rows are
  moved out of DEFAULT (row locks only: readers go on reading them there until the commit), and
  ATTACH PARTITION comes last, so the ACCESS EXCLUSIVE lock it takes on the DEFAULT partition is
  held for one scan of DEFAULT (which ATTACH must do) and the commit, not for the moves. The
  caller commits after each month with a short lock_timeout (``db.partitions.make_partitions``):
  a reader then waits at most that time-out plus one scan of DEFAULT.
- ``ensure_case_partitions(months_ahead, since)`` (0024's, same signature, for callers inside one
  transaction, e.g. a loader before anyone reads): the same months, one call each.
- ``make_case_partitions(months_ahead, lock_timeout_ms, tries)``: a procedure (``CALL``, not in a
  transaction block) doing what ``db.partitions.make_partitions`` does, for pg_cron: one month
  per transaction under a short lock time-out, a month whose locks are not granted tried again
  after a pause, then left for the next run.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0027
Revises: 0025
"""
from alembic import op

revision = "0027"
down_revision = "0025"
branch_labels = None
depends_on = None

TIME_ZONE = "Asia/Shanghai"
MONTHS_AHEAD = 3

DUE = f"""
CREATE FUNCTION case_partitions_due(months_ahead integer DEFAULT {MONTHS_AHEAD}, since timestamptz DEFAULT NULL)
RETURNS TABLE (tbl text, month timestamp, waiting boolean) LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
-- The months (local time of the command centre) missing as partitions of cases and case_event:
-- from since's month (default: this month) to months_ahead months after this one, and every
-- month with rows in a DEFAULT partition; waiting: rows wait for it there. Oldest first.
DECLARE t record;
BEGIN
    IF months_ahead IS NULL OR months_ahead NOT BETWEEN 0 AND 120 THEN
        RAISE EXCEPTION 'case_partitions_due: months_ahead must be 0 to 120, not %', months_ahead
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR t IN SELECT * FROM (VALUES ('cases', 'reported_at'), ('case_event', 'at')) v(tbl, key) LOOP
        IF (SELECT relkind FROM pg_class WHERE oid = to_regclass(t.tbl)) IS DISTINCT FROM 'p' THEN
            CONTINUE;
        END IF;
        RETURN QUERY EXECUTE format(
            'WITH w AS (SELECT DISTINCT date_trunc(''month'', %I AT TIME ZONE %L) AS m FROM %I), '
            'g AS (SELECT generate_series(date_trunc(''month'', COALESCE($1, now()) AT TIME ZONE %L), '
            '  date_trunc(''month'', now() AT TIME ZONE %L) + make_interval(months => $2), ''1 month'') AS m) '
            'SELECT %L::text, m, m IN (SELECT m FROM w) FROM (SELECT m FROM w UNION SELECT m FROM g) a '
            'WHERE to_regclass(%L || ''_p'' || to_char(m, ''YYYY_MM'')) IS NULL ORDER BY m',
            t.key, '{TIME_ZONE}', t.tbl || '_default', '{TIME_ZONE}', '{TIME_ZONE}', t.tbl, t.tbl)
            USING since, months_ahead;
    END LOOP;
END $$;
"""

ONE = f"""
CREATE FUNCTION ensure_case_partition(tbl text, month timestamp) RETURNS integer LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
-- Make the partition of cases or case_event for the month (local time) holding month, moving
-- the rows waiting for it in the DEFAULT partition (triggers off for the move only: the roll-ups
-- counted them when they came in, the grid stamp must not be recomputed). 1 if made, 0 if it
-- was there. ATTACH is the last step: its ACCESS EXCLUSIVE lock on DEFAULT is held for one scan
-- of DEFAULT and the commit; commit right after (one month per transaction).
DECLARE
    key text; m timestamp; lo timestamptz; hi timestamptz; part text; dflt text; cols text;
    prev_role text;
BEGIN
    key := CASE tbl WHEN 'cases' THEN 'reported_at' WHEN 'case_event' THEN 'at' END;
    IF key IS NULL OR month IS NULL THEN
        RAISE EXCEPTION 'ensure_case_partition: table must be cases or case_event, not %, and month given', tbl
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass(tbl)) IS DISTINCT FROM 'p' THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('ensure_case_partitions'));
    m := date_trunc('month', month);
    part := tbl || '_p' || to_char(m, 'YYYY_MM');
    IF to_regclass(part) IS NOT NULL THEN
        RETURN 0;
    END IF;
    dflt := tbl || '_default';
    lo := m AT TIME ZONE '{TIME_ZONE}';
    hi := (m + interval '1 month') AT TIME ZONE '{TIME_ZONE}';
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, tbl);
    -- the bound as a valid CHECK: ATTACH then skips its scan of the new table
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%I >= %L AND %I < %L)',
                   part, part || '_bound', key, lo, key, hi);
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_attribute WHERE attrelid = tbl::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
    prev_role := current_setting('session_replication_role');
    PERFORM set_config('session_replication_role', 'replica', true);
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                   'INSERT INTO %I (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM moved',
                   dflt, key, key, part, cols, cols) USING lo, hi;
    PERFORM set_config('session_replication_role', prev_role, true);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', tbl, part, lo, hi);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_bound');
    IF tbl = 'case_event' THEN
        -- a TRUNCATE of one partition would pass the parent's statement trigger by
        EXECUTE format('CREATE TRIGGER case_event_no_truncate BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION case_event_append_only()', part);
    END IF;
    RETURN 1;
END $$;
"""

ALL = f"""
CREATE OR REPLACE FUNCTION ensure_case_partitions(months_ahead integer DEFAULT {MONTHS_AHEAD}, since timestamptz DEFAULT NULL)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
-- Every month case_partitions_due names, one ensure_case_partition call each, in the caller's
-- transaction (pg_cron, a loader before anyone reads). A server in service makes them one
-- transaction each instead (db.partitions.make_partitions). Returns how many were made.
DECLARE r record; made integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('ensure_case_partitions'));
    FOR r IN SELECT * FROM case_partitions_due(months_ahead, since) LOOP
        made := made + ensure_case_partition(r.tbl, r.month);
    END LOOP;
    RETURN made;
END $$;
"""

PROC = f"""
CREATE PROCEDURE make_case_partitions(months_ahead integer DEFAULT {MONTHS_AHEAD}, lock_timeout_ms integer DEFAULT 500,
                                      tries integer DEFAULT 5)
LANGUAGE plpgsql AS $$
-- (neither SECURITY DEFINER nor SET: a procedure with either may not commit; pg_cron runs it as
-- the owner, and the names are written with their schema)
DECLARE r record; i integer;
BEGIN
    IF lock_timeout_ms IS NULL OR lock_timeout_ms <= 0 OR tries IS NULL OR tries < 1 THEN
        RAISE EXCEPTION 'make_case_partitions: lock_timeout_ms must be positive and tries 1 or more, not %, %',
            lock_timeout_ms, tries USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR r IN SELECT * FROM public.case_partitions_due(months_ahead, NULL) LOOP
        FOR i IN 1..tries LOOP
            BEGIN
                PERFORM set_config('lock_timeout', lock_timeout_ms || 'ms', true);
                PERFORM public.ensure_case_partition(r.tbl, r.month);
                EXIT;
            EXCEPTION WHEN lock_not_available THEN
                PERFORM set_config('lock_timeout', '0', true);
                PERFORM pg_sleep(least(0.2 * 2 ^ (i - 1), 2.0));
            END;
        END LOOP;
        COMMIT;
    END LOOP;
END $$;
"""


def upgrade() -> None:
    op.execute(DUE)
    op.execute(ONE)
    op.execute(ALL)
    op.execute(PROC)


def downgrade() -> None:
    # 0024's one-transaction version back (its text as 0024 wrote it), then the helpers go
    op.execute(f"""
    CREATE OR REPLACE FUNCTION ensure_case_partitions(months_ahead integer DEFAULT {MONTHS_AHEAD}, since timestamptz DEFAULT NULL)
    RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
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
                    EXECUTE format('CREATE TRIGGER case_event_no_truncate BEFORE TRUNCATE ON %I '
                                   'FOR EACH STATEMENT EXECUTE FUNCTION case_event_append_only()', part);
                END IF;
                made := made + 1;
            END LOOP;
        END LOOP;
        RETURN made;
    END $$;
    """)
    op.execute("DROP PROCEDURE make_case_partitions(integer, integer, integer)")
    op.execute("DROP FUNCTION ensure_case_partition(text, timestamp)")
    op.execute("DROP FUNCTION case_partitions_due(integer, timestamptz)")
