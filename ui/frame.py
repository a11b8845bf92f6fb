"""The app's one frame — page config, login, language, role-based navigation — and the guard
that makes every page run inside it.

``app.py`` calls ``main()``. A page is listed for a role when ``accounts.auth.PAGE_ACCESS``
allows it and its file exists. To add a page: write ``pages/<key>.py`` (its first statement
``kit.require_page("<key>")``), add a line to ``PAGES`` below and its roles to ``PAGE_ACCESS``
(and its title ``page.<key>`` to ``i18n/messages.py``). Pages left out of the navigation are
unreachable; ``require_page`` checks the role again. Public pages (``accounts.auth.PUBLIC_PAGES``:
``public_report``, ``status``) are registered for every visitor, signed out or in (then hidden from
the menu), and start with ``kit.public_page(key)`` instead.

Why the guard (``ensure_frame``): because a ``pages/`` folder sits beside ``app.py``, Streamlit
starts each server process in its old multipage mode and, for the first visitor who opens a
deep link such as ``/dispatch``, runs ``pages/dispatch.py`` directly — without login or role
checks — until some run of ``st.navigation`` switches that mode off for the process
(``AppTest`` starts every run in that mode). So ``main()`` marks the runs it makes, and a page
that finds itself run without that mark runs ``main()`` itself: ``st.navigation`` resolves the
same address to the same page key (sign-in for a visitor who is signed out) and runs it inside
the frame; then the direct run stops. Public Streamlit API only; nothing to patch in tests.
"""
from __future__ import annotations

import time
from contextvars import ContextVar
from pathlib import Path

import streamlit as st
from sqlalchemy.exc import OperationalError

from accounts.auth import PUBLIC_PAGES, LoginFailed, actor_by_username, allowed_pages, authenticate
from i18n import LANGS, normalise_lang, role_label, t
from ui import kit

ROOT = Path(__file__).resolve().parent.parent
# key → (file, icon, navigation section); absolute paths, so the frame works whichever script
# Streamlit started with
PAGES: dict[str, tuple[Path, str, str]] = {
    "wall": (ROOT / "pages" / "wall.py", ":material/map:", "nav.command"),
    "wall_screen": (ROOT / "pages" / "wall_screen.py", ":material/tv:", "nav.command"),
    "dispatch": (ROOT / "pages" / "dispatch.py", ":material/assignment:", "nav.command"),
    "department_queue": (ROOT / "pages" / "department_queue.py", ":material/inbox:", "nav.work"),
    "charts": (ROOT / "pages" / "charts.py", ":material/bar_chart:", "nav.stats"),
    "account": (ROOT / "pages" / "account.py", ":material/person:", "nav.me"),
    "report": (ROOT / "pages" / "report.py", ":material/add_a_photo:", "nav.work"),
}
# Public pages (accounts.auth.PUBLIC_PAGES): reachable signed out; signed in, by their address
# only (hidden from the menu, so a staff member opening a reporter's link still sees it).
PUBLIC: dict[str, Path] = {key: ROOT / "pages" / f"{key}.py" for key in PUBLIC_PAGES}
MAX_FAILURES, LOCKOUT_S = 5, 30

# True while main() runs in this script thread (each session's run has its own thread).
_in_frame: ContextVar[bool] = ContextVar("gridgov_in_frame", default=False)


def main() -> None:
    """One run of the app: the frame, then the page the address names."""
    token = _in_frame.set(True)
    try:
        _run()
    finally:
        _in_frame.reset(token)


def ensure_frame() -> None:
    """Called first by every page (through ``kit.require_page``): a page run outside the frame
    is handed to the frame, and its own direct run ends here. Only at a page's top, never in a
    fragment (a fragment's own reruns run without ``main()``)."""
    if not _in_frame.get():
        main()
        st.stop()


def _run() -> None:
    st.set_page_config(page_title="网格化管理指挥平台", page_icon=str(ROOT / "static" / "favicon.png"),
                       layout="wide")
    if "lang" not in st.session_state:
        st.session_state.lang = normalise_lang(st.query_params.get("lang"))
    lang = kit.lang()
    who = kit.actor()
    _language_switch(lang)
    if who is None:
        # Every known address shows the login form, so a bookmarked wall comes back after sign-in.
        login = [st.Page(login_page, title=t("page.login", lang), url_path="login", default=True)]
        login += [st.Page(login_page, title=t("page.login", lang), url_path=key) for key in PAGES]
        nav = st.navigation(login + _public(lang), position="hidden")
    else:
        sections = _pages_for(who.role, lang)
        with st.sidebar:
            st.caption(t("app.signed_in_as", lang, name=who.full_name, role=role_label(who.role, lang)))
            st.button(t("app.logout", lang), on_click=_sign_out, icon=":material/logout:")
        if not sections:
            st.warning(t("app.no_pages", lang))
            st.stop()
        nav = st.navigation({**sections, "": _public(lang, visibility="hidden")})
    nav.run()


def _public(lang: str, visibility: str = "visible") -> list:
    return [st.Page(path, title=t(f"page.{key}", lang), url_path=key, visibility=visibility)
            for key, path in PUBLIC.items()]


def _sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _sign_in(username: str, password: str) -> None:
    fails = st.session_state.get("login_fails", [])
    recent = [f for f in fails if time.time() - f < LOCKOUT_S]
    if len(recent) >= MAX_FAILURES:
        st.error(kit.tr("login.throttled", s=int(LOCKOUT_S - (time.time() - recent[0])) + 1))
        return
    try:
        with kit.engine().begin() as conn:
            st.session_state.actor = authenticate(conn, username, password)
    except LoginFailed:
        st.session_state.login_fails = [*recent, time.time()]
        st.error(kit.tr("login.failed"))
        return
    except OperationalError:
        st.error(kit.tr("app.db_unavailable"))
        return
    st.session_state.pop("login_fails", None)
    st.rerun()


def login_page() -> None:
    kit.css("theme")
    _, mid, _ = st.columns([1, 1.2, 1])
    with mid:
        st.title(kit.tr("app.title"))
        with st.form("login", border=True):
            st.subheader(kit.tr("login.heading"))
            username = st.text_input(kit.tr("login.username"), key="login_user")
            password = st.text_input(kit.tr("login.password"), type="password", key="login_password")
            submitted = st.form_submit_button(kit.tr("login.submit"), type="primary", width="stretch")
        if submitted:
            _sign_in(username, password)
        if _sso_configured():
            st.caption(kit.tr("login.or"))
            if getattr(st.user, "is_logged_in", False):
                who = st.user.get("preferred_username") or st.user.get("email") or ""
                try:
                    with kit.engine().connect() as conn:
                        st.session_state.actor = actor_by_username(conn, who)
                    st.rerun()
                except LoginFailed:
                    st.error(kit.tr("login.sso_unknown", who=who))
            else:
                st.button(kit.tr("login.sso"), on_click=st.login, width="stretch")


def _sign_out() -> None:
    for k in ("actor", "login_fails"):
        st.session_state.pop(k, None)
    if _sso_configured() and getattr(st.user, "is_logged_in", False):
        st.logout()


def _language_switch(lang: str) -> None:
    def switch():
        st.session_state.lang = st.session_state.lang_choice

    st.sidebar.selectbox(t("app.language", lang), list(LANGS), index=list(LANGS).index(lang),
                         format_func=LANGS.get, key="lang_choice", on_change=switch)


def _pages_for(role: str, lang: str) -> dict[str, list]:
    sections: dict[str, list] = {}
    for key in allowed_pages(role):
        if key not in PAGES or not PAGES[key][0].exists():
            continue
        path, icon, section = PAGES[key]
        sections.setdefault(t(section, lang), []).append(
            st.Page(path, title=t(f"page.{key}", lang), icon=icon, url_path=key))
    return sections
