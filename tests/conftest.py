"""Shared fixtures: a real PostGIS test database, each test inside a rolled-back transaction."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from db.config import test_database_url


@pytest.fixture(scope="session")
def engine():
    url = test_database_url()
    eng = create_engine(url, connect_args={"options": "-c timezone=Asia/Shanghai"})
    with eng.connect() as c:
        c.execute(text("SELECT postgis_version()"))
    yield eng
    eng.dispose()


@pytest.fixture
def conn(engine):
    """A connection whose work is rolled back after the test."""
    with engine.connect() as c:
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()


@pytest.fixture
def db(conn):
    """An ORM session bound to ``conn``; its commits become savepoints and are rolled back."""
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        s.close()
