"""Fixtures for page tests (AppTest): a committed test district and the app pointed at the test DB.

AppTest runs the pages in this process, and the pages read through their own connections, so
the fixture data is committed (in the small district of ``tests/ui/district.py``) and removed
again when this package's tests are done.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from db.config import test_database_url, test_owner_database_url
from accounts.actors import load_actor
from tests.ui.district import ROLE_USERS, committed_test_district

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="package")
def wall_db(engine):
    """The test district with one account per role and a state mix of cases, committed."""
    with committed_test_district(engine) as world:
        yield world


@pytest.fixture(scope="package", autouse=True)
def app_database():
    """Point the app (``DATABASE_URL``) at the test database while these tests run."""
    url, owner = test_database_url(), test_owner_database_url()
    names = ("DATABASE_URL", "TEST_DATABASE_URL", "MIGRATION_DATABASE_URL", "TEST_MIGRATION_DATABASE_URL")
    saved = {k: os.environ.get(k) for k in names}
    # the TEST_ ones too, so test_database_url() and test_owner_database_url() keep meaning the
    # same database and roles meanwhile
    os.environ.update(DATABASE_URL=url, TEST_DATABASE_URL=url, MIGRATION_DATABASE_URL=owner,
                      TEST_MIGRATION_DATABASE_URL=owner)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def new_app(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params.update(query)
    return at


@pytest.fixture
def app():
    return new_app()


@pytest.fixture
def signed_in(engine, wall_db):
    """``signed_in("uit_command")``: an AppTest session already signed in as that account."""
    def make(username: str, **query) -> AppTest:
        with engine.connect() as c:
            pid = c.execute(text("SELECT id FROM person WHERE username = :u"), {"u": username}).scalar_one()
            actor = load_actor(c, pid)
        at = new_app(**query)
        at.session_state["actor"] = actor
        return at.run()

    return make


ROLES = {role: username for username, (role, _) in ROLE_USERS.items()}
