"""Who has a case open ("X 正在处理此案件"), kept fresh by the server process, not by script runs.

A panel showing a case marks the person's presence when it is drawn (``dispatch.desk.keep_presence``)
and hands the session to this process's ``PresenceKeeper``. The keeper's thread renews the mark
every ``HEARTBEAT_S`` for every session still connected (a closed tab's mark then runs out within
``dispatch.desk.PRESENCE_SECONDS``, as before), and notices when the others on a session's case
are no longer those its panel showed: it then moves its generation (``gen``), which the desk beacon
carries (``ui.wall_view.desk_beacon``), so the page's watcher in the browser asks for a rerun and
the page redraws the notice.

Why not a ``run_every`` fragment, as before (issue 8): a script run every 20 s on every desk with a
case open is one more run that can start right after a click's run and make Streamlit send that
run's finish as "finished early for a rerun", leaving stale buttons on screen (``ui.wall_view``,
``desk_watch``). Here an idle desk runs no script at all.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import streamlit as st

from accounts.actors import Actor
from dispatch import desk as svc

log = logging.getLogger(__name__)

HEARTBEAT_S = 20.0


@dataclass
class Held:
    actor: Actor
    case_id: int
    shown: tuple[int, ...]   # the others (person ids) the session's panel shows
    now: tuple[int, ...]     # the others as last seen by the keeper


def _alive(session_id: str) -> bool:
    """Whether the Streamlit session ``session_id`` is still connected (no runtime: a test's)."""
    from streamlit.runtime import Runtime

    try:
        return Runtime.exists() and Runtime.instance().is_active_session(session_id)
    except Exception:  # noqa: BLE001 (a runtime stopping)
        return False


class PresenceKeeper:
    """The sessions of this server process that show a case, and their presence's renewal."""

    def __init__(self, engine, interval: float = HEARTBEAT_S, alive=_alive):
        self._engine = engine
        self._interval = interval
        self._alive = alive
        self._lock = threading.Lock()
        self._held: dict[str, Held] = {}
        self.gen = 0   # moved whenever some session's others differ from what its panel shows
        self._thread = threading.Thread(target=self._run, name="case-presence", daemon=True)

    def hold(self, session_id: str, actor: Actor, case_id: int, shown: tuple[int, ...]) -> None:
        """Session ``session_id`` shows case ``case_id`` to ``actor``, with the others ``shown``."""
        with self._lock:
            self._held[session_id] = Held(actor, case_id, shown, shown)

    def drop(self, session_id: str) -> None:
        """The session shows no case any more."""
        with self._lock:
            self._held.pop(session_id, None)

    def moved(self, session_id: str) -> bool:
        """Whether the others on the session's case differ from what its panel shows."""
        with self._lock:
            h = self._held.get(session_id)
            return h is not None and h.now != h.shown

    def beat(self) -> None:
        """Renew every connected session's presence; forget the sessions gone."""
        with self._lock:
            held = list(self._held.items())
        moved = False
        for sid, h in held:
            if not self._alive(sid):
                self.drop(sid)
                continue
            with self._engine().begin() as conn:
                now = tuple(sorted(o.person_id for o in svc.keep_presence(conn, case_id=h.case_id, actor=h.actor)))
            with self._lock:
                cur = self._held.get(sid)
                if cur is h and now != h.now:
                    h.now = now
                    moved = moved or now != h.shown
        if moved:
            self.gen += 1

    def _run(self) -> None:
        while True:
            time.sleep(self._interval)
            try:
                self.beat()
            except Exception:  # noqa: BLE001 (the database away for a while: the next beat tries again)
                log.warning("case presence could not be renewed", exc_info=True)

    def start(self) -> "PresenceKeeper":
        self._thread.start()
        return self


@st.cache_resource(show_spinner=False)
def keeper() -> PresenceKeeper:
    """One keeper thread per server process."""
    from ui import kit

    return PresenceKeeper(kit.engine).start()


def session_id() -> str | None:
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None
