"""网格上报 (grid worker's phone page), 市民上报 and 办理进度 (public) in AppTest, against the
committed test district: reports land in their grid through the lifecycle, resolving on the spot
closes as self-handled with the after photo, the public pages open signed out, answer with a
private link, show only that case, take one satisfaction answer and slow a flood down."""
from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image
from sqlalchemy import text

from accounts.actors import load_actor
from dispatch import service
from intake import field, public
from intake.field import Place
from tests.ui.conftest import ROLES, new_app
from tests.world import params_for
from ui import report_forms as rf

REPORT, PUBLIC, STATUS = "pages/report.py", "pages/public_report.py", "pages/status.py"


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (20, 120, 40)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(autouse=True)
def photos_and_buckets(tmp_path, monkeypatch):
    monkeypatch.setenv("INTAKE_PHOTO_DIR", str(tmp_path / "photos"))
    rf._buckets.clear()  # the per-address buckets live in the process; every test starts full


@pytest.fixture
def worker_grid(engine, wall_db):
    with engine.connect() as c:
        cid = c.execute(text("SELECT community_id FROM person WHERE username = 'uit_worker'")).scalar_one()
        return field.pick_grids(c, community_id=cid)[0]


def _texts(at) -> str:
    parts = [e.value for kind in ("success", "warning", "error", "info", "markdown", "caption", "code")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def _case(engine, case_no):
    with engine.connect() as c:
        return c.execute(text("SELECT * FROM cases WHERE case_no = :n"), {"n": case_no}).mappings().one()


def _typed(at, prefix, lon, lat):
    at.radio(key=f"{prefix}_mode").set_value("typed").run()
    at.number_input(key=f"{prefix}_lon").set_value(lon)
    at.number_input(key=f"{prefix}_lat").set_value(lat)
    return at.run()


def _reported_no(at) -> str:
    m = re.search(r"(\S+)。?$", at.success[0].value.strip()) if at.success else None
    assert m, _texts(at)
    return m.group(1).rstrip("。.")


# --- the grid worker's phone page -----------------------------------------------------------------

def test_a_grid_worker_reports_with_typed_coordinates_and_sees_it_among_their_reports(signed_in, engine, worker_grid):
    at = signed_in(ROLES["grid_worker"]).switch_page(REPORT).run()
    assert not at.exception and not at.error
    at.selectbox(key="rp_cat").set_value("0102")
    at.text_area(key="rp_descr").set_value("路边堆放垃圾 <b>")
    at.file_uploader(key="rp_file").set_value(("scene.jpg", jpeg(), "image/jpeg"))
    _typed(at, "rp", worker_grid["lon"], worker_grid["lat"])
    at.button(key="rp_submit").click().run()
    assert not at.exception and not at.error, _texts(at)
    no = _reported_no(at)
    case = _case(engine, no)
    assert (case["channel"], case["grid_code"], case["status"], case["description"]) == (
        "grid_worker", worker_grid["code"], "reported", "路边堆放垃圾 <b>")
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", case["photo_ref"])
    assert no in at.dataframe[0].value["case_no"].tolist()
    # the form starts empty again: a second tap sends nothing twice
    assert at.text_area(key="rp_descr").value == "" and at.selectbox(key="rp_cat").value is None
    assert not any(u.key == "rp_file" for u in at.file_uploader)


def test_resolving_on_the_spot_needs_the_after_photo_and_closes_self_handled(signed_in, engine, worker_grid):
    at = signed_in(ROLES["grid_worker"]).switch_page(REPORT).run()
    at.selectbox(key="rp_cat").set_value("0102")
    _typed(at, "rp", worker_grid["lon"], worker_grid["lat"])
    at.toggle(key="rp_self").set_value(True).run()
    at.button(key="rp_submit").click().run()
    assert "处置后照片" in at.error[0].value
    at.file_uploader(key="rp_after_file").set_value(("after.jpg", jpeg(), "image/jpeg"))
    at.run()
    at.button(key="rp_submit").click().run()
    assert not at.error, _texts(at)
    case = _case(engine, _reported_no(at))
    assert (case["status"], case["self_handled"], case["level"]) == ("closed", True, "grid")
    assert case["result_photo_ref"]


def test_a_grid_picked_on_the_map_places_the_report_in_that_grid(signed_in, engine, worker_grid):
    at = signed_in(ROLES["grid_worker"]).switch_page(REPORT).run()
    at.selectbox(key="rp_cat").set_value("0102")
    at.radio(key="rp_mode").set_value("map").run()
    deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    assert deck["mapStyle"] == "__MAP_STYLE__"  # pydeck's "no base map": no Carto style fetched offline
    at.session_state["rp_map"] = {"selection": {"indices": {"grids": [0]},
                                                "objects": {"grids": [{"code": worker_grid["code"]}]}}}
    at.run()
    assert worker_grid["code"] in _texts(at)
    at.button(key="rp_submit").click().run()
    assert _case(engine, _reported_no(at))["grid_code"] == worker_grid["code"]


def test_a_poor_phone_fix_is_flagged_and_used_only_when_confirmed(signed_in, engine, worker_grid, monkeypatch):
    monkeypatch.setenv("GRIDGOV_GEO_MAX_ACCURACY_M", "30")
    at = signed_in(ROLES["grid_worker"]).switch_page(REPORT).run()
    at.selectbox(key="rp_cat").set_value("0102")
    at.session_state["rp_fix"] = {"lon": worker_grid["lon"], "lat": worker_grid["lat"], "accuracy": 180.0}
    at.run()
    assert "±180 米" in _texts(at) and at.warning
    at.button(key="rp_submit").click().run()
    assert at.error[0].value == "请先确定位置。"
    at.checkbox(key="rp_poor_ok").check().run()
    at.button(key="rp_submit").click().run()
    assert _case(engine, _reported_no(at))["grid_code"] == worker_grid["code"]


def _report_with_photo(signed_in, worker_grid, name: str, data: bytes):
    """The grid worker's report with this photo file, typed in place, sent."""
    at = signed_in(ROLES["grid_worker"]).switch_page(REPORT).run()
    at.selectbox(key="rp_cat").set_value("0102")
    at.file_uploader(key="rp_file").set_value((name, data, "image/jpeg"))
    _typed(at, "rp", worker_grid["lon"], worker_grid["lat"])
    return at.button(key="rp_submit").click().run()


def test_a_non_image_photo_is_refused_naming_why(signed_in, worker_grid):
    at = _report_with_photo(signed_in, worker_grid, "fake.jpg", b"%PDF-1.7 not a photo")
    assert at.error and "未能上报" in at.error[0].value and not at.success


# --- public --------------------------------------------------------------------------------------

def _public_report(worker_grid, descr="路灯不亮"):
    at = new_app().run().switch_page(PUBLIC).run()
    assert not at.exception and not at.error
    assert not any(ti.key == "login_user" for ti in at.text_input)   # no sign-in asked
    at.selectbox(key="pub_cat").set_value("0102")
    at.text_area(key="pub_descr").set_value(descr)
    _typed(at, "pub", worker_grid["lon"], worker_grid["lat"])
    return at.button(key="pub_submit").click().run()


def test_the_public_page_answers_with_the_case_number_and_a_private_status_link(engine, worker_grid):
    at = _public_report(worker_grid, "<script>alert(1)</script>")
    assert not at.exception and not at.error, _texts(at)
    link = at.code[0].value
    token = re.search(r"status\?token=([A-Za-z0-9_-]+)$", link).group(1)
    no = re.search(r"案件编号 (\S+?)。", at.success[0].value).group(1)
    case = _case(engine, no)
    assert (case["channel"], case["reporter_id"], case["description"]) == ("website", None, "<script>alert(1)</script>")

    st = new_app(token=token).run().switch_page(STATUS).run()
    assert not st.exception and not st.error
    assert no in st.subheader[0].value and "上报" in _texts(st) + str(st.metric[0].value)
    assert not st.radio  # not closed yet: no satisfaction question


def test_the_public_page_tells_a_reporter_whose_point_is_outside_the_district(engine, worker_grid):
    at = new_app().run().switch_page(PUBLIC).run()
    at.selectbox(key="pub_cat").set_value("0102")
    _typed(at, "pub", 41.14, 41.14)  # a reporter who typed the latitude twice: far outside
    at.button(key="pub_submit").click().run()
    assert not at.exception and at.success, _texts(at)
    assert at.warning and "不在本区范围内" in at.warning[0].value


def test_a_refused_public_report_keeps_no_photo(tmp_path, worker_grid):
    at = new_app().run().switch_page(PUBLIC).run()
    at.selectbox(key="pub_cat").set_value("0102")
    at.text_area(key="pub_descr").set_value("bell\x07char")  # refused: a control character
    at.file_uploader(key="pub_file").set_value(("a.jpg", jpeg(), "image/jpeg"))
    _typed(at, "pub", worker_grid["lon"], worker_grid["lat"])
    at.button(key="pub_submit").click().run()
    assert at.error and "未能上报" in at.error[0].value and not at.success, _texts(at)
    assert not [p for p in (tmp_path / "photos").rglob("*") if p.is_file()]


def _admin(c):
    """The test district's administrator, as the service takes an actor."""
    return load_actor(c, c.execute(text("SELECT id FROM person WHERE username = 'uit_admin'")).scalar_one())


def _closed_case_token(engine, worker_grid) -> tuple[dict, str]:
    with engine.begin() as c:
        no, token, _ = public.report_from_website(c, category_code="0102", description="公开测试",
                                               place=Place(worker_grid["lon"], worker_grid["lat"]), photo_ref=None)
        admin = _admin(c)
        case = dict(c.execute(text("SELECT * FROM cases WHERE case_no = :n"), {"n": no}).mappings().one())
        for action in ("register", "dispatch", "accept", "feed_back", "verify_pass"):
            service.transition(c, case_id=case["id"], action=action, actor=admin, comment="内部意见：张三经办",
                               **{k: v for k, v in params_for(None, action, case).items() if k != "comment"})
    return case, token


def test_the_status_page_shows_progress_without_names_or_comments_and_takes_one_answer(engine, worker_grid):
    case, token = _closed_case_token(engine, worker_grid)
    at = new_app(token=token).run().switch_page(STATUS).run()
    assert not at.exception and not at.error
    shown = _texts(at) + at.dataframe[0].value.to_string()
    assert "结案" in shown and "张三" not in shown and "内部意见" not in shown and "uit_admin" not in shown
    assert "预计办结时间" not in shown  # ended: its end date instead
    at.radio(key="st_rating").set_value("unsatisfied").run()
    at.text_area(key="st_comment").set_value("还是坏的")
    at.checkbox(key="st_reopen").check().run()
    at.button(key="st_send").click().run()
    assert not at.error, _texts(at)
    assert "不满意" in _texts(at) and not at.radio  # answered once: no second question
    assert "感谢您的评价" in _texts(at)  # the thanks reach the page (they were lost to the rerun)
    with engine.connect() as c:
        row = c.execute(text("SELECT rating, comment, reopen_status FROM case_satisfaction WHERE case_id = :i"),
                        {"i": case["id"]}).one()
        status = c.execute(text("SELECT status FROM cases WHERE id = :i"), {"i": case["id"]}).scalar_one()
    assert tuple(row) == ("unsatisfied", "还是坏的", "pending") and status == "closed"


def test_the_status_page_shows_the_reply_to_the_reporter_as_typed(engine, worker_grid):
    """答复市民 (migration 0034): the sorting unit's words for the public reach the status page,
    as plain text (a reply that looks like markdown or HTML is shown as typed), the latest one;
    the staff's comments still do not."""
    case, token = _closed_case_token(engine, worker_grid)
    with engine.begin() as c:
        admin = _admin(c)
        service.transition(c, case_id=case["id"], action="reply", actor=admin, comment="第一次答复")
        service.transition(c, case_id=case["id"], action="reply", actor=admin,
                           comment="井盖已更换。**感谢**您的反映 <b>x</b>\n如有问题请回复")
    at = new_app(token=token).run().switch_page(STATUS).run()
    assert not at.exception and not at.error
    (reply,) = [t for t in at.text if "井盖已更换" in t.value]
    assert reply.value == "井盖已更换。**感谢**您的反映 <b>x</b>\n如有问题请回复"  # st.text: never interpreted
    shown = _texts(at)
    assert "办理答复" in shown and "第一次答复" not in shown and "内部意见" not in shown
    assert "答复市民" in at.dataframe[0].value.to_string()  # the step is in the history too, without its words


def test_the_status_page_says_when_a_dispatched_case_is_expected_done(engine, worker_grid):
    """预计办结时间: the deadline of an open, dispatched case (Open311's expected_datetime), in
    Beijing time; none before dispatch, and the end date instead once the case has ended."""
    with engine.begin() as c:
        no, token, _ = public.report_from_website(c, category_code="0102", description="路灯不亮",
                                               place=Place(worker_grid["lon"], worker_grid["lat"]), photo_ref=None)
    at = new_app(token=token).run().switch_page(STATUS).run()
    assert "预计办结时间" not in _texts(at)  # not dispatched: no deadline yet
    with engine.begin() as c:
        admin = _admin(c)
        case = dict(c.execute(text("SELECT * FROM cases WHERE case_no = :n"), {"n": no}).mappings().one())
        for action in ("register", "dispatch"):
            service.transition(c, case_id=case["id"], action=action, actor=admin, **params_for(None, action, case))
        due = c.execute(text("SELECT to_char(due_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') "
                             "FROM cases WHERE id = :i"), {"i": case["id"]}).scalar_one()
    at = new_app(token=token).run().switch_page(STATUS).run()
    assert not at.exception and f"预计办结时间：{due}" in _texts(at)
    with engine.begin() as c:  # the deadline passed: it promises nothing any more
        c.execute(text("UPDATE cases SET due_at = now() - interval '1 hour', warn_at = now() - interval '2 hours' "
                       "WHERE id = :i"), {"i": case["id"]})
    at = new_app(token=token).run().switch_page(STATUS).run()
    assert not at.exception and "预计办结时间" not in _texts(at)


def test_a_merged_reports_link_follows_the_case_it_joined(engine, worker_grid):
    """合并: a duplicate report ends as merged; its reporter's link now says which case carries the
    problem, that case's state and expected date and its reply to the reporters — not a dead end."""
    with engine.begin() as c:
        at_place = Place(worker_grid["lon"], worker_grid["lat"])
        first, _, _ = public.report_from_website(c, category_code="0102", description="垃圾桶满溢", place=at_place,
                                                 photo_ref=None)
        _, token, _ = public.report_from_website(c, category_code="0102", description="这里垃圾没人收",
                                                 place=at_place, photo_ref=None)
        admin = _admin(c)
        orig = dict(c.execute(text("SELECT * FROM cases WHERE case_no = :n"), {"n": first}).mappings().one())
        dup_id = c.execute(text("SELECT case_id FROM intake_request WHERE status_token = :t"), {"t": token}).scalar_one()
        for action in ("register", "dispatch"):
            service.transition(c, case_id=orig["id"], action=action, actor=admin, **params_for(None, action, orig))
        service.transition(c, case_id=dup_id, action="merge", actor=admin, duplicate_of=orig["id"])
        service.transition(c, case_id=orig["id"], action="reply", actor=admin, comment="环卫所今日清运")
    at = new_app(token=token).run().switch_page(STATUS).run()
    assert not at.exception and not at.error
    shown = _texts(at)
    assert "已并入该案一并办理" in shown and first in shown and "已派遣" in shown, shown
    assert "环卫所今日清运" in [t.value for t in at.text] and "预计办结时间" in shown


@pytest.mark.parametrize("token", ["", "nope", "A" * 32])
def test_a_status_link_of_no_case_shows_nothing_of_any_case(engine, worker_grid, token):
    _closed_case_token(engine, worker_grid)
    at = new_app(token=token).run().switch_page(STATUS).run()
    assert not at.exception
    assert at.warning[0].value == "链接无效或已失效。" and not at.dataframe and not at.metric


def test_the_public_page_slows_a_flood_from_one_address(engine, worker_grid):
    answers = [_public_report(worker_grid) for _ in range(6)]
    assert all(a.success for a in answers[:5])
    assert not answers[5].success and "过于频繁" in answers[5].error[0].value


# --- review of the phone pages (session 15) -------------------------------------------------------

def test_switching_language_mid_form_keeps_the_category_and_the_typed_place(signed_in, engine, worker_grid):
    """The category and the place mode were dropped when the language changed (their choices are
    worded in it) while the screen still showed them; the report was refused "Choose a category"."""
    at = signed_in(ROLES["grid_worker"]).switch_page(REPORT).run()
    at.selectbox(key="rp_cat").set_value("0102").run()
    at = _typed(at, "rp", worker_grid["lon"], worker_grid["lat"])
    at.selectbox(key="lang_choice").set_value("en").run()
    assert not at.exception
    assert at.selectbox(key="rp_cat").value == "0102"
    assert at.radio(key="rp_mode").value == "typed"
    assert (at.number_input(key="rp_lon").value, at.number_input(key="rp_lat").value) == \
        (worker_grid["lon"], worker_grid["lat"])
    at.button(key="rp_submit").click().run()
    assert not at.exception and not at.error, _texts(at)
    assert _case(engine, _reported_no(at))["grid_code"] == worker_grid["code"]


def test_an_empty_photo_is_refused_not_dropped(signed_in, engine, worker_grid):
    """A 0-byte photo was taken for "no photo": the report went in without it, with no word."""
    at = _report_with_photo(signed_in, worker_grid, "empty.jpg", b"")
    assert at.error and "照片为空文件" in at.error[0].value and not at.success


def test_a_phone_fix_serves_one_report_and_a_double_tap_says_nothing_wrong(signed_in, engine, worker_grid):
    """The fix stayed set after a report: the next one went to the old place with no new locate.
    A second tap on the emptied form answered "choose a category" under the success."""
    at = signed_in(ROLES["grid_worker"]).switch_page(REPORT).run()
    at.selectbox(key="rp_cat").set_value("0102")
    at.session_state["rp_fix"] = {"lon": worker_grid["lon"], "lat": worker_grid["lat"], "accuracy": 12.0, "t": 1}
    at.run()
    at.button(key="rp_submit").click().run()
    no = _reported_no(at)
    at.button(key="rp_submit").click().run()   # the second tap of a double tap
    assert not at.error and at.success and no in at.success[0].value
    at.selectbox(key="rp_cat").set_value("0103").run()
    at.button(key="rp_submit").click().run()   # the next report: the fix was spent
    assert at.error[0].value == "请先确定位置。"
    assert "±12 米" not in _texts(at)


@pytest.mark.parametrize("lon, lat, words", [
    (41.09, 122.16, ["纬度、经度顺序颠倒", "（122.16, 41.09）"]),
    (0.0, 0.0, ["(0, 0)", "定位失败"]),
    (200.0, 41.0, ["超出 WGS84 的范围"]),
])
def test_a_wrong_typed_place_says_what_is_wrong_in_the_pages_language(signed_in, lon, lat, words):
    """An out-of-range pair was dropped by the field, said only on hover in English; the page said
    "set the location first" to someone who had typed one."""
    at = signed_in(ROLES["grid_worker"]).switch_page(REPORT).run()
    at = _typed(at, "rp", lon, lat)
    assert at.error, _texts(at)
    for w in words:
        assert w in at.error[0].value, at.error[0].value


def test_a_description_over_the_limit_is_kept_and_refused_with_its_length(signed_in, engine, worker_grid):
    """Streamlit's own cap dropped a whole paste past it: the report went in with no description."""
    at = signed_in(ROLES["grid_worker"]).switch_page(REPORT).run()
    at.selectbox(key="rp_cat").set_value("0102")
    at.text_area(key="rp_descr").set_value("井" * 4001)
    _typed(at, "rp", worker_grid["lon"], worker_grid["lat"])
    at.button(key="rp_submit").click().run()
    assert at.error and "4001" in at.error[0].value and "4000" in at.error[0].value and not at.success
    assert at.text_area(key="rp_descr").value == "井" * 4001
    at.text_area(key="rp_descr").set_value("井" * 4000)
    at.button(key="rp_submit").click().run()
    assert len(_case(engine, _reported_no(at))["description"]) == 4000


def test_a_browser_location_error_is_said_in_our_words(signed_in):
    at = signed_in(ROLES["grid_worker"]).switch_page(REPORT).run()
    at.session_state["rp_fix"] = {"error": "1", "t": 5}
    at.run()
    assert "浏览器未获准使用位置" in at.warning[0].value and "denied" not in at.warning[0].value


def test_the_public_page_keeps_its_receipt_in_the_address(engine, worker_grid):
    at = _public_report(worker_grid)
    token = at.query_params["receipt"][0] if isinstance(at.query_params["receipt"], list) else at.query_params["receipt"]
    no = re.search(r"案件编号 (\S+?)。", at.success[0].value).group(1)
    again = new_app(receipt=token).run().switch_page(PUBLIC).run()   # a reload: a new page session
    assert no in again.success[0].value and token in again.code[0].value
    wrong = new_app(receipt="A" * 43).run().switch_page(PUBLIC).run()
    assert not wrong.success and not wrong.exception


def test_the_workers_map_opens_with_all_of_their_grids_in_view(signed_in, engine):
    """At 390 px only 7 of a worker's 11 grids were in the first view of the map."""
    import math

    at = signed_in(ROLES["grid_worker"]).switch_page(REPORT).run()
    at.radio(key="rp_mode").set_value("map").run()
    deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    v = deck["initialViewState"]
    scale = 512 * 2 ** v["zoom"] / 360

    def px(lon, lat):  # Web Mercator offset from the view's centre, in pixels
        y = lambda b: math.degrees(math.log(math.tan(math.pi / 4 + math.radians(b) / 2)))  # noqa: E731
        return (lon - v["longitude"]) * scale, (y(lat) - y(v["latitude"])) * scale

    pts = [px(x, y) for g in deck["layers"][0]["data"] for x, y in g["polygon"]]
    assert len(deck["layers"][0]["data"]) >= 2
    assert all(abs(x) <= rf.FIT_PX / 2 + 1 and abs(y) <= rf.FIT_PX / 2 + 1 for x, y in pts), max(
        max(abs(x), abs(y)) for x, y in pts)


def test_the_workers_description_is_trimmed_as_the_public_one(signed_in, engine, worker_grid):
    at = signed_in(ROLES["grid_worker"]).switch_page(REPORT).run()
    at.selectbox(key="rp_cat").set_value("0102")
    at.text_area(key="rp_descr").set_value("   \n井盖缺失  ")
    _typed(at, "rp", worker_grid["lon"], worker_grid["lat"])
    at.button(key="rp_submit").click().run()
    assert _case(engine, _reported_no(at))["description"] == "井盖缺失"
