"""Photos where a person acts on a case (issue 9 §3), in AppTest: the department's feedback and
the verification take uploads (the intake's photo store: decoded type, EXIF stripped, stored
under a generated name), a non-image named .jpg is refused with a message and changes nothing,
and the case's history shows the photos as thumbnails with a full-size view."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import text

from intake import field
from tests.ui.dispatch_world import build, case_row, new_case, open_page, purge
from tests.ui.actions import choose

DEPT, DISPATCH = "pages/department_queue.py", "pages/dispatch.py"
REF = re.compile(r"[0-9a-f]{32}\.(jpg|png)")


@pytest.fixture(scope="module")
def w(engine):
    world = build(engine)
    yield world
    purge(engine)


@pytest.fixture(autouse=True)
def photo_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("INTAKE_PHOTO_DIR", str(tmp_path / "photos"))
    return tmp_path / "photos"


def jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (900, 600), (200, 80, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825).update({1: "N", 2: (40.0, 48.0, 0.0), 3: "E", 4: (121.0, 24.0, 0.0)})
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def _choose(at, scope, case_id, action):
    return choose(at, f"{scope}-act-{case_id}", action)


def _submit(at, scope, case_id, action):
    (button,) = [b for b in at.button if b.proto.form_id == f"{scope}-act-{case_id}-{action}"]
    return button.click().run()


def _upload(at, key_start, name, data, mime="image/jpeg"):
    (up,) = [u for u in at.file_uploader if u.key.startswith(key_start)]
    up.set_value((name, data, mime))


def _last_event(engine, case_id):
    with engine.connect() as c:
        return c.execute(text("SELECT action, attachments FROM case_event WHERE case_id = :i ORDER BY id DESC LIMIT 1"),
                         {"i": case_id}).one()


def _images(at) -> list:
    return at.get("image")


def test_feedback_takes_an_uploaded_photo_stored_clean_and_kept_in_the_history(w, engine, photo_dir):
    row = new_case(engine, w, "disposing", dept="HWC")
    at = open_page(w["dpt_staff_hwc"], DEPT, **{"dept.case_id": row["id"]})
    at = _choose(at, "dept", row["id"], "feed_back")
    assert not [t for t in at.text_input if "photo" in str(t.key)], "no typed photo names any more"
    at.text_area(key=f"dept-act-{row['id']}-feed_back-comment").input("已清运")
    _upload(at, f"dept-act-{row['id']}-feed_back-photo_ref", "after.jpg", jpeg_with_gps())
    at = _submit(at, "dept", row["id"], "feed_back")
    assert not at.error and not at.exception, [e.value for e in at.error]
    got = case_row(engine, row["id"])
    assert got["status"] == "awaiting_verification" and REF.fullmatch(got["result_photo_ref"])
    ev = _last_event(engine, row["id"])
    assert ev.attachments == [{"kind": "after", "ref": got["result_photo_ref"]}]
    stored = field.photo_store().path(got["result_photo_ref"])
    assert stored.is_file() and str(stored).startswith(str(photo_dir))
    with Image.open(stored) as img:
        assert not img.getexif(), "EXIF (GPS, maker) stripped"


def test_a_non_image_named_jpg_is_refused_with_a_clear_message_and_changes_nothing(w, engine):
    row = new_case(engine, w, "disposing", dept="HWC")
    at = open_page(w["dpt_staff_hwc"], DEPT, **{"dept.case_id": row["id"]})
    at = _choose(at, "dept", row["id"], "feed_back")
    at.text_area(key=f"dept-act-{row['id']}-feed_back-comment").input("已处理")
    _upload(at, f"dept-act-{row['id']}-feed_back-photo_ref", "after.jpg", b"%PDF-1.7 not a photo")
    at = _submit(at, "dept", row["id"], "feed_back")
    assert at.error and "照片未被接受" in at.error[0].value and "不是 JPEG、PNG 或 WebP 图片" in at.error[0].value
    got = case_row(engine, row["id"])
    assert got["status"] == "disposing" and got["result_photo_ref"] is None


def test_verification_takes_a_photo_and_the_timeline_shows_before_and_after_thumbnails(w, engine):
    row = new_case(engine, w, "disposing", dept="HWC", level="district")
    staff = open_page(w["dpt_staff_hwc"], DEPT, **{"dept.case_id": row["id"]})
    staff = _choose(staff, "dept", row["id"], "feed_back")
    staff.text_area(key=f"dept-act-{row['id']}-feed_back-comment").input("已清运")
    _upload(staff, f"dept-act-{row['id']}-feed_back-photo_ref", "after.jpg", jpeg_with_gps())
    _submit(staff, "dept", row["id"], "feed_back")
    after_ref = case_row(engine, row["id"])["result_photo_ref"]

    at = open_page(w["dpt_disp_d"], DISPATCH, **{"dispatch.case_id": row["id"]})
    at = _choose(at, "dispatch", row["id"], "verify_fail")
    at.text_area(key=f"dispatch-act-{row['id']}-verify_fail-comment").input("仍有残留")
    _upload(at, f"dispatch-act-{row['id']}-verify_fail-attachments", "check.png", png(), "image/png")
    at = _submit(at, "dispatch", row["id"], "verify_fail")
    assert not at.error, [e.value for e in at.error]
    assert case_row(engine, row["id"])["status"] == "rework"
    ev = _last_event(engine, row["id"])
    assert ev.action == "verify_fail" and ev.attachments[0]["kind"] == "verify"
    verify_ref = ev.attachments[0]["ref"]
    assert REF.fullmatch(verify_ref) and verify_ref.endswith(".png")

    at.run()
    captions = [c for im in _images(at) for c in im.captions]
    assert any(c.startswith("处置后照片") for c in captions), captions
    assert any(c.startswith("核查照片") for c in captions), captions
    # thumbnails are small; the full-size view shows the stored photo as it is
    with Image.open(field.photo_store().path(after_ref)) as img:
        assert img.size == (900, 600)
    assert "处置过程照片" in " ".join(m.value for m in at.markdown)


def test_a_reference_the_store_does_not_hold_is_shown_as_text(w, engine):
    row = new_case(engine, w, "disposing", dept="HWC")
    with engine.begin() as c:
        from dispatch import service
        service.transition(c, case_id=row["id"], action="feed_back", actor=w["dpt_admin"], comment="旧系统",
                           photo_ref="photo/2024/001.jpg")
    at = open_page(w["dpt_disp_cm"], DISPATCH, **{"dispatch.case_id": row["id"]})
    assert not at.exception
    assert "photo/2024/001.jpg" in " ".join(c.value for c in at.caption) + "\n".join(
        h.proto.body for h in at.get("html"))


def test_the_camera_can_take_the_photo_instead_of_a_file(w, engine):
    row = new_case(engine, w, "registered", level="community")
    at = open_page(w["dpt_disp_cm"], DISPATCH, **{"dispatch.case_id": row["id"]})
    at = _choose(at, "dispatch", row["id"], "close")
    form = f"dispatch-act-{row['id']}-close"
    assert not at.camera_input  # asked for only when switched on: it takes the camera at once
    at.toggle(key=f"{form}.camera").set_value(True).run()
    (cam,) = at.camera_input
    cam.set_value(("shot.jpg", jpeg_with_gps(), "image/jpeg"))
    at.text_area(key=f"{form}-comment").input("社区自行清理完毕")
    at = _submit(at, "dispatch", row["id"], "close")
    assert not at.error, [e.value for e in at.error]
    got = case_row(engine, row["id"])
    assert got["status"] == "closed" and REF.fullmatch(got["result_photo_ref"])
    assert _last_event(engine, row["id"]).attachments == [{"kind": "after", "ref": got["result_photo_ref"]}]
