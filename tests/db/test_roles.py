"""Least privilege: the application's role against the schema owner's (db/roles.py, docs/security.md)."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from db import roles
from db.config import test_owner_database_url
from db.engine import get_engine


def _refused(conn, sql: str, params: dict | None = None) -> str:
    """The server's refusal of ``sql`` (inside a savepoint, so the test's transaction goes on)."""
    sp = conn.begin_nested()
    try:
        conn.execute(text(sql), params or {})
    except DBAPIError as e:
        sp.rollback()
        return str(e.orig)
    sp.rollback()
    pytest.fail(f"the application's role was allowed: {sql}")


def test_the_tests_act_as_a_role_that_is_no_superuser(conn):
    me = conn.execute(text("SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
                           "FROM pg_roles WHERE rolname = current_user")).one()
    assert me.rolname != make_url(test_owner_database_url()).username
    assert not any(me[1:])


@pytest.mark.parametrize("sql, says", [
    ("SET session_replication_role = replica", "permission denied"),
    ("UPDATE case_event SET comment = 'x' WHERE id = (SELECT max(id) FROM case_event)", "permission denied"),
    ("DELETE FROM case_event WHERE id = (SELECT max(id) FROM case_event)", "permission denied"),
    ("TRUNCATE case_event CASCADE", "permission denied"),
    ("ALTER TABLE case_event DISABLE TRIGGER case_event_append_only", "must be owner"),
    ("DROP TABLE case_stat_day", "must be owner"),
    ("UPDATE alembic_version SET version_num = version_num", "permission denied"),
    ("CREATE TABLE public.t_sneaky (id int)", "permission denied"),
])
def test_the_application_cannot_rewrite_history_or_the_schema(conn, sql, says):
    assert says in _refused(conn, sql)


def test_the_application_still_reads_and_appends(conn, world):
    from tests.world import bring_to

    case = bring_to(world, "dispatched", where="C1")  # transitions append events and update the roll-up
    n = conn.execute(text("SELECT count(*) FROM case_event WHERE case_id = :c"), {"c": case["id"]}).scalar_one()
    assert n >= 3


def test_the_applications_connections_carry_time_outs(monkeypatch):
    from db.config import test_database_url

    monkeypatch.setenv("GRIDGOV_LOCK_TIMEOUT_MS", "1234")
    monkeypatch.setenv("GRIDGOV_STATEMENT_TIMEOUT_MS", "5678")
    with get_engine(test_database_url(), timeouts=True).connect() as c:
        assert (c.execute(text("SHOW lock_timeout")).scalar(), c.execute(text("SHOW statement_timeout")).scalar()) \
            == ("1234ms", "5678ms")
        with pytest.raises(DBAPIError) as e:
            c.execute(text("SELECT pg_sleep(6)"))
    from db.engine import refused_for_time

    assert refused_for_time(e.value) == "statement"


def test_a_missing_role_is_created_without_privileges_and_can_log_in(owner_engine):
    """What ``manage.py db-up`` does on a cluster made before the role existed."""
    role, pw = "t_gridgov_app_roles", "role-test-password-1"
    owner = test_owner_database_url()
    with owner_engine.connect() as c:
        c.execute(text(f"DROP ROLE IF EXISTS {role}"))
        c.commit()
    try:
        assert roles.ensure_app_role(owner, role, pw) is True
        assert roles.ensure_app_role(owner, role, pw) is False   # a second run changes nothing
        roles.grant_app_privileges(owner, role)
        as_role = create_engine(make_url(owner).set(username=role, password=pw))
        with as_role.connect() as c:
            assert c.execute(text("SELECT count(*) >= 0 FROM person")).scalar()
            assert "permission denied" in _refused(c, "DELETE FROM case_event WHERE false")
        as_role.dispose()
    finally:
        with owner_engine.connect() as c:
            c.execute(text(f"DROP OWNED BY {role}"))
            c.execute(text(f"DROP ROLE IF EXISTS {role}"))
            c.commit()


def test_role_names_are_checked():
    with pytest.raises(ValueError, match="role name"):
        roles.grant_app_privileges(test_owner_database_url(), 'x"; DROP TABLE person; --')
