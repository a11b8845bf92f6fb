"""Sign-ins that survive a reload (accounts.sessions, migration 0031), in the rolled-back world."""
from __future__ import annotations

from sqlalchemy import text

from accounts import sessions
from tests.world import world  # noqa: F401  (fixture)

DAY = 86400.0


def test_a_token_gives_its_person_back_until_revoked(world):
    c, pid = world.conn, world["admin"].person_id
    token = sessions.create(c, pid, client_address="10.0.0.7")
    assert sessions.restore(c, token, idle_s=DAY, max_age_s=DAY) == pid
    stored = c.execute(text("SELECT token_sha256, client_address FROM web_session WHERE person_id = :p"),
                       {"p": pid}).one()
    assert token.encode() not in bytes(stored.token_sha256) and len(bytes(stored.token_sha256)) == 32
    assert stored.client_address == "10.0.0.7"
    sessions.revoke(c, token)
    assert sessions.restore(c, token, idle_s=DAY, max_age_s=DAY) is None


def test_wrong_idle_old_or_inactive_is_nothing(world):
    c, pid = world.conn, world["admin"].person_id
    assert sessions.restore(c, "not-a-token", idle_s=DAY, max_age_s=DAY) is None
    assert sessions.restore(c, None, idle_s=DAY, max_age_s=DAY) is None
    assert sessions.restore(c, "x" * 500, idle_s=DAY, max_age_s=DAY) is None
    idle = sessions.create(c, pid)
    c.execute(text("UPDATE web_session SET last_seen_at = now() - interval '31 minutes' WHERE revoked_at IS NULL"))
    assert sessions.restore(c, idle, idle_s=30 * 60, max_age_s=DAY) is None
    old = sessions.create(c, pid)
    c.execute(text("UPDATE web_session SET created_at = now() - interval '13 hours' WHERE revoked_at IS NULL"))
    assert sessions.restore(c, old, idle_s=DAY, max_age_s=12 * 3600) is None
    live = sessions.create(c, pid)
    c.execute(text("UPDATE person SET active = false WHERE id = :p"), {"p": pid})
    assert sessions.restore(c, live, idle_s=DAY, max_age_s=DAY) is None


def test_a_deactivated_person_loses_every_sign_in(world):
    c, pid = world.conn, world["admin"].person_id
    a, b = sessions.create(c, pid), sessions.create(c, pid)
    other = sessions.create(c, world["planner"].person_id)
    assert sessions.revoke_person(c, pid) == 2
    assert sessions.restore(c, a, idle_s=DAY, max_age_s=DAY) is None
    assert sessions.restore(c, b, idle_s=DAY, max_age_s=DAY) is None
    assert sessions.restore(c, other, idle_s=DAY, max_age_s=DAY) == world["planner"].person_id
