"""Failed sign-ins: recorded by account and address, growing delays, logged; password checks capped.

``sign_in`` commits its failures on purpose (a failed sign-in must be remembered although the
sign-in's own transaction is rolled back), so these tests use committed accounts with their own
names and delete their rows afterwards.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, insert, select

from accounts import auth, throttle
from accounts.auth import LoginFailed, Throttled, create_user, sign_in
from db.models import LoginFailure, Person

PW = "throttle-test-pw-1"
ADDR, OTHER_ADDR = "203.0.113.5", "198.51.100.7"


@pytest.fixture
def account(engine):
    """A committed account ``t_thr``; it, and every failure recorded by these tests, is removed after."""
    def clean():
        with engine.begin() as c:
            c.execute(delete(LoginFailure).where(
                LoginFailure.username.like("t_thr%") | LoginFailure.client_address.in_([ADDR, OTHER_ADDR])))
            c.execute(delete(Person).where(Person.username == "t_thr"))

    clean()
    with engine.begin() as c:
        create_user(c, username="t_thr", full_name="节流", role="command_staff", password=PW)
    yield "t_thr"
    clean()


def _fail(engine, username="t_thr", address=ADDR):
    with pytest.raises(LoginFailed) as e:
        sign_in(engine, username, "wrong-password", client_address=address)
    return e.value


def test_failures_are_recorded_with_account_and_address(engine, account):
    for _ in range(2):
        _fail(engine)
    with engine.connect() as c:
        rows = c.execute(select(LoginFailure.username, LoginFailure.person_id, LoginFailure.client_address)
                         .where(LoginFailure.username == account)).all()
        pid = c.execute(select(Person.id).where(Person.username == account)).scalar_one()
    assert rows == [(account, pid, ADDR)] * 2


def test_an_account_is_delayed_after_a_few_failures_even_with_the_right_password(engine, account):
    for _ in range(throttle.ACCOUNT_FREE):
        assert not isinstance(_fail(engine), Throttled)          # the first few: no delay
    _fail(engine)                                                 # one more: now there is one
    with pytest.raises(Throttled) as e:                           # ... for every address
        sign_in(engine, account, PW, client_address=OTHER_ADDR)
    assert e.value.seconds >= 1


def test_an_address_is_delayed_after_failures_on_many_names(engine, account):
    for n in range(throttle.ADDRESS_FREE + 1):
        _fail(engine, username=f"t_thr_guess{n}")
    with pytest.raises(Throttled):                                # a name it has not tried yet
        sign_in(engine, account, PW, client_address=ADDR)
    assert sign_in(engine, account, PW, client_address=OTHER_ADDR).username == account


def test_the_delay_doubles_and_old_failures_stop_counting(conn):
    now = conn.execute(select(func.now())).scalar_one()  # the transaction's time, as the throttle sees it

    def wait_after(n, age=timedelta(0)):
        conn.execute(delete(LoginFailure).where(LoginFailure.username == "t_thr_calc"))
        conn.execute(insert(LoginFailure), [{"username": "t_thr_calc", "at": now - age}] * n)
        return throttle.by_account(conn, "T_THR_calc").wait_s   # the name's case does not matter

    assert wait_after(3) == 0
    assert [round(wait_after(n)) for n in (4, 5, 6, 9)] == [1, 2, 4, 32]
    assert wait_after(40) == throttle.MAX_DELAY_S
    assert wait_after(40, age=throttle.WINDOW + timedelta(seconds=1)) == 0


def test_failures_and_refusals_are_logged_without_the_password(engine, account, caplog):
    caplog.set_level(logging.INFO, logger="gridgov.accounts")
    for _ in range(throttle.ACCOUNT_FREE + 2):
        _fail(engine)
    text = caplog.text
    assert "failed sign-in for 't_thr' from 203.0.113.5" in text
    assert "sign-in for 't_thr' from 203.0.113.5 refused: wait" in text
    assert "wrong-password" not in text


def test_a_success_is_not_recorded_as_a_failure(engine, account):
    assert sign_in(engine, account, PW, client_address=ADDR).username == account
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(LoginFailure)
                         .where(LoginFailure.username == account)).scalar_one() == 0


def test_concurrent_password_checks_are_capped_near_the_cpu_count(engine):
    """Many sign-ins at once queue for MAX_PASSWORD_CHECKS argon2 slots (64 MiB each)."""
    threads_n = 4 * auth.MAX_PASSWORD_CHECKS + 2
    auth.peak_checks = 0
    start = threading.Barrier(threads_n)
    errors = []

    def attempt():
        start.wait()
        try:
            with engine.connect() as c:
                auth.authenticate(c, "t_thr_nobody", "x" * 12)
        except LoginFailed:
            pass
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=attempt) for _ in range(threads_n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors
    assert 1 <= auth.peak_checks <= auth.MAX_PASSWORD_CHECKS
