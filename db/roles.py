"""The application's database role and what it may do (least privilege; docs/security.md).

The application (pages, intake, account commands) connects as a role that:

- logs in, and is not a superuser, cannot create databases or roles, cannot replicate or bypass
  row security (so it cannot ``SET session_replication_role``, which switches triggers off);
- owns nothing (so it cannot ``ALTER TABLE … DISABLE TRIGGER`` or drop anything);
- may read and write the tables, except ``case_event``, where it may only read and append:
  no UPDATE, DELETE or TRUNCATE on the event log, on top of the append-only trigger;
- may not write ``alembic_version`` or PostGIS's ``spatial_ref_sys``, nor ``case_key`` (kept by
  the owner's triggers on ``cases``, migration 0024);
- the same on every month partition of ``case_event`` (a partition can be named directly).

The schema's owner runs migrations and calls ``grant_app_privileges`` after each one
(``manage.py migrate``), so a table added by a later migration is covered too.
"""
from __future__ import annotations

import re

from sqlalchemy import create_engine, text

APPEND_ONLY = ("case_event",)
READ_ONLY = ("alembic_version", "spatial_ref_sys", "case_key")
_ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _ident(name: str) -> str:
    if not _ROLE_RE.match(name):
        raise ValueError(f"role name {name!r}: lower-case letters, digits and _ only")
    return f'"{name}"'


def ensure_app_role(owner_url: str, role: str, password: str) -> bool:
    """Create the login role ``role`` if missing (cluster-wide), or bring an existing one back to
    no privileges and ``password``. Returns True when it was created. Clusters made before the
    role existed get it the next time ``manage.py db-up`` runs."""
    r = _ident(role)
    eng = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as c:
            exists = c.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
            verb = "ALTER" if exists else "CREATE"
            # the password goes through a literal: ALTER/CREATE ROLE take no bind parameters
            quoted = c.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar_one()
            c.execute(text(f"{verb} ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                           f"NOBYPASSRLS NOINHERIT PASSWORD {quoted}"))
    finally:
        eng.dispose()
    return not exists


def grant_app_privileges(owner_url: str, role: str) -> None:
    """Grant ``role`` what the application needs in the database of ``owner_url``, and no more."""
    r = _ident(role)
    eng = create_engine(owner_url)
    try:
        with eng.begin() as c:
            db = c.execute(text("SELECT current_database()")).scalar_one()
            c.execute(text(f'GRANT CONNECT, TEMPORARY ON DATABASE "{db}" TO {r}'))
            c.execute(text(f"GRANT USAGE ON SCHEMA public TO {r}"))
            c.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}"))
            c.execute(text(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {r}"))
            present = set(c.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
            partitions = set(c.execute(text(
                "SELECT inhrelid::regclass::text FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
                "WHERE p.relname = ANY(:t) AND p.relnamespace = 'public'::regnamespace"), {"t": list(APPEND_ONLY)}).scalars())
            for table in sorted(set(APPEND_ONLY) | partitions):
                if table in present:
                    c.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {r}"))
            for table in READ_ONLY:
                if table in present:
                    c.execute(text(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {table} FROM {r}"))
    finally:
        eng.dispose()
