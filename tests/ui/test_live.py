"""db.live: NOTIFY from the case triggers becomes a version number; a lost connection reloads all."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from db.config import test_database_url
from db.live import ChangeListener, libpq_dsn, wait_for_version

APP_NAME = "gridgov-listener"


@pytest.fixture
def listener():
    lst = ChangeListener(test_database_url(), wait_s=0.2, retry_s=0.2).start()
    assert lst.wait_connected(10)
    yield lst
    lst.stop()


def _touch_cases(engine, *, commit: bool) -> None:
    # A statement on cases that changes nothing still fires the statement-level trigger.
    with engine.connect() as c:
        tx = c.begin()
        c.execute(text("UPDATE cases SET updated_at = updated_at WHERE false"))
        tx.commit() if commit else tx.rollback()


def test_a_committed_change_bumps_the_version(engine, listener):
    v = listener.version
    _touch_cases(engine, commit=True)
    assert wait_for_version(listener, v, timeout=5) > v


def test_a_rolled_back_change_does_not(engine, listener):
    v = listener.version
    _touch_cases(engine, commit=False)
    time.sleep(0.6)
    assert listener.version == v


def test_after_a_lost_connection_it_reconnects_and_asks_everyone_to_reload(engine, listener):
    v = listener.version
    with engine.connect() as c:
        killed = c.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = :a AND pid <> pg_backend_pid() AND datname = current_database()"),
            {"a": APP_NAME}).scalar_one()
        c.commit()
    assert killed >= 1
    assert wait_for_version(listener, v, timeout=10) > v     # reconnect = reload everything
    assert listener.wait_connected(10)
    v = listener.version
    _touch_cases(engine, commit=True)
    assert wait_for_version(listener, v, timeout=5) > v      # and it listens again


def test_dsn_from_a_sqlalchemy_url_keeps_quotes_out_of_the_password():
    dsn = libpq_dsn("postgresql+psycopg2://u:p'w@h:5433/db")
    assert "password='p\\'w'" in dsn and "port='5433'" in dsn and "dbname='db'" in dsn
