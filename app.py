"""Grid governance command platform: the only frame — page config, login, language, navigation.

A page is listed for a role when ``accounts.auth.PAGE_ACCESS`` allows it and its file exists.
To add a page: write ``pages/<key>.py``, add a line to ``PAGES`` below and its roles to
``PAGE_ACCESS`` (and its title ``page.<key>`` to ``i18n/messages.py``). Pages left out of the
navigation are unreachable; each page also calls ``kit.require_page`` as a second guard.
"""
from __future__ import annotations

import time
from pathlib import Path

import streamlit as st
from sqlalchemy.exc import OperationalError

from accounts.auth import LoginFailed, actor_by_username, allowed_pages, authenticate
from i18n import LANGS, normalise_lang, role_label, t
from ui import kit

ROOT = Path(__file__).resolve().parent
st.set_page_config(page_title="网格化管理指挥平台", page_icon=str(ROOT / "static" / "favicon.png"),
                   layout="wide")
# key → (file, icon, navigation section)
PAGES: dict[str, tuple[str, str, str]] = {
    "wall": ("pages/wall.py", ":material/map:", "nav.command"),
    "wall_screen": ("pages/wall_screen.py", ":material/tv:", "nav.command"),
    "dispatch": ("pages/dispatch.py", ":material/assignment:", "nav.command"),
    "department_queue": ("pages/department_queue.py", ":material/inbox:", "nav.work"),
    "charts": ("pages/charts.py", ":material/bar_chart:", "nav.stats"),
    "account": ("pages/account.py", ":material/person:", "nav.me"),
}
MAX_FAILURES, LOCKOUT_S = 5, 30

if "lang" not in st.session_state:
    st.session_state.lang = normalise_lang(st.query_params.get("lang"))
lang = kit.lang()


def _sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _sign_in(username: str, password: str) -> None:
    fails = st.session_state.get("login_fails", [])
    recent = [f for f in fails if time.time() - f < LOCKOUT_S]
    if len(recent) >= MAX_FAILURES:
        st.error(t("login.throttled", lang, s=int(LOCKOUT_S - (time.time() - recent[0])) + 1))
        return
    try:
        with kit.engine().begin() as conn:
            st.session_state.actor = authenticate(conn, username, password)
    except LoginFailed:
        st.session_state.login_fails = [*recent, time.time()]
        st.error(t("login.failed", lang))
        return
    except OperationalError:
        st.error(t("app.db_unavailable", lang))
        return
    st.session_state.pop("login_fails", None)
    st.rerun()


def login_page() -> None:
    kit.css("theme")
    _, mid, _ = st.columns([1, 1.2, 1])
    with mid:
        st.title(t("app.title", lang))
        with st.form("login", border=True):
            st.subheader(t("login.heading", lang))
            username = st.text_input(t("login.username", lang), key="login_user")
            password = st.text_input(t("login.password", lang), type="password", key="login_password")
            submitted = st.form_submit_button(t("login.submit", lang), type="primary", width="stretch")
        if submitted:
            _sign_in(username, password)
        if _sso_configured():
            st.caption(t("login.or", lang))
            if getattr(st.user, "is_logged_in", False):
                who = st.user.get("preferred_username") or st.user.get("email") or ""
                try:
                    with kit.engine().connect() as conn:
                        st.session_state.actor = actor_by_username(conn, who)
                    st.rerun()
                except LoginFailed:
                    st.error(t("login.sso_unknown", lang, who=who))
            else:
                st.button(t("login.sso", lang), on_click=st.login, width="stretch")


def _sign_out() -> None:
    for k in ("actor", "login_fails"):
        st.session_state.pop(k, None)
    if _sso_configured() and getattr(st.user, "is_logged_in", False):
        st.logout()


def _language_switch() -> None:
    def switch():
        st.session_state.lang = st.session_state.lang_choice

    st.sidebar.selectbox(t("app.language", lang), list(LANGS), index=list(LANGS).index(lang),
                         format_func=LANGS.get, key="lang_choice", on_change=switch)


def _pages_for(role: str) -> dict[str, list]:
    sections: dict[str, list] = {}
    for key in allowed_pages(role):
        if key not in PAGES or not (ROOT / PAGES[key][0]).exists():
            continue
        path, icon, section = PAGES[key]
        sections.setdefault(t(section, lang), []).append(
            st.Page(path, title=t(f"page.{key}", lang), icon=icon, url_path=key))
    return sections


who = kit.actor()
_language_switch()
if who is None:
    # Every known address shows the login form, so a bookmarked wall comes back after sign-in.
    login = [st.Page(login_page, title=t("page.login", lang), url_path="login", default=True)]
    login += [st.Page(login_page, title=t("page.login", lang), url_path=key) for key in PAGES]
    nav = st.navigation(login, position="hidden")
else:
    sections = _pages_for(who.role)
    with st.sidebar:
        st.caption(t("app.signed_in_as", lang, name=who.full_name, role=role_label(who.role, lang)))
        st.button(t("app.logout", lang), on_click=_sign_out, icon=":material/logout:")
    if not sections:
        st.warning(t("app.no_pages", lang))
        st.stop()
    nav = st.navigation(sections)
nav.run()
