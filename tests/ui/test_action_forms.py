"""ui.action_forms: every form field is a value the lifecycle service takes for that move, so a
submitted form goes to ``dispatch.service.transition`` as it is (on the world of tests/world.py)."""
from __future__ import annotations

import pytest

from dispatch import service
from dispatch.errors import Conflict, InvalidInput, PermissionDenied
from dispatch.states import TRANSITIONS
from ui.action_forms import ACTION_FORMS, ATTACHMENTS, COMMENT, store_photos, submitted


def test_every_move_has_a_form():
    assert set(ACTION_FORMS) == set(TRANSITIONS)


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_form_fields_are_the_handlers_parameters(action):
    taken = service.parameters(action)
    names = [f.name for f in ACTION_FORMS[action]]
    assert len(names) == len(set(names)), "a field appears twice"
    # comment and attachments are every move's (the transition's own keywords), the rest the handler's
    assert set(names) - {COMMENT, ATTACHMENTS} == set(taken), "form fields and the handler's parameters differ"
    required = {f.name for f in ACTION_FORMS[action] if f.required}
    assert {n for n, need in taken.items() if need} <= required, "a value the service needs is not marked required"


def test_blank_text_and_empty_choices_are_not_given():
    assert submitted({"comment": "  ", "level": "grid", "assist_department_ids": [], "photo_ref": " p.jpg ",
                      "major": False, "score": 5}) == {
        "comment": None, "level": "grid", "assist_department_ids": None, "photo_ref": "p.jpg", "major": False,
        "score": 5}


def test_a_case_goes_round_the_loop_on_form_values(world, conn):
    """What the forms send, by their field names, straight into the service."""
    c1, staff = world["disp_c1"], world["staff_hwc"]
    case = world.report("C1")
    steps = [
        ("register", c1, {"level": "community", "category_code": "0102", COMMENT: ""}, "registered"),
        ("set_level", c1, {"level": "grid", COMMENT: "小问题"}, "registered"),
        ("dispatch", c1, {"department_id": world.dept["HWC"], "assist_department_ids": [world.dept["CGZF"]],
                          "due_at": None, "due_reason": "", COMMENT: ""}, "dispatched"),
        ("accept", staff, {COMMENT: "收到"}, "disposing"),
        ("request_postponement", staff, {"until": None, COMMENT: "等待配件"}, "disposing"),
        ("approve_postponement", c1, {"due_at": None, COMMENT: ""}, "postponed"),
        ("feed_back", staff, {COMMENT: "已处理", "photo_ref": "p/after.jpg"}, "awaiting_verification"),
        ("verify_fail", c1, {COMMENT: "仍有垃圾"}, "rework"),
        ("accept", staff, {COMMENT: " "}, "disposing"),
        ("feed_back", staff, {COMMENT: "已彻底清理", "photo_ref": ""}, "awaiting_verification"),
        ("verify_pass", c1, {COMMENT: None}, "closed"),
        ("evaluate", c1, {"score": 5, COMMENT: "满意"}, "closed"),
    ]
    for action, actor, values, status in steps:
        values = {**values, **({ATTACHMENTS: None} if action.startswith("verify") else {})}
        assert set(values) == {f.name for f in ACTION_FORMS[action]}, action  # exactly the form's fields
        row = service.transition(conn, case_id=case["id"], action=action, actor=actor, **submitted(values))
        assert row["status"] == status, action
    assert row["result_photo_ref"] == "p/after.jpg" and row["evaluation_score"] == 5


def test_refusals_come_from_the_service(world, conn):
    case = world.report("C1")
    with pytest.raises(PermissionDenied):  # command staff only view
        service.transition(conn, case_id=case["id"], action="register", actor=world["cmd"])
    with pytest.raises(InvalidInput, match="理由"):  # a rejection needs a reason; blank text counts as none
        service.transition(conn, case_id=case["id"], action="reject", actor=world["disp_c1"],
                           **submitted({COMMENT: "  "}))
    with pytest.raises(Conflict):  # the form was drawn from an older version
        service.transition(conn, case_id=case["id"], action="register", actor=world["disp_c1"],
                           expected_version=case["version"] - 1)


def test_uploads_become_store_refs_and_a_verification_photo_an_attachment(tmp_path):
    import io

    from PIL import Image

    from intake.photos import PhotoError, PhotoStore

    store = PhotoStore(tmp_path)
    buf = io.BytesIO()
    Image.new("RGB", (30, 20)).save(buf, "PNG")
    fed = store_photos("feed_back", {COMMENT: "x", "photo_ref": buf.getvalue()}, store)
    assert fed[COMMENT] == "x" and store.exists(fed["photo_ref"]) and fed["photo_ref"].endswith(".png")
    ver = store_photos("verify_pass", {COMMENT: None, ATTACHMENTS: buf.getvalue()}, store)
    assert ver[ATTACHMENTS][0]["kind"] == "verify" and store.exists(ver[ATTACHMENTS][0]["ref"])
    assert store_photos("feed_back", {COMMENT: "x", "photo_ref": None}, store)["photo_ref"] is None
    with pytest.raises(PhotoError):
        store_photos("close", {COMMENT: "x", "result_photo_ref": b"GIF89a not allowed"}, store)
