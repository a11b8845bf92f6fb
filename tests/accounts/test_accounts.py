"""Accounts over the database: actors carry their unit, user commands say what is wrong."""
from __future__ import annotations

import pytest
from sqlalchemy import select, update

from accounts.actors import UnknownActor, load_actor
from accounts.auth import (
    AccountError,
    LoginFailed,
    actor_by_sso,
    authenticate,
    create_user,
    link_sso,
    set_password,
)
from db.models import Community, Department, Person

PW = "a-long-test-password"


def test_a_community_person_belongs_to_its_communitys_subdistrict(world):
    actor = world["disp_c3"]
    assert (actor.unit_level, actor.community_id, actor.subdistrict_id) == ("community", world.com["C3"], world.sub["S2"])
    assert world["disp_s1"].subdistrict_id == world.sub["S1"] and world["disp_s1"].community_id is None


def test_an_inactive_or_unknown_person_is_no_actor(world):
    pid = world["cmd"].person_id
    world.conn.execute(update(Person).where(Person.id == pid).values(active=False))
    with pytest.raises(UnknownActor, match=str(pid)):
        load_actor(world.conn, pid)
    with pytest.raises(UnknownActor):
        load_actor(world.conn, -1)


@pytest.mark.parametrize("level, unit_of", [
    ("community", lambda w: (Community, w.com["C1"])),
    ("department", lambda w: (Department, w.dept["HWC"])),
])
def test_create_user_finds_the_unit_by_its_code(world, level, unit_of):
    model, unit_id = unit_of(world)
    code = world.conn.execute(select(model.code).where(model.id == unit_id)).scalar_one()
    role = "dispatcher" if level == "community" else "department_staff"
    pid = create_user(world.conn, username=f"t_new_{level}", full_name="新用户", role=role, password=PW,
                      unit_level=level, unit=code)
    actor = authenticate(world.conn, f"t_new_{level}", PW)
    assert actor.person_id == pid and getattr(actor, f"{level}_id") == unit_id
    if level == "community":
        assert actor.subdistrict_id == world.sub["S1"]


def test_create_user_names_an_unknown_unit(world):
    with pytest.raises(AccountError, match="no subdistrict with code '000000000'"):
        create_user(world.conn, username="t_nounit", full_name="x", role="dispatcher", password=PW,
                    unit_level="subdistrict", unit="000000000")


def test_set_password_replaces_the_hash_and_names_an_unknown_account(world):
    create_user(world.conn, username="t_setpw", full_name="x", role="admin", password=PW)
    set_password(world.conn, "t_setpw", "another-password")
    with pytest.raises(LoginFailed):
        authenticate(world.conn, "t_setpw", PW)
    assert authenticate(world.conn, "t_setpw", "another-password").username == "t_setpw"
    with pytest.raises(AccountError, match="no account 't_nobody'"):
        set_password(world.conn, "t_nobody", "another-password")


ISS = "https://idp.example.gov.cn/realms/city"


def test_single_sign_on_finds_only_active_linked_accounts(world):
    link_sso(world.conn, "t_planner", issuer=ISS, subject="8f3a-planner")
    assert actor_by_sso(world.conn, ISS, "8f3a-planner").role == "planner"
    world.conn.execute(update(Person).where(Person.username == "t_planner").values(active=False))
    with pytest.raises(LoginFailed, match="8f3a-planner"):
        actor_by_sso(world.conn, ISS, "8f3a-planner")


@pytest.mark.parametrize("issuer, subject", [
    (ISS, "t_planner"),                          # the username as subject: not a link
    ("https://other.example/realm", "8f3a-planner"),  # the same subject at another provider
    (ISS, ""), ("", "8f3a-planner"),
])
def test_single_sign_on_needs_the_linked_issuer_and_subject(world, issuer, subject):
    link_sso(world.conn, "t_planner", issuer=ISS, subject="8f3a-planner")
    with pytest.raises(LoginFailed):
        actor_by_sso(world.conn, issuer, subject)


def test_one_identity_links_to_one_account(world):
    link_sso(world.conn, "t_planner", issuer=ISS, subject="8f3a")
    with pytest.raises(AccountError, match="already linked to 't_planner'"):
        link_sso(world.conn, "t_admin", issuer=ISS, subject="8f3a")
