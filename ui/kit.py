"""Small helpers every page shares: the engine, the live listener, who is signed in, the language.

Pages import this module; it holds no page of its own (``ui.frame`` lists the pages).
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from db.config import database_url
from db.engine import get_engine
from db.live import ChangeListener
from accounts.actors import Actor
from accounts.auth import PUBLIC_PAGES, may_open
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

