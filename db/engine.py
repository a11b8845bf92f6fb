"""Engines and sessions. One engine per URL (and time-out choice) per process.

The application's connections (``timeouts=True``: the pages, the frame) carry a lock time-out
and a statement time-out, so a page waiting on a lock held elsewhere, or on a runaway query,
is refused and says so instead of hanging; ``GRIDGOV_LOCK_TIMEOUT_MS`` (default 3000) and
``GRIDGOV_STATEMENT_TIMEOUT_MS`` (default 20000) set them, 0 turns one off. Command-line work
(loading the sample, benchmarks over a million cases, migrations) runs without them.
"""
from __future__ import annotations

import os
from functools import lru_cache

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.config import TIME_ZONE, database_url, test_database_url


LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS = 3000, 20000
# SQLSTATEs of a statement the server refused for taking too long: the page says so
TIMEOUT_CODES = {"57014": "statement", "55P03": "lock"}  # query_canceled, lock_not_available


def app_timeouts() -> tuple[int, int]:
    """(lock, statement) time-outs in milliseconds for the application's connections."""
    return (int(os.environ.get("GRIDGOV_LOCK_TIMEOUT_MS") or LOCK_TIMEOUT_MS),
            int(os.environ.get("GRIDGOV_STATEMENT_TIMEOUT_MS") or STATEMENT_TIMEOUT_MS))


def get_engine(url: str | None = None, *, timeouts: bool = False) -> Engine:
    """The engine for ``url``; ``timeouts=True`` for the application's connections."""
    return _engine(url or database_url(), app_timeouts() if timeouts else None)


@lru_cache(maxsize=8)
def _engine(url: str, timeouts: tuple[int, int] | None) -> Engine:
    options = f"-c timezone={TIME_ZONE}"
    if timeouts:
        options += f" -c lock_timeout={timeouts[0]} -c statement_timeout={timeouts[1]}"
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"options": options, "application_name": "gridgov"},
    )


def command_engine(test: bool = False) -> Engine:
    """The engine a command-line command acts on: the test database with ``--test``, else the
    application's."""
    return get_engine(test_database_url() if test else database_url())


def refused_for_time(e: BaseException) -> str | None:
    """``"lock"`` or ``"statement"`` when ``e`` is the server refusing a statement that waited
    or ran too long (the time-outs above), else None."""
    return TIMEOUT_CODES.get(getattr(getattr(e, "orig", None), "pgcode", None))


def session(url: str | None = None) -> Session:
    return sessionmaker(get_engine(url), expire_on_commit=False)()
