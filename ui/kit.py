"""Small helpers every page shares: the engine, the live listener, who is signed in, the language.

Pages import this module; it holds no page of its own (app.py lists pages explicitly).
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from db.config import database_url
from db.engine import get_engine
from db.live import ChangeListener
from accounts.actors import Actor
from accounts.auth import may_open
from i18n import DEFAULT_LANG, normalise_lang, t

STATIC = Path(__file__).resolve().parent.parent / "static"


@st.cache_resource(show_spinner=False)
def engine():
    """The process-wide SQLAlchemy engine for ``DATABASE_URL`` (or the local cluster)."""
    return get_engine(database_url())


@st.cache_resource(show_spinner=False)
def listener() -> ChangeListener:
    """One LISTEN thread per server process; its ``version`` keys every live reader's cache."""
    lst = ChangeListener(database_url()).start()
    lst.wait_connected(3.0)  # so the first wall is not drawn as "reconnecting"
    return lst


def lang() -> str:
    return normalise_lang(st.session_state.get("lang", DEFAULT_LANG))


def tr(key: str, **fmt) -> str:
    """``t(key)`` in the session's language."""
    return t(key, lang(), **fmt)


def actor() -> Actor | None:
    return st.session_state.get("actor")


def leave_legacy_pages_mode() -> None:
    """Make sure app.py, not Streamlit's old multipage mode, decides what runs.

    Because a ``pages/`` folder exists, Streamlit runs ``pages/<name>.py`` directly for the
    first visitor after a server start who opens a deep link (``/wall_screen``), before any run
    of app.py has called ``st.navigation`` — skipping login and role checks. Switch that mode
    off and rerun: app.py then handles the same address.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def require_page(page: str) -> Actor:
    """The signed-in actor if their role may open ``page``; otherwise stop the page.

    The navigation already leaves such pages out; this guards a page that is run some other
    way (a stale link, a test, Streamlit's old multipage mode).
    """
    leave_legacy_pages_mode()
    who = actor()
    if who is None or not may_open(who.role, page):
        st.error(tr("app.no_pages"))
        st.stop()
    return who


def css(*names: str) -> None:
    """Inject style sheets from ``static/`` (served offline with the app, never from a CDN)."""
    text = "\n".join((STATIC / f"{n}.css").read_text(encoding="utf-8") for n in names)
    st.html(f"<style>{text}</style>")


if __name__ == "__main__":  # run as a page by the old multipage mode
    leave_legacy_pages_mode()
