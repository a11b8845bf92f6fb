"""The app's timer applies a committed scheduled change once it is due (no one logged in), and
its NOTIFY wakes the live listener (the walls redraw). Committed work needs a database of its
own: a scratch database, dropped afterwards."""
from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import create_engine, text

from db.config import TIME_ZONE
from db.engine import get_engine
from db.live import ChangeListener
from db.schedule import DueChangeTicker
from planning.publish import publish
from tests.factories import scratch_database
from tests.planning.draft_rows import draft_of, set_geom
from tests.planning.test_publish import G1, G2, box
from tests.world import build_world


def test_ticker_applies_a_due_change_committed_by_another_session_and_wakes_the_walls():
    with scratch_database("ticker") as url:
        eng = create_engine(url, connect_args={"options": f"-c timezone={TIME_ZONE}"})
        try:
            with eng.begin() as conn:
                w = build_world(conn)
                d = draft_of(conn, [w.com["C1"], w.com["C2"]])
                set_geom(conn, d, G1, box(0, 0.5))
                set_geom(conn, d, G2, box(0.5, 2))
                eff = conn.execute(text("SELECT clock_timestamp()")).scalar_one() + timedelta(seconds=1)
                change = publish(conn, d, actor_id=None, reason="一秒后生效", effective_at=eff).change_id
            ticker = DueChangeTicker(url)
            assert ticker.tick() == 0  # not due yet
            listener = ChangeListener(url).start()
            assert listener.wait_connected(5.0)
            time.sleep(1.1)
            v0 = listener.version
            assert ticker.tick() == 1 and ticker.last_error is None
            deadline = time.monotonic() + 5
            while listener.version == v0 and time.monotonic() < deadline:
                time.sleep(0.05)
            listener.stop()
            assert listener.version > v0  # NOTIFY case_changed 'boundary': the walls reload their base map
            with eng.connect() as conn:
                assert conn.execute(text("SELECT status FROM boundary_change WHERE id = :i"),
                                    {"i": change}).scalar_one() == "applied"
                assert conn.execute(text("SELECT count(*) FROM grid_version")).scalar_one() == 5
        finally:
            eng.dispose()
            get_engine(url).dispose()  # the ticker's pooled connections, before the database is dropped
