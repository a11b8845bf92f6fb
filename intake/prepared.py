"""Server-side prepared statements for the report path (``PREPARE`` once per connection, then
``EXECUTE``): PostgreSQL parses and plans the statement once per connection instead of on every
report. Measured here (docs/intake.md): the report statement's planning was ~0.5–0.7 ms of the
database's CPU per report, the key check's 0.15 ms (three times its execution).

A ``Prepared`` takes SQL with ``:name`` parameters (as ``sqlalchemy.text``) and a PostgreSQL type
for each: a parameter's type must be fixed when the statement is prepared (``INSERT … SELECT :k``
would otherwise make ``:k`` text). A name without a declared type gets the type of its first
value (``text`` for None); declare every parameter that may be None and is not text.

Which connections have which statements is kept in the pool entry's ``info`` (SQLAlchemy clears
it when the connection is replaced: recycled, or invalidated after a disconnect). A statement the
server has lost anyway (``invalid_sql_statement_name``) is prepared again and the call retried
once (on a connection in autocommit, as the intake's are: in a transaction the failed call has
aborted it).

``EXECUTE`` runs on the DBAPI cursor itself: SQLAlchemy's execution context and result set-up
cost ~90 µs of CPU per statement here, three times psycopg2's own call. What SQLAlchemy would
still have done is done here: an error is raised as SQLAlchemy's (``IntegrityError`` …, which the
callers and the app's handlers expect) and a disconnected connection is invalidated, so the pool
replaces it.
"""
from __future__ import annotations

import functools
import hashlib
import re
from collections import namedtuple

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

# sqlalchemy.text's own rule for a bind parameter: ':name', not a '::type' cast.
_PARAM = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
_INFO_KEY = "intake_prepared"
_BY_VALUE = {bool: "boolean", int: "bigint", float: "double precision", str: "text"}


def _type_of(value) -> str:
    return _BY_VALUE.get(type(value), "text")


class Prepared:
    """One statement, prepared on a connection at its first use there. Thread-safe: a connection is
    used by one thread at a time, and the statement object itself is never changed after ``__init__``
    but for its types, which are fixed at the first call."""

    def __init__(self, sql: str, types: dict[str, str] | None = None, *, prefix: str = "intake"):
        self.names: list[str] = []

        def number(m: re.Match) -> str:
            if m.group(1) not in self.names:
                self.names.append(m.group(1))
            return f"${self.names.index(m.group(1)) + 1}"

        self.body = _PARAM.sub(number, sql)
        self.types = dict(types or {})
        self.name = f"{prefix}_{hashlib.sha1(self.body.encode()).hexdigest()[:16]}"
        self._execute = f"EXECUTE {self.name}(" + ", ".join(f"%({n})s" for n in self.names) + ")"
        self._prepare: str | None = None

    def _prepare_sql(self, params: dict) -> str:
        if self._prepare is None:
            types = [self.types.get(n) or _type_of(params.get(n)) for n in self.names]
            self._prepare = f"PREPARE {self.name}({', '.join(types)}) AS {self.body}"
        return self._prepare

    def execute(self, conn: Connection, params: dict) -> Rows:
        """The statement's rows on ``conn`` with ``params`` (extra keys are ignored)."""
        values = {n: params[n] for n in self.names}
        done = conn.info.setdefault(_INFO_KEY, set())
        if self.name not in done:
            self._prepare_on(conn, params, done)
        try:
            return _run(conn, self._execute, values)
        except DBAPIError as e:
            if getattr(e.orig, "pgcode", None) != "26000":  # invalid_sql_statement_name: lost meanwhile
                raise
        done.discard(self.name)
        self._prepare_on(conn, params, done)
        return _run(conn, self._execute, values)

    def _prepare_on(self, conn: Connection, params: dict, done: set) -> None:
        try:
            conn.exec_driver_sql(self._prepare_sql(params), execution_options={"no_parameters": True})
        except DBAPIError as e:
            if getattr(e.orig, "pgcode", None) != "42P05":  # duplicate_prepared_statement: there already
                raise
        done.add(self.name)


class Rows(list):
    """A statement's rows (named tuples), with the two accessors the callers use."""

    def one(self):
        if len(self) != 1:
            raise ValueError(f"expected one row, got {len(self)}")
        return self[0]

    def scalar_one(self):
        return self.one()[0]

    def scalar_one_or_none(self):
        if len(self) > 1:
            raise ValueError(f"expected at most one row, got {len(self)}")
        return self[0][0] if self else None


@functools.lru_cache(maxsize=64)
def _row_type(names: tuple[str, ...]):
    return namedtuple("Row", names, rename=True)


def _run(conn: Connection, sql: str, values: dict) -> Rows:
    dbapi_conn = conn.connection.dbapi_connection
    base_error = conn.dialect.loaded_dbapi.Error
    try:
        with dbapi_conn.cursor() as cur:
            cur.execute(sql, values)
            if cur.description is None:
                return Rows()
            row = _row_type(tuple(d[0] for d in cur.description))
            return Rows(row._make(r) for r in cur.fetchall())
    except base_error as e:
        gone = conn.dialect.is_disconnect(e, dbapi_conn, None)
        if gone:
            conn.invalidate(e)
        raise DBAPIError.instance(sql, values, e, base_error, connection_invalidated=gone, dialect=conn.dialect) from e
