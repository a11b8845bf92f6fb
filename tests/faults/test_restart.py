"""PostgreSQL restarted while a dispatcher acts and a wall listens (issue 11 §6).

The restart is of this checkout's own local cluster (``pg_ctl restart -m fast``), and the test
waits until it accepts connections again, so later tests find it up.
"""
from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from db import cluster, config
from db.live import ChangeListener, wait_for_version
from dispatch import service
from dispatch.errors import DatabaseUnavailable
from tests.faults.conftest import local_cluster_only
from tests.world import bring_to, build_world


def _counts(eng, case_id):
    with eng.connect() as c:
        return c.execute(text("SELECT (SELECT version FROM cases WHERE id = :i), (SELECT status FROM cases WHERE id = :i), "
                              "(SELECT count(*) FROM case_event WHERE case_id = :i)"), {"i": case_id}).one()


def test_restart_try_again_then_retry_succeeds_and_wall_resumes(scratch_url, engine, owner_engine):
    local_cluster_only()
    try:
        _restart_while_acting(scratch_url)
    finally:
        # The suite's shared engines (no pre-ping, unlike the app's) hold connections the restart
        # cut: drop them so that the tests after this one connect afresh.
        engine.dispose()
        owner_engine.dispose()


def _restart_while_acting(scratch_url):
    eng = create_engine(scratch_url, pool_size=2, connect_args={"options": f"-c timezone={config.TIME_ZONE}"})
    with eng.begin() as c:
        w = build_world(c)
        case = bring_to(w, "registered")
    listener = ChangeListener(scratch_url, wait_s=0.2, retry_s=0.2).start()
    try:
        assert listener.wait_connected(10)
        before = _counts(eng, case["id"])
        v0 = listener.version
        # The dispatcher's pooled connection is open when the server goes away under it.
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
            cluster.restart()
            with pytest.raises(DatabaseUnavailable) as err:
                service.transition(c, case_id=case["id"], action="dispatch", actor=w["admin"],
                                   department_id=w.dept["HWC"], expected_version=case["version"])
        assert "请稍后重试" in str(err.value) and "Try again" in err.value.message("en")
        assert _counts(eng, case["id"]) == before  # nothing half-written
        # The retry, on a fresh connection once the server is back, succeeds exactly once.
        deadline = time.monotonic() + 30
        while True:
            try:
                with eng.connect() as c:
                    service.transition(c, case_id=case["id"], action="dispatch", actor=w["admin"],
                                       department_id=w.dept["HWC"], expected_version=case["version"])
                    c.commit()
                break
            except DatabaseUnavailable:
                assert time.monotonic() < deadline, "the database did not come back"
                time.sleep(0.5)
        version, status, events = _counts(eng, case["id"])
        assert (version, status, events) == (before[0] + 1, "dispatched", before[2] + 1)
        # The wall's listener reconnected (which bumps the version: reload everything) and hears again.
        assert listener.wait_connected(30)
        v1 = wait_for_version(listener, v0, timeout=30)
        with eng.begin() as c:
            c.execute(text("SELECT pg_notify('case_changed', 'cases')"))
        wait_for_version(listener, v1, timeout=10)
    finally:
        listener.stop()
        eng.dispose()
