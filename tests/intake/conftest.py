"""The intake service over real HTTP: uvicorn in a subprocess on a free port, against a database
of its own (``<test db>_intake``, made fresh per session) holding four hand-built 0.01° grids
near the sample district (so GCJ-02 and BD-09, defined only inside China, can be tested)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from db import config
from db.cluster import drop_database, ensure_database
from db.migrate import upgrade
from db.reference import seed_reference
from db.roles import grant_app_privileges
from intake import process
from tests.factories import make_grids, square

X0, Y0, SIZE = 122.00, 41.10, 0.01  # grids 001..004: 2 × 2 squares from (X0, Y0)
INSIDE = (122.005, 41.105)          # in grid 001
OUTSIDE = (122.5, 41.5)             # in China, in no grid


@pytest.fixture(scope="session")
def intake_db_url():
    """The service's URL (the application's role, as in production); the database is made, migrated
    and seeded by the owner role, which also drops it afterwards."""
    app, owner = make_url(config.test_database_url()), make_url(config.test_owner_database_url())
    name = f"{app.database}_intake"
    o = owner.set(database=name).render_as_string(hide_password=False)
    drop_database(o)
    ensure_database(o)
    upgrade(o)
    eng = create_engine(o)
    with eng.begin() as conn:
        seed_reference(conn)
        make_grids(conn, {"001": square(X0, Y0, SIZE), "002": square(X0 + SIZE, Y0, SIZE),
                          "003": square(X0, Y0 + SIZE, SIZE), "004": square(X0 + SIZE, Y0 + SIZE, SIZE)},
                   district_code="211103")
    eng.dispose()
    role = config.app_role()
    if role:
        grant_app_privileges(o, role)
    yield app.set(database=name).render_as_string(hide_password=False)
    drop_database(o)  # and its pg_cron jobs (the migrations scheduled them)


@pytest.fixture(scope="session")
def intake_engine(intake_db_url):
    eng = create_engine(intake_db_url, connect_args={"options": "-c timezone=Asia/Shanghai"})
    yield eng
    eng.dispose()


def start_server(db_url: str, photo_dir: Path, *, workers: int = 1, **env_extra) -> tuple[subprocess.Popen, str]:
    return process.start(db_url, photo_dir, workers=workers, timeout=30, **env_extra)


stop_server = process.stop


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("photos")


@pytest.fixture(scope="session")
def server(intake_db_url, photo_dir):
    """The base URL of a running intake service (rate limits off)."""
    proc, base = start_server(intake_db_url, photo_dir, workers=2, INTAKE_MAX_PHOTO_MB=4)
    yield base
    stop_server(proc)


@pytest.fixture(scope="session")
def api(server):
    """An httpx client on the Open311 root."""
    with httpx.Client(base_url=server + "/open311/v2", timeout=30) as c:
        yield c


def new_key(engine, channel: str = "hotline", name: str | None = None) -> tuple[int, str]:
    from intake.keys import create_key

    with engine.begin() as conn:
        rec, key = create_key(conn, channel=channel, name=name)
    return rec.id, key


@pytest.fixture(scope="session")
def key(intake_engine) -> str:
    return new_key(intake_engine, "hotline", "tests")[1]
