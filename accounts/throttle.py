"""Failed sign-ins: recorded in the database, and growing delays per account and per address.

Every failed sign-in is a ``login_failure`` row (username as typed, the person it named, the
client's address). Before a password is checked, the recent failures (``WINDOW``) for that
username and for that address decide how long the caller must wait since the last one: nothing
for the first few, then a delay that doubles with each further failure, up to ``MAX_DELAY``.
The address gets more free attempts than an account because several people may share one
(an office behind one NAT). The throttle refuses rather than sleeps, so a refused attempt costs
neither a password check (64 MiB of argon2) nor a server thread.

The counts are kept in the database, not in a session, so a new browser session, a second
server process or a restart does not reset them. Failures are logged (``gridgov.accounts``)
with the username and address, never the password.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from db.models import LoginFailure, Person

log = logging.getLogger("gridgov.accounts")

WINDOW = timedelta(minutes=15)        # failures older than this no longer count
MAX_DELAY_S = 15 * 60
ACCOUNT_FREE, ADDRESS_FREE = 3, 10    # failures allowed before any delay
MAX_USERNAME, MAX_ADDRESS = 200, 64   # as the table's checks (migration 0004)


@dataclass(frozen=True)
class Recent:
    count: int
    wait_s: float   # seconds still to wait before the next attempt (0: may try now)


def delay_after(failures: int, free: int) -> float:
    """Seconds to wait after the ``failures``-th recent failure: 0 up to ``free``, then 1, 2, 4, …

    >>> [delay_after(n, 3) for n in range(1, 8)]
    [0, 0, 0, 1, 2, 4, 8]
    >>> delay_after(40, 3) == MAX_DELAY_S
    True
    """
    if failures <= free:
        return 0
    return min(MAX_DELAY_S, 2 ** min(failures - free - 1, 30))


def _recent(conn: Connection, where, free: int) -> Recent:
    row = conn.execute(select(func.count(), func.max(LoginFailure.at), func.now())
                       .where(where, LoginFailure.at > func.now() - WINDOW)).one()
    count, last, now = row
    if not count:
        return Recent(0, 0.0)
    left = (last + timedelta(seconds=delay_after(count, free)) - now).total_seconds()
    return Recent(count, max(0.0, left))


def _norm_user(username: str | None) -> str:
    return (username or "").strip()[:MAX_USERNAME]


def by_account(conn: Connection, username: str) -> Recent:
    return _recent(conn, func.lower(LoginFailure.username) == _norm_user(username).lower(), ACCOUNT_FREE)


def by_address(conn: Connection, address: str | None) -> Recent:
    if not address:
        return Recent(0, 0.0)
    return _recent(conn, LoginFailure.client_address == address[:MAX_ADDRESS], ADDRESS_FREE)


def wait_seconds(conn: Connection, username: str, address: str | None) -> float:
    """How long the next attempt for ``username`` from ``address`` must wait (0: now)."""
    return max(by_account(conn, username).wait_s, by_address(conn, address).wait_s)


def record_failure(conn: Connection, username: str, address: str | None) -> None:
    """Store and log one failed sign-in (the caller commits it even though the sign-in failed)."""
    name = _norm_user(username)
    pid = conn.execute(select(Person.id).where(Person.username == name)).scalar_one_or_none()
    conn.execute(insert(LoginFailure).values(username=name, person_id=pid,
                                             client_address=address[:MAX_ADDRESS] if address else None))
    log.warning("failed sign-in for %r from %s (%d for this name in %d min)", name, address or "local/proxy",
                by_account(conn, name).count, WINDOW.seconds // 60)
