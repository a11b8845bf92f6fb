"""Local accounts: argon2 hashes, one answer for every kind of failed login, the login form,
``manage.py create-user``, single sign-on by issuer and subject, the signed-in person re-read on
every run, idle sessions, and a page whose statement the database refuses."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from db.config import test_database_url
from accounts import auth
from accounts.auth import AccountError, LoginFailed, authenticate, create_user
from tests.ui.conftest import ROOT, new_app

PW = "correct-horse-9"


@pytest.fixture(autouse=True)
def no_recorded_failures(engine):
    """Failed sign-ins are committed (the throttle counts them): start and end each test without
    any for the test accounts, so one test's failures do not slow the next one down."""
    def clean():
        with engine.begin() as c:
            c.execute(text("DELETE FROM login_failure WHERE username LIKE 'uit%' OR username LIKE 't_%'"))
    clean()
    yield
    clean()


@pytest.fixture
def user(conn):
    pid = create_user(conn, username="t_login", full_name="测试员", role="command_staff", password=PW)
    return pid


def test_passwords_are_stored_as_argon2id_hashes_only(conn, user):
    stored = conn.execute(text("SELECT password_hash FROM person WHERE id = :i"), {"i": user}).scalar_one()
    assert stored.startswith("$argon2id$") and PW not in stored


def test_the_right_password_gives_the_actor(conn, user):
    actor = authenticate(conn, "t_login", PW)
    assert (actor.person_id, actor.role, actor.unit_level) == (user, "command_staff", "district")


@pytest.mark.parametrize("username, password, deactivate", [
    ("t_login", "wrong-password", False),     # wrong password
    ("nobody_here", PW, False),               # unknown name
    ("t_login", PW, True),                    # inactive account
    ("t_login", "", False),
])
def test_every_failed_login_gives_the_same_answer(conn, user, username, password, deactivate):
    if deactivate:
        conn.execute(text("UPDATE person SET active = false WHERE id = :i"), {"i": user})
    with pytest.raises(LoginFailed, match="^wrong username or password$"):
        authenticate(conn, username, password)


def test_an_account_without_a_password_cannot_log_in(conn):
    conn.execute(text("INSERT INTO person(username, full_name, role, unit_level) "
                      "VALUES ('t_nopw', '无密码', 'command_staff', 'district')"))
    with pytest.raises(LoginFailed):
        authenticate(conn, "t_nopw", "")


def test_an_old_hash_is_upgraded_at_login(conn, user):
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PW)
    conn.execute(text("UPDATE person SET password_hash = :h WHERE id = :i"), {"h": weak, "i": user})
    authenticate(conn, "t_login", PW)
    stored = conn.execute(text("SELECT password_hash FROM person WHERE id = :i"), {"i": user}).scalar_one()
    assert stored != weak and not PasswordHasher().check_needs_rehash(stored)


@pytest.mark.parametrize("kw, message", [
    ({"role": "mayor"}, "unknown role"),
    ({"password": "short"}, "at least 8"),
    ({"username": "has space"}, "username"),
    ({"role": "department_staff", "unit_level": "district"}, "belongs to a department unit"),
    ({"role": "department_staff", "unit_level": "department", "unit": "NOPE"}, "no department with code"),
    ({"role": "dispatcher", "unit_level": "subdistrict"}, "needs --unit"),
])
def test_create_user_says_what_is_wrong(conn, kw, message):
    args = {"username": "t_new", "full_name": "新人", "role": "dispatcher", "password": PW, **kw}
    with pytest.raises(AccountError, match=message):
        create_user(conn, **args)


def test_create_user_refuses_a_taken_name(conn, user):
    with pytest.raises(AccountError, match="taken"):
        create_user(conn, username="t_login", full_name="x", role="admin", password=PW)


def test_manage_create_user_reads_the_password_from_stdin_and_never_prints_it(engine, wall_db):
    secret = "Cli-secret-4711"
    env = {**os.environ, "DATABASE_URL": test_database_url()}
    try:
        r = subprocess.run(
            [sys.executable, "manage.py", "create-user", "--username", "uit_cli", "--name", "命令行",
             "--role", "department_staff", "--unit-level", "department", "--unit", "CGZF", "--password-stdin"],
            input=secret + "\n", capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        assert secret not in r.stdout + r.stderr
        with engine.connect() as c:
            assert authenticate(c, "uit_cli", secret).department_id is not None
        again = subprocess.run([sys.executable, "manage.py", "create-user", "--username", "uit_cli", "--name", "x",
                                "--role", "admin", "--password-stdin"], input=secret + "\n", capture_output=True,
                               text=True, cwd=ROOT, env=env, timeout=60)
        assert again.returncode == 2 and "taken" in again.stderr and secret not in again.stderr
    finally:
        with engine.begin() as c:
            c.execute(text("DELETE FROM person WHERE username = 'uit_cli'"))


def test_pages_per_role_come_from_one_table():
    assert auth.allowed_pages("grid_worker") == ["report", "account"]
    assert "wall" in auth.allowed_pages("command_staff") and "dispatch" not in auth.allowed_pages("command_staff")
    assert all(auth.may_open("admin", p) for p in auth.PAGE_ACCESS)


# --- the login form (AppTest) -----------------------------------------------------------------

def _login(at, username, password):
    at.text_input(key="login_user").input(username)
    at.text_input(key="login_password").input(password)
    return at.button[0].click().run()


def test_signing_in_opens_the_wall(wall_db):
    at = _login(new_app().run(), "uit_command", wall_db["password"])
    assert not at.exception
    assert at.session_state["actor"].username == "uit_command"
    assert [m.label for m in at.metric][:2] == ["今日上报", "今日立案"]


def test_a_wrong_password_shows_one_message_and_no_pages(wall_db):
    at = _login(new_app().run(), "uit_command", "not-it")
    assert [e.value for e in at.error] == ["用户名或密码错误。"]
    assert "actor" not in at.session_state
    assert not at.metric


def test_repeated_failures_are_slowed_down_across_sessions(engine, wall_db):
    at = new_app().run()
    for _ in range(4):  # accounts.throttle.ACCOUNT_FREE, then a delay
        at = _login(at, "uit_command", "not-it")
    with engine.begin() as c:
        # The fourth failure asks for a wait of 1 s (throttle.delay_after), counted from that
        # failure's time: a new session (a full script run, an argon2 check) on a loaded machine
        # can take longer than that to try, and then rightly gets in. The delay's schedule is
        # the doctest's; here the failures recorded by the first session are what must slow the
        # second one, so their times are moved 10 min on (still inside throttle.WINDOW): the
        # wait they ask for cannot run out while the second session starts.
        moved = c.execute(text("UPDATE login_failure SET at = at + interval '10 minutes' "
                               "WHERE username = 'uit_command'")).rowcount
    assert moved == 4   # every failed try of the first session was recorded
    at = _login(new_app().run(), "uit_command", wall_db["password"])   # a new session, the right password: waits
    assert "actor" not in at.session_state
    assert "尝试次数过多" in at.error[0].value


def _set_person(engine, username, **values):
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with engine.begin() as c:
        c.execute(text(f"UPDATE person SET {sets} WHERE username = :u"), {**values, "u": username})


def test_a_deactivated_account_is_signed_out_at_its_next_run(engine, signed_in):
    at = signed_in("uit_command")
    assert at.metric
    _set_person(engine, "uit_command", active=False)
    try:
        at.run()
    finally:
        _set_person(engine, "uit_command", active=True)
    assert "actor" not in at.session_state and not at.metric
    assert at.text_input(key="login_user")
    assert [i.value for i in at.info] == ["该账户已停用或已变更，请联系管理员。"]


def test_a_changed_role_takes_effect_at_the_next_run(engine, signed_in):
    at = signed_in("uit_planner")
    _set_person(engine, "uit_planner", role="command_staff")
    try:
        at.run()
    finally:
        _set_person(engine, "uit_planner", role="planner")
    assert at.session_state["actor"].role == "command_staff"
    assert "指挥中心人员" in at.sidebar.caption[0].value


@pytest.mark.parametrize("minutes, idle_for, signed_out", [("30", 29 * 60, False), ("30", 31 * 60, True),
                                                           ("2", 3 * 60, True)])
def test_an_idle_session_is_signed_out(signed_in, monkeypatch, minutes, idle_for, signed_out):
    monkeypatch.setenv("GRIDGOV_IDLE_MINUTES", minutes)
    at = signed_in("uit_command")
    at.session_state["last_active"] = time.monotonic() - idle_for
    at.run()
    assert ("actor" not in at.session_state) == signed_out
    if signed_out:
        assert [i.value for i in at.info] == ["长时间未操作，已自动退出，请重新登录。"]
        assert not at.metric


def test_a_page_whose_statement_is_refused_says_so(engine, signed_in, monkeypatch):
    """A lock held elsewhere: the app's lock time-out refuses the statement and the page says so."""
    monkeypatch.setenv("GRIDGOV_LOCK_TIMEOUT_MS", "300")  # a new engine for these settings
    at = signed_in("uit_command")
    with engine.connect() as locker:
        locker.execute(text("LOCK TABLE person IN ACCESS EXCLUSIVE MODE"))  # until rolled back
        started = time.monotonic()
        at.run()
        locker.rollback()
    assert time.monotonic() - started < 10
    assert [e.value for e in at.error] == ["数据库正忙，本次操作已超时取消，请稍后重试。"]
    assert not at.exception


def test_errors_never_show_details_to_users():
    """Uncaught errors show no SQL or traceback in the browser (the server log keeps them)."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showErrorDetails"] in ("none", False)


def test_signing_out_returns_to_the_login_form(signed_in):
    at = signed_in("uit_command")
    at.sidebar.button[0].click().run()
    assert "actor" not in at.session_state
    assert at.text_input(key="login_user")


@pytest.mark.parametrize("how", ["button", "deactivated"])
def test_signing_out_ends_the_sessions_live_wall_files(engine, signed_in, how):
    from ui.wall_view import delta_feed

    at = signed_in("uit_command")
    owner = at.session_state["wall_owner"]
    mine = {k for k in delta_feed()._walls if k[3] == owner}
    assert mine, "the wall registered this session's delta file"
    names = {delta_feed()._walls[k].name for k in mine}
    if how == "button":
        at.sidebar.button[0].click().run()
    else:
        _set_person(engine, "uit_command", active=False)
        try:
            at.run()
        finally:
            _set_person(engine, "uit_command", active=True)
    assert "actor" not in at.session_state and "wall_owner" not in at.session_state
    assert not names & delta_feed().names()
    assert not any((delta_feed().directory / n).exists() for n in names)


def test_english_login_form(wall_db):
    at = new_app(lang="en").run()
    assert at.text_input(key="login_user").label == "Username"
    at = _login(at, "uit_command", "nope")
    assert at.error[0].value == "Wrong username or password."


SSO_SECRETS = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
               "client_id": "gridgov", "client_secret": "s",
               "server_metadata_url": "http://idp.local/.well-known/openid-configuration"}
ISS = "https://idp.example.gov.cn/realms/city"


def _sso_app(**claims):
    at = new_app()
    at.secrets["auth"] = SSO_SECRETS
    at.user = {"is_logged_in": True, **claims}
    return at.run()


def test_single_sign_on_never_picks_an_account_by_name_or_email(engine, wall_db):
    at = _sso_app(iss=ISS, sub="u-123", preferred_username="uit_admin", email="uit_admin@example.com",
                  name="uit_admin")
    assert "actor" not in at.session_state
    assert "u-123" in at.error[0].value


def test_single_sign_on_maps_the_linked_issuer_and_subject(engine, wall_db):
    r = subprocess.run([sys.executable, "manage.py", "link-sso", "uit_command", "--issuer", ISS, "--subject", "u-456"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env={**os.environ, "DATABASE_URL": test_database_url()})
    try:
        assert r.returncode == 0, r.stderr
        assert "actor" not in _sso_app(iss="https://evil.example", sub="u-456").session_state
        at = _sso_app(iss=ISS, sub="u-456", preferred_username="someone_else")
        assert at.session_state["actor"].username == "uit_command"
    finally:
        _set_person(engine, "uit_command", sso_issuer=None, sso_subject=None)


def test_manage_deactivate_user_signs_the_account_out(engine, signed_in, wall_db):
    at = signed_in("uit_dept")
    env = {**os.environ, "DATABASE_URL": test_database_url()}
    try:
        r = subprocess.run([sys.executable, "manage.py", "deactivate-user", "uit_dept"], capture_output=True,
                           text=True, cwd=ROOT, env=env, timeout=60)
        assert r.returncode == 0 and "deactivated" in r.stdout, r.stderr
        at.run()
        assert "actor" not in at.session_state
        with pytest.raises(LoginFailed):
            with engine.connect() as c:
                authenticate(c, "uit_dept", wall_db["password"])
        r = subprocess.run([sys.executable, "manage.py", "deactivate-user", "nobody_at_all"], capture_output=True,
                           text=True, cwd=ROOT, env=env, timeout=60)
        assert r.returncode == 2 and "no account 'nobody_at_all'" in r.stderr
    finally:
        _set_person(engine, "uit_dept", active=True)


def test_single_sign_on_is_offered_only_when_configured(wall_db):
    plain = new_app().run()
    assert not [b for b in plain.button if "统一身份认证" in b.label]
    at = new_app()
    at.secrets["auth"] = SSO_SECRETS
    at.run()
    assert [b for b in at.button if b.label == "统一身份认证登录"]
