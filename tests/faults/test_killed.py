"""The app process killed in the middle of a transition (issue 11 §6): a subprocess runs
``transition()`` inside its transaction, reports that the UPDATE and the event are written, and
is SIGKILLed before it commits. The case must be wholly before; its row lock must not outlive
the process, so the next dispatcher's move goes through."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from sqlalchemy import create_engine, text

from db import config
from dispatch import service
from tests.world import bring_to, build_world

CHILD = textwrap.dedent("""
    import sys, time
    from sqlalchemy import create_engine
    from accounts.actors import load_actor
    from dispatch import service
    url, case_id, person_id, dept = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with create_engine(url).connect() as c:
        c.begin()
        service.transition(c, case_id=case_id, action="dispatch", actor=load_actor(c, person_id), department_id=dept)
        print("written", flush=True)
        time.sleep(120)  # killed here, before the commit
        c.commit()
""")


def _state(eng, case_id):
    with eng.connect() as c:
        return c.execute(text("SELECT (SELECT status FROM cases WHERE id = :i), (SELECT version FROM cases WHERE id = :i), "
                              "(SELECT count(*) FROM case_event WHERE case_id = :i)"), {"i": case_id}).one()


def test_killed_mid_transition_leaves_the_case_wholly_before(scratch_url):
    eng = create_engine(scratch_url, connect_args={"options": f"-c timezone={config.TIME_ZONE} -c lock_timeout=10s"})
    with eng.begin() as c:
        w = build_world(c)
        case = bring_to(w, "registered")
    before = _state(eng, case["id"])
    child = subprocess.Popen([sys.executable, "-c", CHILD, scratch_url, str(case["id"]), str(w["admin"].person_id),
                              str(w.dept["HWC"])], cwd=config.ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "written"
        assert _state(eng, case["id"]) == before  # not visible: uncommitted
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    assert _state(eng, case["id"]) == before  # wholly before: no status, version or event of the move
    # The dead session's lock is gone with it: the same move by the next person succeeds.
    with eng.begin() as c:
        service.transition(c, case_id=case["id"], action="dispatch", actor=w["admin"], department_id=w.dept["HWC"],
                           expected_version=before[1])
    assert _state(eng, case["id"]) == ("dispatched", before[1] + 1, before[2] + 1)
    eng.dispose()
