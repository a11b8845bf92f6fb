"""The planner's page in AppTest: who may open it, a draft made and edited through its forms, undo,
the validation list's "go to", the impact preview, publish refusals, history, English.

The map's own interaction (a split line, a dragged vertex) is a browser matter:
tests/e2e/test_planner_editor.py and tests/e2e/test_planner_flow.py.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.ui.conftest import ROLES
from tests.ui.district import CODE

PAGE = "pages/planner.py"


def remove_drafts(engine) -> None:
    """The test district's drafts (purge_district does not know them)."""
    with engine.begin() as c:
        c.execute(text("DELETE FROM boundary_draft WHERE district_id IN (SELECT id FROM district WHERE code = :c)"),
                  {"c": CODE})


@pytest.fixture
def planner(signed_in, engine):
    remove_drafts(engine)

    def open_as(role: str = "planner", **query):
        at = signed_in(ROLES[role], **query)
        return at.switch_page(PAGE).run()

    yield open_as
    remove_drafts(engine)


def _draft(engine) -> tuple[int, str, str]:
    """The test district's one open draft: id, and its first grid's code and community code."""
    with engine.connect() as c:
        d = c.execute(text("SELECT d.id FROM boundary_draft d JOIN district x ON x.id = d.district_id "
                           "WHERE x.code = :c AND d.status = 'open'"), {"c": CODE}).scalar_one()
        g = c.execute(text("SELECT g.code, c.code FROM boundary_draft_grid g JOIN community c ON c.id = g.community_id "
                           "WHERE g.draft_id = :d ORDER BY g.code LIMIT 1"), {"d": d}).one()
    return d, g[0], g[1]


def _create(at, name: str = "东片调整", scope: int = 2):
    at.selectbox(key="pl_new_district").select(CODE).run()  # its communities are offered next
    at.text_input(key="pl_new_name").input(name)
    at.text_area(key="pl_new_reason").input("新建小区交付")
    at.multiselect(key="pl_new_scope").set_value(_codes(at)[:scope])
    return at.button(key="FormSubmitter:pl_new-新建").click().run()


def _codes(at) -> list[str]:
    """The community codes the scope box offers (its options are labels "code name")."""
    return [o.split(" ", 1)[0] for o in at.multiselect(key="pl_new_scope").options]


@pytest.mark.parametrize("role", ["planner", "admin"])
def test_the_planner_and_the_admin_open_the_page(planner, role):
    at = planner(role)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "网格规划"
    assert [t.label for t in at.tabs] == ["编辑", "影响预览", "发布", "历史版本"]


@pytest.mark.parametrize("role", ["dispatcher", "command_staff", "grid_worker", "department_staff"])
def test_other_roles_cannot_open_it(signed_in, role):
    at = signed_in(ROLES[role])
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)


def test_a_draft_is_made_edited_and_undone_without_touching_the_live_grids(planner, engine):
    at = planner()
    at = _create(at)
    assert not at.exception, at.exception
    assert any("已新建草稿" in s.value for s in at.success)
    draft_id, code, community = _draft(engine)
    with engine.connect() as c:
        live_before = c.execute(text("SELECT count(*) FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id "
                                     "WHERE g.code LIKE :p"), {"p": CODE + "%"}).scalar_one()
    # the draft is chosen; a grid selected on the map (the editor's "select" op lands here)
    at.session_state[f"pl_sel_{draft_id}"] = code
    at.run()
    assert any(code in m.value for m in at.markdown)
    # move the grid to another community of the draft's district through the form
    other = next(c for c in at.selectbox(key="pl_move_cm").options if not c.startswith(community))
    at.selectbox(key="pl_move_cm").select(other.split(" ", 1)[0])
    at.button(key=f"FormSubmitter:pl_move_{draft_id}-移动网格").click().run()
    assert not at.exception, at.exception
    assert any(code in s.value for s in at.success), [e.value for e in at.error]
    target = other.split(" ", 1)[0]
    with engine.connect() as c:
        rows = c.execute(text("SELECT g.code, c.code AS community, g.retired FROM boundary_draft_grid g "
                              "JOIN community c ON c.id = g.community_id WHERE g.draft_id = :d AND g.name = "
                              "(SELECT name FROM boundary_draft_grid WHERE draft_id = :d AND code = :g)"),
                         {"d": draft_id, "g": code}).all()
        live_after = c.execute(text("SELECT count(*) FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id "
                                    "WHERE g.code LIKE :p"), {"p": CODE + "%"}).scalar_one()
    # codes follow the community: the grid gets the next free code there, its old code is retired
    assert {(r.code == code, r.community, r.retired) for r in rows} == {(True, community, True), (False, target, False)}
    assert live_after == live_before
    # undo restores the row exactly
    at.button(key="pl_undo").click().run()
    assert any("已撤销" in s.value for s in at.success)
    with engine.connect() as c:
        back = c.execute(text("SELECT g.code, c.code, g.retired FROM boundary_draft_grid g "
                              "JOIN community c ON c.id = g.community_id WHERE g.draft_id = :d AND c.code = :t"),
                         {"d": draft_id, "t": target}).all()
        here = c.execute(text("SELECT retired FROM boundary_draft_grid WHERE draft_id = :d AND code = :g"),
                         {"d": draft_id, "g": code}).scalar_one()
    assert not here and all(r.code != code for r in back)


def test_an_op_from_the_map_is_applied_and_its_problem_can_be_found(planner, engine):
    """What the editor sends (its component value: a fresh ``n`` and the op) goes to apply_edit once;
    the problem it leaves is listed with a "go to" that focuses the map on its place."""
    at = _create(planner())
    draft_id, code, _ = _draft(engine)
    with engine.connect() as c:
        x, y = c.execute(text("SELECT ST_XMin(geom), ST_YMax(geom) FROM boundary_draft_grid "
                              "WHERE draft_id = :d AND code = :g"), {"d": draft_id, "g": code}).one()
    # the district's north-west corner, pulled 100 m further out: the grid leaves its community
    op = {"op": "move_vertex", "from": [round(x, 6), round(y, 6)], "to": [round(x - 0.0012, 6), round(y, 6)]}
    at.session_state[f"pl_editor_{draft_id}"] = {"n": "test-1", "op": op}
    at.run()
    assert not at.exception, at.exception
    assert any(code in s.value for s in at.success), [e.value for e in at.error]
    with engine.connect() as c:
        steps = c.execute(text("SELECT op FROM boundary_draft_step WHERE draft_id = :d"), {"d": draft_id}).scalars().all()
    assert steps == [op]
    at.run()  # the same value again (a rerun) is not applied twice
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM boundary_draft_step WHERE draft_id = :d"),
                         {"d": draft_id}).scalar_one() == 1
    goto = [b for b in at.button if b.key and b.key.startswith("pl_goto_")]
    assert goto, [m.value for m in at.markdown]
    goto[0].click().run()
    assert at.session_state["pl_focus"]["type"]


def test_a_refused_edit_says_why_and_writes_nothing(planner, engine):
    at = _create(planner())
    draft_id, code, _ = _draft(engine)
    at.button(key="pl_undo").click().run()  # nothing to undo yet
    assert any(str(draft_id) in e.value for e in at.error)
    at = _create(planner(), name="")  # a draft needs a name
    assert at.error and "名称" in at.error[0].value


def test_publish_without_a_reason_is_refused_and_the_draft_stays_open(planner, engine):
    at = _create(planner())
    draft_id, _, _ = _draft(engine)
    at.button(key=f"FormSubmitter:pl_publish_{draft_id}-发布").click().run()
    assert any("原因" in e.value for e in at.error)
    with engine.connect() as c:
        assert c.execute(text("SELECT status FROM boundary_draft WHERE id = :d"), {"d": draft_id}).scalar_one() == "open"


def test_the_impact_preview_shows_figures_and_tables(planner, engine):
    at = _create(planner())
    at.button(key="pl_impact_go").click().run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert "将改变网格 / 社区的在办案件" in labels
    assert at.metric[0].value == "0"  # nothing edited yet: nothing moves


def test_english(planner):
    at = planner(lang="en")
    at.session_state["lang"] = "en"
    at.run()
    assert at.title[0].value == "Grid planning"
    assert [t.label for t in at.tabs] == ["Edit", "Impact preview", "Publish", "History"]


def _tabs_place(at) -> int:
    """Where the page's tabs sit among the main area's blocks and elements."""
    return next(i for i, node in at.main.children.items() if node.type == "tab_container")


def test_a_flash_message_does_not_move_the_tabs_and_the_editor_in_them(planner, engine):
    """A message shown once (a draft made, an edit applied) and gone in the next run must not
    move the tabs: the browser would mount them, and the editor's frame with a drawing in
    progress, afresh (issue 10; in Chromium: tests/e2e/test_planner_flow.py)."""
    at = _create(planner())
    assert any("已新建草稿" in s.value for s in at.success)
    shown = _tabs_place(at)
    at.run()   # the next run, e.g. the one after choosing 分割: the message is gone
    assert not any("已新建草稿" in s.value for s in at.success)
    assert _tabs_place(at) == shown
