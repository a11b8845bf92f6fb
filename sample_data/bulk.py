"""Bulk-load helpers shared by the report loader and the history player (owner only).

A million rows written with every per-row trigger and index on costs minutes: each row checks
its foreign keys one by one, each index is maintained row by row, and the indicator roll-up is
summed per statement. The bulk paths instead run as ``session_replication_role = replica``
(which skips per-row triggers, foreign-key checks among them, and the statement triggers),
rebuild the secondary indexes once after the write, verify every foreign key of the tables
written set-wise (``verify_foreign_keys``: one anti-join per key, the same rule the per-row
check applies), and rebuild the derived data (the roll-up) once at the end. Constraints that
are not triggers (CHECK, NOT NULL, unique, primary keys) are enforced as usual.

Only a superuser may take the replica role; callers fall back to their row-by-row path
otherwise (``may_bulk``).
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

_IDENT = set("abcdefghijklmnopqrstuvwxyz0123456789_")


def _table(name: str) -> str:
    if not name or set(name) - _IDENT:
        raise ValueError(f"not a plain table name: {name!r}")
    return name


def may_bulk(conn: Connection) -> bool:
    """Whether this role may switch per-row triggers off (superuser: the local cluster's owner)."""
    return bool(conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar())


def drop_secondary_indexes(conn: Connection, table: str) -> list[str]:
    """Drop the indexes of ``table`` that back no constraint; return the DDL that recreates them
    exactly as the migrations made them (same names, same definitions)."""
    rows = conn.execute(text("""
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = current_schema() AND i.tablename = :t
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = to_regclass(quote_ident(i.indexname)))
        ORDER BY i.indexname"""), {"t": _table(table)}).all()
    for r in rows:
        conn.execute(text(f'DROP INDEX "{r.indexname}"'))
    # a partitioned table's index reads "ON ONLY cases" (the parent alone); recreated on the
    # parent it must reach every partition again (migration 0017 partitions cases by month)
    return [r.indexdef.replace(" ON ONLY ", " ON ", 1) for r in rows]


def verify_foreign_keys(conn: Connection, table: str) -> None:
    """Check every foreign key of ``table`` set-wise (MATCH SIMPLE: a row with a NULL in the key
    is not checked); RuntimeError naming the key and the count of bad rows if any fails."""
    keys = conn.execute(text("""
        SELECT con.conname, con.confrelid::regclass::text AS ref,
               ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i) AS cols,
               ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) AS refcols
        FROM pg_constraint con
        WHERE con.contype = 'f' AND con.conrelid = to_regclass(:t)
        ORDER BY con.conname"""), {"t": _table(table)}).all()
    for k in keys:
        present = " AND ".join(f't."{c}" IS NOT NULL' for c in k.cols)
        match = " AND ".join(f'r."{rc}" = t."{c}"' for c, rc in zip(k.cols, k.refcols))
        bad = conn.execute(text(
            f"SELECT count(*) FROM {table} t WHERE {present} AND NOT EXISTS (SELECT 1 FROM {k.ref} r WHERE {match})"
        )).scalar_one()
        if bad:
            raise RuntimeError(f"bulk load: {bad} rows of {table} break foreign key {k.conname} "
                               f"({', '.join(k.cols)} → {k.ref}); nothing was written")
