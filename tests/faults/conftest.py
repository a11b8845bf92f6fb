"""Faults injected on this machine only: a scratch database on the local test cluster.

Committed rows are needed (a restart or a killed process must find them), and case events
cannot be deleted, so the module works in ``<test db>_faults``, created, migrated and dropped here.
"""
from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db import config
from db.cluster import ensure_database
from db.migrate import upgrade


@pytest.fixture(scope="module")
def scratch_url():
    url = make_url(config.test_owner_database_url())
    name = f"{url.database}_faults"
    scratch = url.set(database=name).render_as_string(hide_password=False)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    ensure_database(scratch)
    upgrade(scratch)
    try:
        yield scratch
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def local_cluster_only():
    if os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("restarts the project's own local cluster only, never an external server")
