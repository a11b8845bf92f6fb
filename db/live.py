"""Live updates: one listener thread per process turns NOTIFY into a version number.

Migration 0001 has statement-level triggers that ``pg_notify('case_changed', table)`` whenever
``cases`` or ``case_event`` change. A ``ChangeListener`` holds one autocommit psycopg2
connection that LISTENs on that channel and waits with ``select`` + ``poll``; each batch of
notifications bumps ``version``. Readers key their caches on the version, so a wall that polls
it cheaply (every second) reloads only when something really changed.

NOTIFY is delivered only after commit and is never replayed: a notification sent while the
connection was down is lost. So every (re)connect also bumps the version, which makes every
reader reload everything.

With a read replica (``db.replica``) the listener also records the primary's WAL position at
each bump (``lsn``): it is at or after the commit that sent the notice, so a reader on the
standby that waits until that position is replayed sees at least what the notice announced.
"""
from __future__ import annotations

import logging
import select
import threading
import time

import psycopg2
import psycopg2.extensions
from sqlalchemy import text
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "case_changed"


def libpq_dsn(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg2://…``) as a libpq connection string."""
    u = make_url(url)
    parts = {"host": u.host, "port": u.port, "dbname": u.database, "user": u.username,
             "password": u.password, "application_name": "gridgov-listener"}
    parts.update({k: v for k, v in u.query.items() if isinstance(v, str)})
    return " ".join(f"{k}='{_q(v)}'" for k, v in parts.items() if v is not None)


def _q(v) -> str:
    return str(v).replace("\\", "\\\\").replace("'", "\\'")


class ChangeListener:
    """LISTEN on ``channel`` in a daemon thread; ``version`` grows on every change and reconnect."""

    def __init__(self, url: str, channel: str = CHANNEL, *, wait_s: float = 1.0, retry_s: float = 1.0):
        self._dsn = libpq_dsn(url)
        self.channel = channel
        self._wait_s = wait_s
        self._retry_s = retry_s
        self._version = 0
        self._lsn: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.last_error: str | None = None

    @property
    def version(self) -> int:
        # The watchdog: every reader polls this about once a second, so a thread that died (an
        # error the loop could not catch) is started again within a poll, with a reload.
        if not self._stop.is_set() and self._thread is not None and not self._thread.is_alive():
            log.error("live listener thread had died (%s); restarting it", self.last_error)
            self.start()
        return self._version

    @property
    def lsn(self) -> str | None:
        """The primary's WAL position at the latest bump: data that new is what it announced."""
        return self._lsn

    def _bump(self, conn=None) -> None:
        lsn = None
        if conn is not None:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_current_wal_lsn()::text")
                lsn = cur.fetchone()[0]
        with self._lock:
            if lsn is not None:
                self._lsn = lsn
            self._version += 1

    def start(self) -> "ChangeListener":
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"listen-{self.channel}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.connected.wait(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            conn = None
            try:
                conn = psycopg2.connect(self._dsn, connect_timeout=5,
                                        keepalives=1, keepalives_idle=10, keepalives_interval=5,
                                        keepalives_count=3)
                conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {self.channel}")
                # Anything may have changed while we were not listening: reload everything.
                self._bump(conn)
                self.connected.set()
                self.last_error = None
                self._listen(conn)
            except (psycopg2.Error, OSError) as e:
                self.last_error = f"{type(e).__name__}: {e}".strip()
                log.warning("live listener lost its connection (%s); reconnecting", self.last_error)
            except Exception as e:  # noqa: BLE001 - any bug must not end live updates for the process
                self.last_error = f"{type(e).__name__}: {e}".strip()
                log.exception("live listener failed; reconnecting")
            except BaseException as e:  # the thread dies; the watchdog in ``version`` restarts it
                self.last_error = f"{type(e).__name__}: {e}".strip()
                raise
            finally:
                self.connected.clear()
                if conn is not None:
                    try:
                        conn.close()
                    except psycopg2.Error:
                        pass
            self._stop.wait(self._retry_s)

    def _listen(self, conn) -> None:
        while not self._stop.is_set():
            if select.select([conn], [], [], self._wait_s) == ([], [], []):
                # Nothing arrived: a cheap round trip notices a dead server without waiting
                # for TCP keepalive (notifications read during it land in conn.notifies).
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
            else:
                conn.poll()
            if conn.notifies:
                conn.notifies.clear()
                self._bump(conn)


def announce(conn, what: str) -> None:
    """A change notice for a write no trigger announces (a table outside ``cases`` and
    ``case_event`` whose rows a page shows: an answered possible duplicate, a reporter's rating or
    request for a second look): sent when ``conn``'s transaction commits, like the triggers' own."""
    conn.execute(text("SELECT pg_notify(:ch, :what)"), {"ch": CHANNEL, "what": what})


def wait_for_version(listener: ChangeListener, above: int, timeout: float = 5.0) -> int:
    """Block until ``listener.version > above`` (tests and benchmarks); returns the version."""
    deadline = time.monotonic() + timeout
    while listener.version <= above:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no change notification within {timeout}s")
        time.sleep(0.01)
    return listener.version
