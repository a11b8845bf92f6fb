"""The app's timer applies a committed scheduled change once it is due (no one logged in)."""
from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import text

from db.config import test_database_url
from db.live import ChangeListener
from db.schedule import DueChangeTicker
from planning.publish import publish
from tests.planning.draft_rows import draft_of, set_geom
from tests.planning.test_publish import box
from tests.world import build_world


def test_ticker_applies_a_due_change_committed_by_another_session_and_wakes_the_walls(engine, owner_engine):
    with engine.begin() as conn:
        w = build_world(conn)
        d = draft_of(conn, [w.com["C1"], w.com["C2"]])
        set_geom(conn, d, "999998001001001", box(0, 0.5))
        set_geom(conn, d, "999998001002001", box(0.5, 2))
        eff = conn.execute(text("SELECT clock_timestamp()")).scalar_one() + timedelta(seconds=1)
        change = publish(conn, d, actor_id=None, reason="一秒后生效", effective_at=eff).change_id
    try:
        conn_wait = engine.connect()
        conn_wait.execute(text("SELECT pg_sleep(1.2)"))
        conn_wait.close()
        listener = ChangeListener(test_database_url()).start()
        assert listener.wait_connected(5.0)
        v0 = listener.version
        ticker = DueChangeTicker(test_database_url())
        assert ticker.tick() >= 1 and ticker.last_error is None
        deadline = time.monotonic() + 5
        while listener.version == v0 and time.monotonic() < deadline:
            time.sleep(0.05)
        listener.stop()
        assert listener.version > v0  # NOTIFY case_changed 'boundary': the walls reload their base map
        with engine.connect() as conn:
            assert conn.execute(text("SELECT status FROM boundary_change WHERE id = :i"),
                                {"i": change}).scalar_one() == "applied"
    finally:
        _drop_world(owner_engine)


def _drop_world(owner_engine) -> None:
    """Remove the committed hand-built district 999998 and everything that points at it."""
    with owner_engine.begin() as c:
        c.execute(text("SET LOCAL session_replication_role = replica"))  # the event log's append-only trigger
        c.execute(text("""
            CREATE TEMP TABLE _w ON COMMIT DROP AS
            SELECT cm.id AS community_id FROM community cm JOIN subdistrict s ON s.id = cm.subdistrict_id
            JOIN district d ON d.id = s.district_id WHERE d.code = '999998'"""))
        for sql in (
            "DELETE FROM boundary_change_grid WHERE community_id IN (SELECT community_id FROM _w)",
            "DELETE FROM boundary_change_responsibility WHERE community_id IN (SELECT community_id FROM _w)",
            "DELETE FROM case_event WHERE case_id IN (SELECT id FROM cases WHERE community_id IN "
            "(SELECT community_id FROM _w))",
            "DELETE FROM cases WHERE community_id IN (SELECT community_id FROM _w)",
            "DELETE FROM grid_version WHERE grid_id IN (SELECT id FROM unit_grid WHERE community_id IN "
            "(SELECT community_id FROM _w))",
            "DELETE FROM boundary_change b WHERE kind = 'publish' AND NOT EXISTS "
            "(SELECT 1 FROM boundary_change_grid s WHERE s.change_id = b.id) AND NOT EXISTS "
            "(SELECT 1 FROM grid_version v WHERE v.change_id = b.id)",
            "DELETE FROM boundary_draft WHERE district_id IN (SELECT id FROM district WHERE code = '999998')",
            "DELETE FROM unit_grid WHERE community_id IN (SELECT community_id FROM _w)",
            "DELETE FROM responsibility_grid WHERE community_id IN (SELECT community_id FROM _w)",
            "DELETE FROM person WHERE username LIKE 't\\_%' AND (community_id IN (SELECT community_id FROM _w) "
            "OR subdistrict_id IN (SELECT s.id FROM subdistrict s JOIN district d ON d.id = s.district_id "
            "WHERE d.code = '999998') OR username IN ('t_disp_d', 't_staff_hwc', 't_staff_hwc2', 't_staff_cgzf', "
            "'t_cmd', 't_planner', 't_admin'))",
            "DELETE FROM community WHERE id IN (SELECT community_id FROM _w)",
            "DELETE FROM subdistrict WHERE district_id IN (SELECT id FROM district WHERE code = '999998')",
            "DELETE FROM district WHERE code = '999998'",
        ):
            c.execute(text(sql))
