"""The live listener survives any exception and is restarted if its thread dies (issue 11 §6)."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from db import config
from db.live import ChangeListener, wait_for_version


class Boom(BaseException):
    """Escapes ``except Exception``: it kills the thread, as a real thread death would."""


def _notify(url):
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text("SELECT pg_notify('case_changed', 'cases')"))
    eng.dispose()


def _failing_once(listener, exc):
    real = listener._listen
    state = {"raised": False}

    def listen(conn):
        if not state["raised"]:
            state["raised"] = True
            raise exc
        return real(conn)

    listener._listen = listen
    return state


def test_any_exception_in_the_loop_reconnects():
    url = config.test_database_url()
    listener = ChangeListener(url, wait_s=0.2, retry_s=0.1)
    state = _failing_once(listener, KeyError("a bug"))
    listener.start()
    try:
        assert listener.wait_connected(10)
        deadline = time.monotonic() + 10
        while not (state["raised"] and listener.connected.is_set() and listener._thread.is_alive()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        v = listener.version
        _notify(url)
        wait_for_version(listener, v, timeout=10)
        assert "KeyError" in (listener.last_error or "KeyError")  # cleared again on reconnect
    finally:
        listener.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the deliberate death
def test_a_dead_thread_is_restarted_by_the_next_reader():
    url = config.test_database_url()
    listener = ChangeListener(url, wait_s=0.2, retry_s=0.1)
    _failing_once(listener, Boom())
    listener.start()
    try:
        first = listener._thread
        first.join(10)
        assert not first.is_alive()  # the thread is dead
        v = listener.version  # a reader's poll: the watchdog starts a new thread
        assert listener._thread is not first and listener._thread.is_alive()
        assert listener.wait_connected(10)
        v = wait_for_version(listener, v, timeout=10)  # reconnect bumps: readers reload
        _notify(url)
        wait_for_version(listener, v, timeout=10)
    finally:
        listener.stop()
