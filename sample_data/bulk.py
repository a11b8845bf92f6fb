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
from datetime import datetime

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.partitions import ensure_partitions, is_partitioned

_IDENT = set("abcdefghijklmnopqrstuvwxyz0123456789_")


def _table(name: str) -> str:
    if not name or set(name) - _IDENT:
        raise ValueError(f"not a plain table name: {name!r}")
    return name


def make_months(conn: Connection, since: datetime | None) -> int:
    """Make every month partition of ``cases`` and ``case_event`` from ``since``'s month to the
    months made ahead, before a write of rows that old: they then land in their months, never in
    a DEFAULT partition that the app's ticker would have to empty later, with its readers waiting
    on each ATTACH (issue 12 §6). In the caller's transaction; how many partitions were made (0
    when the tables are not partitioned or ``since`` is None)."""
    if since is None or not is_partitioned(conn, "cases"):
        return 0
    return ensure_partitions(conn, since=since)


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
    # parent it must reach every partition again (migration 0024 partitions cases by month)
    return [r.indexdef.replace(" ON ONLY ", " ON ", 1) for r in rows]


def drop_primary_key(conn: Connection, table: str) -> list[str]:
    """Drop the primary key of ``table`` if no foreign key references it; return the DDL that
    adds it back as it was (empty if it stays). A bulk COPY then writes no index at all; the key
    is built once afterwards, which also checks it."""
    pk = conn.execute(text("""
        SELECT con.conname, pg_get_constraintdef(con.oid) AS ddl FROM pg_constraint con
        WHERE con.conrelid = to_regclass(:t) AND con.contype = 'p'
          AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.confrelid = con.conrelid)"""),
        {"t": _table(table)}).first()
    if pk is None:
        return []
    conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{pk.conname}"'))
    return [f'ALTER TABLE {table} ADD CONSTRAINT "{pk.conname}" {pk.ddl}']


def reserve_ids(conn: Connection, table: str, n: int) -> int:
    """Take ``n`` consecutive values of the sequence behind ``table.id`` in one call (the table
    locked against other writers while this transaction lasts, so none takes one in between);
    returns the first. ``n`` rows written with ``first + 0 … n − 1`` get the ids ``nextval``
    would have given them one by one."""
    conn.execute(text(f"LOCK TABLE {_table(table)} IN EXCLUSIVE MODE"))
    seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar_one()
    first = conn.execute(text("SELECT nextval(:s)"), {"s": seq}).scalar_one()
    if n > 1:
        conn.execute(text("SELECT setval(:s, :v)"), {"s": seq, "v": first + n - 1})
    return int(first)


def drop_insert_triggers(conn: Connection, table: str) -> list[str]:
    """Drop the triggers of ``table`` that fire on INSERT and that the replica role skips anyway
    (enabled as ORIGIN, or disabled); return the DDL that recreates them as they were. Their mere
    presence costs a bulk COPY dearly even when they do not fire: a BEFORE ROW trigger makes it
    insert row by row instead of a page at a time, and a transition table (REFERENCING NEW TABLE)
    makes it keep a copy of every row. Triggers that would fire (ENABLE ALWAYS / REPLICA) stay."""
    rows = conn.execute(text("""
        SELECT t.tgname, t.tgenabled, pg_get_triggerdef(t.oid) AS ddl FROM pg_trigger t
        WHERE t.tgrelid = to_regclass(:t) AND NOT t.tgisinternal AND t.tgtype & 4 <> 0
          AND t.tgenabled IN ('O', 'D')
        ORDER BY t.tgname"""), {"t": _table(table)}).all()
    ddl = []
    for r in rows:
        conn.execute(text(f'DROP TRIGGER "{r.tgname}" ON {table}'))
        ddl.append(r.ddl)
        if r.tgenabled == "D":
            ddl.append(f'ALTER TABLE {table} DISABLE TRIGGER "{r.tgname}"')
    return ddl


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
    by_col = _single_column_keys(conn, table)
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


def _single_column_keys(conn: Connection, table: str) -> dict:
    """The single-column foreign keys of ``table`` by column (name, referenced table and column)."""
    keys = conn.execute(text("""
        SELECT con.conname, con.confrelid::regclass::text AS ref, a.attname::text AS col, fa.attname::text AS refcol
        FROM pg_constraint con
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
        JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[1]
        WHERE con.contype = 'f' AND con.conrelid = to_regclass(:t) AND cardinality(con.conkey) = 1"""),
        {"t": _table(table)}).all()
    return {k.col: k for k in keys}


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



# --- binary COPY rows with variable-length fields, built column by column ------------------------
#
# A row of a binary COPY is its field count, then per field a 4-byte length (−1: NULL) and the
# value's bytes. ``BinaryRows`` lays each field out as a padded byte matrix (one row per row,
# as wide as the field's longest value) with the length of each row's bytes; the rows are then
# the matrices side by side with the padding squeezed out by one boolean mask, so no Python
# object is made per row. Text values come from short lists (codes into them), numbers from
# arrays, JSON (jsonb: a version byte, then its text) from pieces of text and digits.

_PG_EPOCH = 946_684_800  # 2000-01-01 00:00 UTC in Unix seconds: the origin of PostgreSQL's timestamps
_NUMBER = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "float4": ">f4", "float8": ">f8", "bool": "u1",
           "timestamptz": ">i8"}
Part = tuple  # (uint8 matrix n × width, int64 lengths n): each row's bytes, padded


def pg_microseconds(epoch) -> np.ndarray:
    """``to_timestamp(epoch)`` as PostgreSQL stores it: microseconds since 2000-01-01 UTC, rounded
    as its ``float8_timestamptz`` rounds (shift to its epoch, then ``rint`` of the microseconds).
    NaN gives 0 (the caller writes those as NULL)."""
    e = np.asarray(epoch, dtype=np.float64)
    return np.rint((np.where(np.isnan(e), float(_PG_EPOCH), e) - _PG_EPOCH) * 1.0e6).astype(np.int64)


def pieces_part(codes, pieces) -> Part:
    """Each row's bytes chosen from a few byte strings: ``pieces[codes]`` (as wide as the
    longest piece chosen)."""
    pieces = list(pieces)
    lens = np.array([len(p) for p in pieces], np.int64)
    codes = np.asarray(codes, np.intp)
    row_lens = lens[codes]
    table = np.zeros((len(pieces), max(1, int(row_lens.max(initial=0)))), np.uint8)
    for i, p in enumerate(pieces):
        p = p[:table.shape[1]]
        table[i, :len(p)] = np.frombuffer(p, np.uint8)
    return table[codes], row_lens


def digits_part(values, keep=None) -> Part:
    """The decimal digits of integers (``keep``: the rows that get them; the others get nothing)."""
    values = np.asarray(values, np.int64)
    rows = np.arange(len(values)) if keep is None else np.flatnonzero(keep)
    s = values[rows].astype("S20")
    lens = np.zeros(len(values), np.int64)
    lens[rows] = np.strings.str_len(s)
    width = max(1, int(lens.max(initial=0)))
    out = np.zeros((len(values), width), np.uint8)
    out[rows] = s.view(np.uint8).reshape(len(rows), 20)[:, :width]
    return out, lens


def utc_offsets(us: np.ndarray, zone: str) -> np.ndarray:
    """The UTC offset of ``zone`` in seconds at each instant (microseconds since 2000-01-01),
    looked up once per distinct minute (zones change offset only at whole minutes)."""
    import pandas as pd

    if not len(us):
        return np.zeros(0, np.int64)
    minute = np.floor_divide(us, 60_000_000) * 60 + _PG_EPOCH
    uniq, inv = np.unique(minute, return_inverse=True)
    local = pd.to_datetime(uniq, unit="s", utc=True).tz_convert(zone).tz_localize(None)
    offset = local.to_numpy().astype("datetime64[s]").astype(np.int64) - uniq
    return offset[inv.ravel()]


def offset_text(seconds: int) -> str:
    """A UTC offset as PostgreSQL writes it in JSON (XSD style): +08:00, -03:30, +05:45:30."""
    sign, s = ("+" if seconds >= 0 else "-"), abs(int(seconds))
    h, m, sec = s // 3600, s // 60 % 60, s % 60
    return f"{sign}{h:02d}:{m:02d}" + (f":{sec:02d}" if sec else "")


def iso_part(us: np.ndarray, offset: np.ndarray, keep=None) -> Part:
    """Local date-times 'YYYY-MM-DDTHH:MM:SS[.ffffff]' of instants (microseconds since
    2000-01-01 UTC) at ``offset`` seconds from UTC, as PostgreSQL writes a timestamptz into JSON:
    the fraction without trailing zeros, none when whole (years 1000–9999). ``keep``: rows that
    get it."""
    local = np.asarray(us, np.int64) + np.asarray(offset, np.int64) * 1_000_000
    day, rem = np.divmod(local, 86_400_000_000)
    d = (day + 10_957).astype("datetime64[D]")  # 2000-01-01 is day 10,957 of the Unix epoch
    month0 = d.astype("datetime64[M]")
    fields = {0: (d.astype("datetime64[Y]").astype(np.int64) + 1970, 4), 5: (month0.astype(np.int64) % 12 + 1, 2),
              8: ((d - month0.astype("datetime64[D]")).astype(np.int64) + 1, 2)}
    sec, frac = np.divmod(rem, 1_000_000)
    fields.update({11: (sec // 3600, 2), 14: (sec // 60 % 60, 2), 17: (sec % 60, 2), 20: (frac, 6)})
    out = np.empty((len(local), 26), np.uint8)
    for col, ch in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, ".")):
        out[:, col] = ord(ch)
    for col, (v, width) in fields.items():
        for k in range(width):
            out[:, col + width - 1 - k] = 48 + (v // 10 ** k) % 10
    zeros = sum((frac % 10 ** k == 0).astype(np.int64) for k in range(1, 7))
    lens = np.where(frac == 0, 19, 26 - zeros)
    if keep is not None:
        lens = np.where(keep, lens, 0)
    return out, lens


class BinaryRows:
    """``n`` rows of a binary COPY, added field by field in the COPY's column order."""

    def __init__(self, n: int):
        self.n = n
        self.parts: list[tuple[np.ndarray, np.ndarray | None]] = []  # lengths None: the whole width
        self.fields = 0

    def number(self, values, typ: str, null=None) -> None:
        """A fixed-width field (int2/int4/int8/float4/float8/bool, or timestamptz given as
        microseconds since 2000-01-01); ``null``: rows written as NULL."""
        fmt = np.dtype(_NUMBER[typ])
        rec = np.zeros(self.n, np.dtype([("l", ">i4"), ("v", fmt)]))
        rec["l"] = fmt.itemsize
        lens = None
        if null is None:
            rec["v"] = values
        else:
            null = np.asarray(null, bool)
            rec["v"] = np.where(null, 0, values)
            rec["l"][null] = -1
            lens = np.where(null, 4, 4 + fmt.itemsize)
        self.parts.append((rec.view(np.uint8).reshape(self.n, 4 + fmt.itemsize), lens))
        self.fields += 1

    def text(self, codes, words) -> None:
        """A text field whose value is ``words[codes]`` (a word None: NULL)."""
        enc = [w.encode() if w is not None else None for w in words]
        self.parts.append(pieces_part(codes, [struct.pack(">i", -1) if b is None else struct.pack(">i", len(b)) + b
                                              for b in enc]))
        self.fields += 1

    def composite(self, parts: list[Part], prefix: bytes = b"") -> None:
        """A field whose value is ``prefix`` followed by ``parts`` (for jsonb, prefix b'\\x01')."""
        size = len(prefix) + sum((lens for _, lens in parts), np.zeros(self.n, np.int64))
        head = np.empty((self.n, 4 + len(prefix)), np.uint8)
        head[:, :4] = size.astype(">i4").view(np.uint8).reshape(self.n, 4)
        head[:, 4:] = np.frombuffer(prefix, np.uint8)
        self.parts.append((head, None))
        self.parts.extend(parts)
        self.fields += 1

    def tobytes(self) -> bytes:
        """The rows (no file header or trailer)."""
        width = 2 + sum(m.shape[1] for m, _ in self.parts)
        matrix = np.empty((self.n, width), np.uint8)
        keep = np.ones((self.n, width), bool)
        matrix[:, :2] = np.frombuffer(struct.pack(">h", self.fields), np.uint8)
        at = 2
        for m, lens in self.parts:
            w = m.shape[1]
            matrix[:, at:at + w] = m
            if lens is not None:
                if w > 255:
                    raise ValueError(f"a part {w} bytes wide: at most 255")
                np.less(np.arange(w, dtype=np.uint8), lens.astype(np.uint8)[:, None], out=keep[:, at:at + w])
            at += w
        return matrix[keep].tobytes()


class _Stream(io.RawIOBase):
    """A file whose contents are the byte strings of an iterator, made as they are read (the
    rows of the next chunk are built while the server writes the last one's)."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not len(self._buf):
            nxt = next(self._chunks, None)
            if nxt is None:
                return b""
            self._buf = memoryview(nxt)
        size = len(self._buf) if size is None or size < 0 else size
        out, self._buf = self._buf[:size], self._buf[size:]
        return out.tobytes()


def copy_rows(conn: Connection, table: str, columns: list[str], chunks) -> None:
    """Binary COPY into ``table`` (``columns``) of the rows in ``chunks`` (``BinaryRows.tobytes``
    of each), streamed."""
    def stream():
        yield _PGCOPY_HEADER
        yield from chunks
        yield struct.pack(">h", -1)

    conn.connection.driver_connection.cursor().copy_expert(
        f"COPY {_table(table)} ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)", _Stream(stream()), size=1 << 20)


def verify_key_values(conn: Connection, table: str, values: dict[str, np.ndarray]) -> None:
    """``verify_written_keys`` for values held in memory (column → the values written into it;
    −1: NULL): each distinct value is looked up once."""
    keys = _single_column_keys(conn, table)
    for col, v in values.items():
        k = keys.get(col)
        if k is None:
            raise ValueError(f"{table}.{col} has no single-column foreign key to check")
        distinct = [int(x) for x in np.unique(np.asarray(v, np.int64)) if x != -1]
        bad = conn.execute(text(
            f"SELECT count(*) FROM unnest(CAST(:v AS bigint[])) t(v) "
            f'WHERE NOT EXISTS (SELECT 1 FROM {k.ref} r WHERE r."{k.refcol}" = t.v)'), {"v": distinct}).scalar_one()
        if bad:
            raise RuntimeError(f"bulk load: {bad} values written into {table} break foreign key {k.conname} "
                               f"({col} → {k.ref}); nothing was written")
