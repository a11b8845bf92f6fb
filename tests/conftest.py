"""Shared fixtures: a real PostGIS test database, each test inside a rolled-back transaction."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from db.config import TIME_ZONE, test_database_url, test_owner_database_url
from sample_data.generate import SampleDistrict, generate
from tests.world import world  # noqa: F401  (the hand-built lifecycle district, a fixture)


@pytest.fixture(scope="session")
def engine():
    url = test_database_url()
    eng = create_engine(url, connect_args={"options": f"-c timezone={TIME_ZONE}"})
    with eng.connect() as c:
        c.execute(text("SELECT postgis_version()"))
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def owner_engine():
    """The test database's owner: loads the sample (its bulk load switches triggers off) and
    cleans up committed fixtures. Tests themselves act through ``engine``, the application's role."""
    eng = create_engine(test_owner_database_url(), connect_args={"options": f"-c timezone={TIME_ZONE}"})
    yield eng
    eng.dispose()


def _rolled_back(eng):
    with eng.connect() as c:
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()


@pytest.fixture
def conn(engine):
    """A connection whose work is rolled back after the test."""
    yield from _rolled_back(engine)


@pytest.fixture
def owner_conn(owner_engine):
    """Like ``conn``, as the schema's owner (what only the owner may do: bulk loads, triggers)."""
    yield from _rolled_back(owner_engine)


@pytest.fixture
def db(conn):
    """An ORM session bound to ``conn``; its commits become savepoints and are rolled back."""
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        s.close()


# The sample district, loaded once into the test database and committed (it stays for later
# runs); every test still works inside its own rolled-back transaction on top of it.
@pytest.fixture(scope="session")
def sample_loaded(owner_engine) -> SampleDistrict:
    from sample_data.load import SampleDataPresent, load_sample, sample_loaded as present

    engine = owner_engine
    with engine.connect() as conn:
        loaded = present(conn)
    if loaded:  # loaded by an earlier run, perhaps on a since-retired password: as `make run` does
        from sample_data.accounts import sample_password
        from sample_data.load import retire_known_passwords

        with engine.begin() as conn:
            retire_known_passwords(conn, sample_password())
    if not loaded:
        try:
            with engine.begin() as conn:
                load_sample(conn, beside_other_districts=True)  # hand-built test districts may be committed
        except SampleDataPresent:
            pass  # loaded meanwhile by a parallel session
    return generate()
