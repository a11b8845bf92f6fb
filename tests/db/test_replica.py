"""Reads from a streaming hot standby: a report reaches a wall that reads from the replica, and a
lagging replica never shows a state older than the notice announced (db.replica, db.live)."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db import replica
from db.config import LOCAL_USER, local_password, local_port, test_database_url
from db.live import ChangeListener, wait_for_version
from dispatch import service
from tests.ui.district import committed_test_district
from wall.frame import CASE_ID_FIELD, WallFilter, open_cases

pytestmark = pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")),
                                reason="replica-up makes a standby of the local cluster only")


def start_standby() -> bool:
    """Start the local hot standby (the UI tests point DATABASE_URL at the test database: the
    standby is still the local cluster's); whether it was already running."""
    was_running = replica.is_running()
    saved = os.environ.pop("DATABASE_URL", None)
    try:
        replica.up()
    finally:
        if saved is not None:
            os.environ["DATABASE_URL"] = saved
    return was_running


# A standby restarted after a while replays everything written meanwhile first (hundreds of MB
# after a test run's migrations); the tests' 10 s are for one report's lag, not for that.
CATCH_UP_S = 300


def wait_caught_up() -> None:
    primary = create_engine(test_database_url())
    try:
        with primary.connect() as c:
            lsn = replica.primary_lsn(c)
    finally:
        primary.dispose()
    standby = create_engine(replica.local_replica_url(make_url(test_database_url()).database))
    try:
        with standby.connect() as c:
            assert replica.wait_replayed(c, lsn, timeout=CATCH_UP_S, poll_s=0.5), f"standby not at {lsn}"
    finally:
        standby.dispose()


@pytest.fixture(scope="module")
def standby():
    was_running = start_standby()
    wait_caught_up()
    yield
    if not was_running:
        replica.down()


@pytest.fixture
def replica_env(standby, monkeypatch):
    monkeypatch.setenv("DATABASE_REPLICA_URL", "local")
    yield


@pytest.fixture
def listener(standby):
    lis = ChangeListener(test_database_url()).start()
    assert lis.wait_connected(10)
    yield lis
    lis.stop()


def _report(engine, district, tag: str) -> tuple[int, int]:
    with engine.begin() as c:
        x, y, cid = c.execute(text(
            "SELECT ST_X(ST_Centroid(gv.geom)), ST_Y(ST_Centroid(gv.geom)), g.community_id FROM grid_version gv "
            "JOIN unit_grid g ON g.id = gv.grid_id WHERE gv.valid_to IS NULL AND g.id = :g"),
            {"g": district.grid_ids[0]}).one()
        row = service.report_case(c, channel="hotline", lon=x, lat=y, crs="EPSG:4326",
                                  description=f"副本测试 {tag} [{district.code}]")
    return row["id"], cid


def _owner_on_replica():
    u = replica.local_replica_url("postgres")
    return create_engine(u.replace(u.split("//", 1)[1].split("@")[0], f"{LOCAL_USER}:{local_password()}"),
                         isolation_level="AUTOCOMMIT")


def test_a_report_reaches_a_wall_reading_from_the_replica(engine, listener, replica_env):
    with committed_test_district(engine) as world:
        d = world["district"]
        v0 = listener.version
        case_id, community = _report(engine, d, "reach")
        wait_for_version(listener, v0, timeout=10)
        with replica.reading(listener.lsn, primary_url=test_database_url(), timeout=10) as c:
            assert c.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True  # it is the standby
            now = c.execute(text("SELECT now()")).scalar_one()
            drawn = open_cases(c, WallFilter(communities=(community,)), now, "zh").points
        assert case_id in [p[CASE_ID_FIELD] for p in drawn]  # the wall's own query, on the standby


def test_a_lagging_replica_never_shows_an_older_state_than_the_notice(engine, listener, replica_env):
    owner = _owner_on_replica()
    with committed_test_district(engine) as world:
        d = world["district"]
        with owner.connect() as oc:
            oc.execute(text("SELECT pg_wal_replay_pause()"))
        try:
            v0 = listener.version
            case_id, _ = _report(engine, d, "lag")
            wait_for_version(listener, v0, timeout=10)
            stale = create_engine(replica.replica_url(test_database_url()))
            with stale.connect() as c:  # read without waiting: the standby does not have it yet
                assert c.execute(text("SELECT count(*) FROM cases WHERE id = :i"), {"i": case_id}).scalar_one() == 0
            stale.dispose()
            with replica.reading(listener.lsn, primary_url=test_database_url(), timeout=0.5) as c:
                assert c.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is False  # fell back
                assert c.execute(text("SELECT count(*) FROM cases WHERE id = :i"), {"i": case_id}).scalar_one() == 1
        finally:
            with owner.connect() as oc:
                oc.execute(text("SELECT pg_wal_replay_resume()"))
            owner.dispose()


def test_a_stopped_standby_catches_up_through_its_slot(engine, listener, replica_env):
    """Stopped while the primary writes, the standby catches up when it is started again: its
    slot holds the WAL it has not received (a standby without one failed here once the suite had
    written enough for the primary to recycle those segments)."""
    primary_owner = create_engine(f"postgresql+psycopg2://{LOCAL_USER}:{local_password()}@127.0.0.1:"
                                  f"{local_port()}/postgres",
                                  isolation_level="AUTOCOMMIT")
    with committed_test_district(engine) as world:
        replica.down()
        try:
            v0 = listener.version
            case_id, _ = _report(engine, world["district"], "catch-up")
            wait_for_version(listener, v0, timeout=10)
            with primary_owner.connect() as c:  # a new segment and a checkpoint: old ones may go
                c.execute(text("SELECT pg_switch_wal()"))
                c.execute(text("CHECKPOINT"))
                assert c.execute(text("SELECT wal_status FROM pg_replication_slots WHERE slot_name = :s"),
                                 {"s": replica.SLOT}).scalar_one() in ("reserved", "extended")
        finally:
            replica.up()
        with replica.reading(listener.lsn, primary_url=test_database_url(), timeout=15) as c:
            assert c.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True
            assert c.execute(text("SELECT count(*) FROM cases WHERE id = :i"), {"i": case_id}).scalar_one() == 1
    primary_owner.dispose()
