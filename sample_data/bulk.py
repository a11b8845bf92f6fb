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

import io
import struct

import numpy as np
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


def verify_written_keys(conn: Connection, table: str, source: str, columns: dict[str, str]) -> None:
    """Check the foreign keys of ``table`` for the values a bulk write put into ``columns``
    (column → the expression giving its values in ``source``, a table or subquery of the rows
    written): each distinct value is looked up once, the same rule as ``verify_foreign_keys``
    for those rows. The columns a write left alone were checked when they were written; this is
    what keeps the check proportional to what was written, not to the table. RuntimeError
    naming the key and the count of bad values; ValueError for a column with no single-column
    foreign key (a typo must not pass as checked)."""
    keys = conn.execute(text("""
        SELECT con.conname, con.confrelid::regclass::text AS ref, a.attname::text AS col, fa.attname::text AS refcol
        FROM pg_constraint con
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
        JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[1]
        WHERE con.contype = 'f' AND con.conrelid = to_regclass(:t) AND cardinality(con.conkey) = 1"""),
        {"t": _table(table)}).all()
    by_col = {k.col: k for k in keys}
    for col, expr in columns.items():
        k = by_col.get(col)
        if k is None:
            raise ValueError(f"{table}.{col} has no single-column foreign key to check")
        bad = conn.execute(text(
            f"SELECT count(*) FROM (SELECT DISTINCT {expr} AS v FROM {source}) t "
            f'WHERE t.v IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {k.ref} r WHERE r."{k.refcol}" = t.v)')).scalar_one()
        if bad:
            raise RuntimeError(f"bulk load: {bad} values written into {table} break foreign key {k.conname} "
                               f"({col} → {k.ref}); nothing was written")


def work_table(conn: Connection, name: str, columns: str, *, unlogged: bool = True) -> str:
    """An unlogged work table named ``name`` plus this backend's pid (so concurrent loaders
    never meet), with ``columns`` (SQL column definitions); returns its name. Unlogged, not
    temporary: temporary tables live in the session's small temp_buffers and spill to disk at a
    million rows. The caller drops it; a rolled-back transaction takes it away too.
    ``unlogged=False``: a temporary table (dropped at commit), for roles that may not create
    tables in the schema."""
    if not unlogged:
        conn.execute(text(f"CREATE TEMP TABLE {_table(name)} ({columns}) ON COMMIT DROP"))
        return name
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    full = _table(f"{name}_{pid}")
    conn.execute(text(f"DROP TABLE IF EXISTS {full}"))
    conn.execute(text(f"CREATE UNLOGGED TABLE {full} ({columns})"))
    return full


_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)


def copy_binary(conn: Connection, table: str, cols: list[tuple[str, str, np.ndarray]]) -> None:
    """COPY fixed-width columns (int2/int4/int8/float8, no NULLs) into ``table`` in binary."""
    n = len(cols[0][2])
    fmt = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "float8": ">f8"}
    fields = [("nf", ">i2")]
    for name, typ, _ in cols:
        fields += [(f"l_{name}", ">i4"), (name, fmt[typ])]
    rec = np.empty(n, dtype=np.dtype(fields))
    rec["nf"] = len(cols)
    for name, typ, arr in cols:
        rec[f"l_{name}"] = np.dtype(fmt[typ]).itemsize
        rec[name] = arr
    payload = _PGCOPY_HEADER + rec.tobytes() + struct.pack(">h", -1)
    conn.connection.driver_connection.cursor().copy_expert(
        f"COPY {table} ({', '.join(c[0] for c in cols)}) FROM STDIN WITH (FORMAT binary)", io.BytesIO(payload))
