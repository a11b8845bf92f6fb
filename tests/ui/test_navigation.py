"""Who may see what: each role's navigation lists exactly its pages; the others are unreachable."""
from __future__ import annotations

import pytest

from tests.ui.conftest import ROLES, ROOT, new_app

# The policy, written out: role → pages it works with (a page counts once its file exists).
VISIBLE = {
    "command_staff": {"wall", "wall_screen", "charts", "account"},
    "dispatcher": {"wall", "wall_screen", "dispatch", "charts", "account"},
    "department_staff": {"department_queue", "account"},
    "planner": {"wall", "planner", "charts", "account"},
    "admin": {"wall", "wall_screen", "dispatch", "department_queue", "planner", "charts", "account", "report"},
    "grid_worker": {"report", "account"},
}
PAGE_FILES = {"wall": "pages/wall.py", "wall_screen": "pages/wall_screen.py", "dispatch": "pages/dispatch.py",
              "department_queue": "pages/department_queue.py", "charts": "pages/charts.py",
              "account": "pages/account.py", "report": "pages/report.py", "planner": "pages/planner.py"}
# Public pages: reachable by everyone, signed in or out; never in a role's menu.
PUBLIC_FILES = {"public_report": "pages/public_report.py", "status": "pages/status.py"}


def _existing(keys) -> set[str]:
    return {k for k in keys if (ROOT / PAGE_FILES[k]).exists()}


def _registered(at) -> dict[str, dict]:
    # AppTest keeps what st.navigation registered (page hash → info with script_path, page_name).
    return {str(info["script_path"]): info for info in at._registered_pages.values() if info.get("script_path")}


def _listed(at) -> dict[str, dict]:
    """The role's own pages (the public ones are registered for everyone, hidden from the menu)."""
    public = {str(ROOT / p) for p in PUBLIC_FILES.values()}
    return {k: v for k, v in _registered(at).items() if k not in public}


@pytest.mark.parametrize("role", sorted(VISIBLE))
def test_navigation_lists_exactly_the_pages_of_the_role(signed_in, role):
    at = signed_in(ROLES[role])
    assert not at.exception
    want = _existing(VISIBLE[role])
    listed = _listed(at)
    assert set(listed) == {str(ROOT / PAGE_FILES[k]) for k in want}
    assert all(info["page_name"] and "." not in info["page_name"] for info in listed.values())  # titled, translated


@pytest.mark.parametrize("role", sorted(VISIBLE))
def test_pages_outside_the_role_cannot_be_opened(signed_in, role):
    at = signed_in(ROLES[role])
    for key in _existing(PAGE_FILES) - VISIBLE[role]:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(PAGE_FILES[key])


@pytest.mark.parametrize("role", sorted(VISIBLE))
def test_every_listed_page_opens_for_the_role(signed_in, role):
    at = signed_in(ROLES[role])
    for key in sorted(_existing(VISIBLE[role])):
        at.switch_page(PAGE_FILES[key]).run()
        assert not at.exception, (key, at.exception)
        assert not at.error, (key, [e.value for e in at.error])


def test_signed_out_only_the_login_form_exists(wall_db):
    at = new_app().run()
    assert _listed(at) == {}          # every address shows the login function, no page file …
    assert set(_registered(at)) == {str(ROOT / p) for p in PUBLIC_FILES.values()}  # … but the public pages
    for path in PAGE_FILES.values():
        if (ROOT / path).exists():
            with pytest.raises(ValueError):
                at.switch_page(path)
    assert at.text_input(key="login_user")


def test_english_navigation(signed_in):
    at = signed_in(ROLES["command_staff"], lang="en")
    titles = {info["page_name"] for info in _listed(at).values()}
    assert {"Map wall", "My account"} <= titles


def test_the_language_switch_changes_every_label(signed_in):
    at = signed_in(ROLES["command_staff"])
    assert at.metric[0].label == "今日上报"
    at.selectbox(key="lang_choice").set_value("en").run()
    assert at.metric[0].label == "Reported today"
    assert {info["page_name"] for info in _listed(at).values()} >= {"Map wall"}
    assert at.sidebar.button[0].label == "Sign out"


# Streamlit's old multipage mode runs a file of pages/ directly, for the first visitor of a
# fresh server who opens a deep link. AppTest starts every run in that mode, so a run after
# switch_page is exactly that: the page file runs first and hands itself to the frame
# (ui.frame.ensure_frame). Signed out there, only the sign-in form may show.

@pytest.mark.parametrize("key", sorted(PAGE_FILES))
def test_a_page_run_in_the_old_mode_signed_out_shows_only_the_sign_in(signed_in, key):
    if not (ROOT / PAGE_FILES[key]).exists():
        pytest.skip(f"{PAGE_FILES[key]} not written yet")
    at = signed_in(ROLES["admin"])
    at.switch_page(PAGE_FILES[key])
    del at.session_state["actor"]          # signed out (the session ended) before the page ran
    at.run()
    assert not at.exception and not at.error
    assert at.text_input(key="login_user") and at.text_input(key="login_password")
    assert _listed(at) == {}
    assert not at.get("deck_gl_json_chart") and not at.get("component_instance")
    assert not at.metric and not at.dataframe and not at.tabs


def test_a_page_run_in_the_old_mode_is_drawn_once_inside_the_frame(signed_in):
    at = signed_in(ROLES["command_staff"])
    at.switch_page(PAGE_FILES["wall"]).run()
    assert not at.exception and not at.error
    assert len(at.get("component_instance")) == 1                  # the wall's map (ui.wall_map), once
    assert set(_listed(at)) == {str(ROOT / PAGE_FILES[k]) for k in _existing(VISIBLE["command_staff"])}
    assert at.sidebar.button[0].label == "退出登录"                   # the frame's sidebar


def _sign_in_shown(at) -> bool:
    return any(ti.key == "login_user" for ti in at.text_input)


@pytest.mark.parametrize("key", sorted(PUBLIC_FILES))
def test_a_public_page_opens_signed_out_and_signed_in_without_the_sign_in(signed_in, key):
    at = new_app().run()
    at.switch_page(PUBLIC_FILES[key]).run()
    assert not at.exception and not at.error
    assert not _sign_in_shown(at) and at.title[0].value
    staff = signed_in(ROLES["dispatcher"])
    staff.switch_page(PUBLIC_FILES[key]).run()
    assert not staff.exception and not staff.error and not _sign_in_shown(staff)


@pytest.mark.parametrize("key", sorted(PUBLIC_FILES))
def test_a_public_page_run_in_the_old_mode_signed_out_is_drawn_once_inside_the_frame(signed_in, key):
    at = signed_in(ROLES["admin"])
    at.switch_page(PUBLIC_FILES[key])
    del at.session_state["actor"]
    at.run()
    assert not at.exception and not at.error
    assert not _sign_in_shown(at) and len(at.title) == 1


def _headings(at) -> list[str]:
    return [m.value for m in [*at.title, *at.header, *at.subheader]]


def _open_address(at, key: str):
    """Open ``/<key>`` as a typed address would (Streamlit keys a page by its URL path's hash)."""
    from streamlit.util import calc_hash

    at._page_hash = calc_hash(key)
    return at.run()


@pytest.mark.parametrize("role", ["command_staff", "department_staff", "grid_worker"])
def test_a_forbidden_address_says_not_allowed_then_shows_the_first_page(signed_in, role):
    at = signed_in(ROLES[role])
    first_page = _headings(at)
    for key in sorted(_existing(PAGE_FILES) - VISIBLE[role]):
        _open_address(at, key)
        assert not at.exception, (key, at.exception)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and errors[0].startswith("不允许访问"), (key, errors)
        assert _headings(at) == first_page, key   # the person's own first page
        assert "refused_page" not in at.session_state                       # said once, not on every click


def test_a_forbidden_address_in_english(signed_in):
    at = signed_in(ROLES["department_staff"], lang="en")
    _open_address(at, "wall")
    assert [e.value for e in at.error][0].startswith("Not allowed")
