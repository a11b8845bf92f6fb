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

import functools
import ipaddress
import logging
import string
from contextvars import ContextVar
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components
from sqlalchemy.exc import DBAPIError, OperationalError

from accounts.auth import PUBLIC_PAGES, LoginBusy, LoginFailed, Throttled, actor_by_sso, allowed_pages, sign_in
from db.engine import refused_for_time
from i18n import LANGS, normalise_lang, role_label, t
from intake.field import photo_upload_mb
from ui import case_panel, kit

log = logging.getLogger("gridgov.app")

ROOT = Path(__file__).resolve().parent.parent
# key → (file, icon, navigation section); absolute paths, so the frame works whichever script
# Streamlit started with
PAGES: dict[str, tuple[Path, str, str]] = {
    "wall": (ROOT / "pages" / "wall.py", ":material/map:", "nav.command"),
    "wall_screen": (ROOT / "pages" / "wall_screen.py", ":material/tv:", "nav.command"),
    "dispatch": (ROOT / "pages" / "dispatch.py", ":material/assignment:", "nav.command"),
    "department_queue": (ROOT / "pages" / "department_queue.py", ":material/inbox:", "nav.work"),
    "planner": (ROOT / "pages" / "planner.py", ":material/edit_location_alt:", "nav.plan"),
    "charts": (ROOT / "pages" / "charts.py", ":material/bar_chart:", "nav.stats"),
    "account": (ROOT / "pages" / "account.py", ":material/person:", "nav.me"),
    "report": (ROOT / "pages" / "report.py", ":material/add_a_photo:", "nav.work"),
}
# Public pages (accounts.auth.PUBLIC_PAGES): reachable signed out; signed in, by their address
# only (hidden from the menu, so a staff member opening a reporter's link still sees it).
PUBLIC: dict[str, Path] = {key: ROOT / "pages" / f"{key}.py" for key in PUBLIC_PAGES}

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
    try:
        _signed_in_run(lang)
    except DBAPIError as e:
        _database_refused(e, lang)


def _database_refused(e: DBAPIError, lang: str) -> None:
    """A statement refused by a time-out, or a database that cannot be reached: one clear line
    for the user (never SQL or a traceback); the log keeps the details."""
    kind = refused_for_time(e)
    if kind is None and not isinstance(e, OperationalError):
        raise e
    log.exception("database refused a page run (%s)", kind or "unavailable")
    st.error(t("app.db_timeout" if kind else "app.db_unavailable", lang))


def _signed_in_run(lang: str) -> None:
    who = kit.refresh_actor()
    _language_switch(lang)
    script = kit.session_cookie_script()
    if script:  # the sign-in cookie set or cleared (a zero-height frame of the app's own origin)
        with st.sidebar:
            components.html(script, height=0)
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
        first = next(iter(sections.values()))[0]
        hidden = _public(lang, visibility="hidden") + _not_allowed(who.role, lang, first)
        nav = st.navigation({**sections, "": hidden})
        refused = st.session_state.pop("refused_page", None)
        if refused:
            st.error(t("app.not_allowed", lang, page=t(f"page.{refused}", lang), role=role_label(who.role, lang)),
                     icon=":material/block:")
    nav.run()


def _not_allowed(role: str, lang: str, first) -> list:
    """The addresses of pages the role may not open, as hidden pages that say so and then show
    the person's own first page (``first``). Without them Streamlit would silently show the
    first page for a typed address, and the person would not know why."""
    allowed = set(allowed_pages(role))
    out = []
    for key, (path, _, _) in PAGES.items():
        if key in allowed or not path.exists():
            continue

        def refuse(key=key):
            st.session_state.refused_page = key
            st.switch_page(first)

        out.append(st.Page(refuse, title=t(f"page.{key}", lang), url_path=key, visibility="hidden"))
    return out


def _public(lang: str, visibility: str = "visible") -> list:
    return [st.Page(path, title=t(f"page.{key}", lang), url_path=key, visibility=visibility)
            for key, path in PUBLIC.items()]


def _sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _client_address() -> str | None:
    """The browser's address as Streamlit sees the connection (None on loopback, so behind a
    reverse proxy on the same machine every visitor is None: the proxy throttles by address)."""
    try:
        ip = st.context.ip_address
        return str(ipaddress.ip_address(ip)) if isinstance(ip, str) else None
    except Exception:  # no client context (bare script runs), or not an address
        return None


def _sign_in(username: str, password: str) -> None:
    try:
        actor = sign_in(kit.engine(), username, password, client_address=_client_address())
    except Throttled as e:
        st.error(kit.tr("login.throttled", s=e.seconds))
        return
    except LoginBusy:
        st.error(kit.tr("login.busy"))
        return
    except LoginFailed:
        st.error(kit.tr("login.failed"))
        return
    except OperationalError:
        st.error(kit.tr("app.db_unavailable"))
        return
    _start_session(actor)


def _start_session(actor) -> None:
    st.session_state.actor = actor
    st.session_state.pop("signed_out_reason", None)
    kit.remember_sign_in(actor, _client_address())  # a reload of this tab keeps the sign-in
    st.rerun()


def login_page() -> None:
    kit.css("theme")
    _, mid, _ = st.columns([1, 1.2, 1])
    with mid:
        # sized and balanced in static/theme.css: never one character alone on a second line
        st.container(key="login-title").title(kit.tr("app.title"), anchor=False)
        with st.form("login", border=True):
            st.subheader(kit.tr("login.heading"))
            reason = st.session_state.get("signed_out_reason")
            if reason:
                st.info(kit.tr(f"login.signed_out_{reason}"))
            username = st.text_input(kit.tr("login.username"), key="login_user")
            password = st.text_input(kit.tr("login.password"), type="password", key="login_password")
            submitted = st.form_submit_button(kit.tr("login.submit"), type="primary", width="stretch")
        if submitted:
            _sign_in(username, password)
        if _sso_configured():
            st.caption(kit.tr("login.or"))
            if getattr(st.user, "is_logged_in", False):
                _sso_sign_in()
            else:
                st.button(kit.tr("login.sso"), on_click=st.login, width="stretch")


def _sso_sign_in() -> None:
    """The person an administrator linked to the provider's issuer and subject (``iss``,
    ``sub`` of the verified ID token); a display name or an e-mail address never picks an
    account (anyone may choose them at many providers)."""
    issuer, subject = str(st.user.get("iss") or ""), str(st.user.get("sub") or "")
    try:
        with kit.engine().connect() as conn:
            actor = actor_by_sso(conn, issuer, subject)
    except LoginFailed:
        log.warning("single sign-on identity %s / %s has no active linked account", issuer, subject)
        st.error(kit.tr("login.sso_unknown", who=f"{issuer} / {subject}"))
        return
    _start_session(actor)


def _sign_out() -> None:
    case_panel.leave()  # "X 正在处理此案件" ends with X's session
    kit.end_wall_feed()  # and so do its live-wall files
    kit.end_sign_in()  # and its sign-in: a reload asks for the password again
    for k in ("actor", "last_active", "signed_out_reason"):
        st.session_state.pop(k, None)
    if _sso_configured() and getattr(st.user, "is_logged_in", False):
        st.logout()


def _language_switch(lang: str) -> None:
    def switch():
        st.session_state.lang = st.session_state.lang_choice
        # in the address too, so a reload (a new page session) stays in the chosen language
        st.query_params["lang"] = st.session_state.lang_choice

    st.sidebar.selectbox(t("app.language", lang), list(LANGS), index=list(LANGS).index(lang),
                         format_func=LANGS.get, key="lang_choice", on_change=switch)
    if lang == "zh":  # Streamlit's own words on its uploader and camera, in Chinese (static/widgets-zh.css)
        st.sidebar.html(f"<style>{_widget_words()}</style>")


@functools.cache
def _widget_words() -> str:
    sheet = (ROOT / "static" / "widgets-zh.css").read_text(encoding="utf-8")
    return string.Template(sheet).substitute(photo_mb=photo_upload_mb(), upload_mb=_upload_mb())


def _upload_mb() -> int:
    """The server's cap on an upload (``server.maxUploadSize``: the planner's files)."""
    return int(st.get_option("server.maxUploadSize"))


def _pages_for(role: str, lang: str) -> dict[str, list]:
    sections: dict[str, list] = {}
    for key in allowed_pages(role):
        if key not in PAGES or not PAGES[key][0].exists():
            continue
        path, icon, section = PAGES[key]
        sections.setdefault(t(section, lang), []).append(
            st.Page(path, title=t(f"page.{key}", lang), icon=icon, url_path=key))
    return sections
