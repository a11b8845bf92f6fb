"""Small helpers every page shares: the engine, the live listener, who is signed in, the language.

Pages import this module; it holds no page of its own (``ui.frame`` lists the pages).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import streamlit as st

from db.config import database_url
from db.engine import get_engine
from db import replica
from db.live import ChangeListener, wait_for_version
from db.schedule import DueChangeTicker
from accounts import sessions
from accounts.actors import Actor, UnknownActor, load_actor
from accounts.auth import PUBLIC_PAGES, may_open
from i18n import DEFAULT_LANG, normalise_lang, t

STATIC = Path(__file__).resolve().parent.parent / "static"


@st.cache_resource(show_spinner=False)
def engine():
    """The process-wide SQLAlchemy engine for ``DATABASE_URL`` (or the local cluster), with the
    application's lock and statement time-outs (``db.engine``): a page never hangs on a lock."""
    return get_engine(database_url(), timeouts=True)


def reading():
    """A connection for what walls and charts read: the read replica (``DATABASE_REPLICA_URL``)
    once it has replayed the latest change notice, else the primary (``db.replica``)."""
    return replica.reading(listener().lsn, primary_url=database_url())


@st.cache_resource(show_spinner=False)
def listener() -> ChangeListener:
    """One LISTEN thread per server process; its ``version`` keys every live reader's cache."""
    lst = ChangeListener(database_url()).start()
    lst.wait_connected(3.0)  # so the first wall is not drawn as "reconnecting"
    boundary_ticker()
    return lst


def await_notice(since: int, timeout: float = 2.0) -> None:
    """After a write: wait (at most ``timeout`` s) until this server's change listener has moved
    past ``since`` (its ``version`` read before the write), so a page drawn next, a wall opened
    from the menu included, shows the change rather than what was cached before its notice. A
    listener that is reconnecting is not waited for: the walls redraw once it is back."""
    try:
        wait_for_version(listener(), since, timeout=timeout)
    except TimeoutError:
        pass


@st.cache_resource(show_spinner=False)
def boundary_ticker() -> DueChangeTicker:
    """Applies scheduled boundary changes when due where the server has no pg_cron (db/schedule.py)."""
    return DueChangeTicker(database_url()).start()


def lang() -> str:
    return normalise_lang(st.session_state.get("lang", DEFAULT_LANG))


def tr(key: str, **fmt) -> str:
    """``t(key)`` in the session's language."""
    return t(key, lang(), **fmt)


def keep_choice(key: str) -> None:
    """Call before a choice widget (selectbox, radio, multiselect, segmented control) whose options
    are worded in the session's language: Streamlit keeps such a value as the label it shows, so
    when the language changes the old label is among none of the new ones and the choice is
    silently dropped while the screen still shows it (a report refused "choose a category", the
    wall's filters gone). The value of the last run in the other language is set again, by value."""
    kept_ = st.session_state.setdefault("_kept_choices", {})
    if key in kept_ and kept_[key][0] != lang():
        st.session_state[key] = kept_[key][1]


def kept(key: str, value):
    """Remember ``value`` of ``key``'s widget for ``keep_choice``; returns it."""
    st.session_state.setdefault("_kept_choices", {})[key] = (lang(), value)
    return value


def actor() -> Actor | None:
    """The signed-in person as re-read at the start of this run (``refresh_actor``)."""
    return st.session_state.get("actor")


DEFAULT_IDLE_MINUTES = 30


def idle_seconds() -> float:
    """``GRIDGOV_IDLE_MINUTES`` (default 30) in seconds: a session with no page run for that
    long is signed out. A wall's live refresh (a fragment) is not a page run, so a wall left on
    keeps drawing, but the next click after the idle time asks for the password again."""
    return 60 * float(os.environ.get("GRIDGOV_IDLE_MINUTES") or DEFAULT_IDLE_MINUTES)


def refresh_actor() -> Actor | None:
    """The signed-in person, re-read from the database for this run; None when signed out.

    The Actor kept in the session is a copy made at sign-in: re-reading it on every page run
    makes a deactivated account, or a changed role or unit, take effect at the next click
    instead of at the next sign-in. An idle session is signed out first. The reason is kept
    for the sign-in form (``signed_out_reason``: ``idle`` or ``inactive``).
    """
    who = st.session_state.get("actor")
    if who is None:
        return _restore_signed_in()
    now = time.monotonic()
    last = st.session_state.get("last_active")
    if last is not None and now - last > idle_seconds():
        forget_actor("idle")
        return None
    try:
        with engine().begin() as conn:
            fresh = load_actor(conn, who.person_id)
            token = st.session_state.get("session_token")
            if token and now - st.session_state.get("session_touched", 0.0) > SESSION_TOUCH_S:
                sessions.touch(conn, token)  # the reload's idle check reads it
                st.session_state.session_touched = now
    except UnknownActor:
        forget_actor("inactive")
        return None
    st.session_state.actor = fresh
    st.session_state.last_active = now
    return fresh


SESSION_COOKIE = "gridgov_session"
SESSION_TOUCH_S = 60.0  # a signed-in run marks its sign-in seen at most this often


def _restore_signed_in() -> Actor | None:
    """A new page session (a reload) of a browser that was signed in: the person back from the
    session cookie, if its sign-in is still live (``accounts.sessions.restore``). Tried once per
    page session."""
    try:
        token = st.context.cookies.get(SESSION_COOKIE)
    except Exception:  # no browser context (a bare script run, AppTest)
        return None
    if not isinstance(token, str) or not token or st.session_state.get("session_tried") == token:
        return None
    st.session_state.session_tried = token
    with engine().begin() as conn:
        pid = sessions.restore(conn, token, idle_s=idle_seconds(), max_age_s=sessions.max_age_s())
        if pid is None:
            st.session_state.clear_cookie = True
            return None
        try:
            who = load_actor(conn, pid)
        except UnknownActor:
            return None
    st.session_state.actor, st.session_state.session_token = who, token
    st.session_state.last_active = st.session_state.session_touched = time.monotonic()
    return who


def remember_sign_in(who: Actor, client_address: str | None) -> None:
    """A sign-in: its token kept (hashed) in the database and, by ``session_cookie_script``, in the
    browser, so a reload of this tab does not ask for the password again."""
    with engine().begin() as conn:
        token = sessions.create(conn, who.person_id, client_address=client_address)
    st.session_state.session_token = st.session_state.set_cookie = token
    st.session_state.session_touched = time.monotonic()


def end_sign_in(*, person_wide: bool = False) -> None:
    """Signed out: the sign-in's token revoked (every token of the person for a deactivated
    account) and the browser's cookie cleared at the next run."""
    token = st.session_state.pop("session_token", None)
    who = st.session_state.get("actor")
    if token or person_wide:
        with engine().begin() as conn:
            if token:
                sessions.revoke(conn, token)
            if person_wide and who is not None:
                sessions.revoke_person(conn, who.person_id)
    st.session_state.pop("set_cookie", None)
    st.session_state.clear_cookie = True


def session_cookie_script() -> str | None:
    """The script (for a zero-height component) that sets or clears the sign-in cookie this run, if any."""
    import json

    token = st.session_state.pop("set_cookie", None)
    if token:
        value = json.dumps(f"{SESSION_COOKIE}={token}; path=/; SameSite=Strict")
        return ("<script>try{var s=window.parent.location.protocol==='https:'?'; Secure':'';"
                f"document.cookie={value}+s;}}catch(e){{}}</script>")
    if st.session_state.pop("clear_cookie", None):
        value = json.dumps(f"{SESSION_COOKIE}=; path=/; Max-Age=0; SameSite=Strict")
        return f"<script>try{{document.cookie={value};}}catch(e){{}}</script>"
    return None


def end_wall_feed() -> None:
    """The session's live-wall files end with its sign-in (``ui.wall_view.revoke_session_feed``)."""
    if st.session_state.get("wall_owner") is not None:
        from ui import wall_view  # here: ui.wall_view imports this module

        wall_view.revoke_session_feed()


def forget_actor(reason: str | None = None) -> None:
    """Sign the session out (an expired or deactivated account); ``reason`` is shown at sign-in.

    The person's presence on a case ("X 正在处理此案件") ends with the session, as on sign-out.
    """
    from ui import case_panel  # here, not at the top: ui.case_panel imports this module

    who = st.session_state.get("actor")
    if who is not None:
        case_panel.leave(who)
    end_wall_feed()
    end_sign_in(person_wide=reason == "inactive")
    for k in ("actor", "last_active"):
        st.session_state.pop(k, None)
    if reason:
        st.session_state.signed_out_reason = reason


def require_page(page: str) -> Actor:
    """The signed-in actor if their role may open ``page``; otherwise stop the page.

    A page run outside the frame (Streamlit's old multipage mode, see ``ui.frame``) is first
    handed to the frame, which shows sign-in or the page the role may open. Inside the frame
    the navigation already leaves pages out that the role may not open; this checks again.
    """
    from ui import frame  # here, not at the top: ui.frame imports this module

    frame.ensure_frame()
    who = actor()
    if who is None or not may_open(who.role, page):
        st.error(tr("app.no_pages"))
        st.stop()
    return who


def public_page(page: str) -> None:
    """The top of a public page (``accounts.auth.PUBLIC_PAGES``): run inside the frame like any
    page (see ``require_page``), with no sign-in or role check."""
    from ui import frame

    assert page in PUBLIC_PAGES, page
    frame.ensure_frame()


def css(*names: str) -> None:
    """Inject style sheets from ``static/`` (served offline with the app, never from a CDN)."""
    text = "\n".join((STATIC / f"{n}.css").read_text(encoding="utf-8") for n in names)
    st.html(f"<style>{text}</style>")

