"""The phone page's and the public pages' services (intake.field, intake.public) on the small
hand-built district of tests/world.py, inside the rolled-back ``conn``."""
from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import text

from dispatch import service
from dispatch.errors import LifecycleError
from intake import field, public
from intake.field import Place
from intake.photos import PhotoError
from intake.reports import case_no_for_token
from tests.world import bring_to, world  # noqa: F401  (fixture)


def jpeg(w=64, h=48) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 40, 40)).save(buf, "JPEG")
    return buf.getvalue()


C1 = Place(0.5, 0.5, 8.0)


def test_a_grid_workers_report_lands_in_the_grid_as_channel_grid_worker(world):
    row = field.report_from_phone(world.conn, actor=world["gw_c1"], category_code="0102", description="垃圾",
                                  place=C1, photo_ref=None)
    assert (row["channel"], row["grid_id"], row["reporter_id"], row["status"]) == (
        "grid_worker", world.grid["C1"], world["gw_c1"].person_id, "reported")


def test_resolving_on_the_spot_closes_as_self_handled_with_the_after_photo(world, tmp_path):
    store = field.photo_store().__class__(tmp_path)
    before, after = field.store_photo(store, jpeg()), field.store_photo(store, jpeg())
    row = field.resolve_on_spot(world.conn, actor=world["gw_c1"], category_code="0102", description="", place=C1,
                                before_ref=before.ref, after_ref=after.ref)
    assert (row["status"], row["self_handled"], row["result_photo_ref"], row["photo_ref"]) == (
        "closed", True, after.ref, before.ref)
    kinds = world.conn.execute(text("SELECT attachments FROM case_event WHERE case_id = :c AND action = 'self_handle'"),
                               {"c": row["id"]}).scalar_one()
    assert {a["kind"] for a in kinds} == {"before", "after"}


def test_resolving_on_the_spot_outside_the_workers_community_leaves_no_case(world):
    n = world.conn.execute(text("SELECT count(*) FROM cases")).scalar_one()
    with pytest.raises(LifecycleError) as e:
        field.resolve_on_spot(world.conn, actor=world["gw_c1"], category_code="0102", description="",
                              place=Place(2.5, 0.5), before_ref=None, after_ref="a" * 32 + ".jpg")
    assert world.conn.execute(text("SELECT count(*) FROM cases")).scalar_one() == n
    # the refusal names no case number: the case it would quote was rolled back
    assert "不在本社区网格内" in e.value.message("zh") and not any(ch.isdigit() for ch in e.value.message("zh"))
    assert "turn off self-handling" in e.value.message("en")


def test_photos_of_a_refused_report_are_removed_again(world, tmp_path):
    """No photo without a case (session 14's review: the pages kept the photos of refused reports)."""
    store = field.photo_store().__class__(tmp_path)
    with pytest.raises(LifecycleError):
        with field.photos_for_one_report(store) as put:
            before, after = put(jpeg()), put(jpeg(32, 32))
            assert store.exists(before.ref) and store.exists(after.ref)
            field.resolve_on_spot(world.conn, actor=world["gw_c1"], category_code="0102", description="",
                                  place=Place(2.5, 0.5), before_ref=before.ref, after_ref=after.ref)
    assert not store.exists(before.ref) and not store.exists(after.ref)
    assert not list(tmp_path.rglob("*.jpg"))
    with field.photos_for_one_report(store) as put:  # a report taken keeps its photo
        kept = put(jpeg())
        field.report_from_phone(world.conn, actor=world["gw_c1"], category_code="0102", description="", place=C1,
                                photo_ref=kept.ref)
    assert store.exists(kept.ref)


def test_a_public_report_outside_the_district_says_so(world):
    _, _, outside = public.report_from_website(world.conn, category_code="0102", description="", place=Place(50, 50),
                                               photo_ref=None)
    _, _, inside = public.report_from_website(world.conn, category_code="0102", description="", place=C1,
                                              photo_ref=None)
    assert (outside, inside) == (True, False)


def test_my_reports_are_the_workers_own_newest_first(world):
    a = field.report_from_phone(world.conn, actor=world["gw_c1"], category_code="0102", description="",
                                place=C1, photo_ref=None)
    world.report("C3", actor=world["gw_c3"])
    mine = field.my_reports(world.conn, actor=world["gw_c1"])
    assert [r["case_no"] for r in mine] == [a["case_no"]]


def test_pick_grids_gives_a_point_inside_each_grid_and_narrows_to_a_community(world):
    grids = field.pick_grids(world.conn, community_id=world.com["C1"])
    assert [g["code"] for g in grids] == ["999998001001001"]
    g = grids[0]
    assert 0 < g["lon"] < 1 and 0 < g["lat"] < 1 and g["rings"]
    row = field.report_from_phone(world.conn, actor=world["gw_c1"], category_code="0102", description="",
                                  place=Place(g["lon"], g["lat"]), photo_ref=None)
    assert row["grid_id"] == world.grid["C1"]


@pytest.mark.parametrize("acc, poor", [(5, False), (30, False), (30.5, True), (None, True)])
def test_a_fix_worse_than_the_limit_is_flagged(acc, poor, monkeypatch):
    monkeypatch.setenv("GRIDGOV_GEO_MAX_ACCURACY_M", "30")
    assert field.fix_is_poor(acc) is poor


def test_the_photo_store_refuses_a_non_image_with_an_image_name(tmp_path):
    with pytest.raises(PhotoError):
        field.store_photo(field.photo_store().__class__(tmp_path), b"%PDF-1.4 not a photo")


# --- public --------------------------------------------------------------------------------------

def _closed_website_case(world) -> tuple[dict, str]:
    no, token, _ = public.report_from_website(world.conn, category_code="0102", description="<b>x</b>",
                                           place=Place(0.5, 0.5), photo_ref=None)
    case = world.conn.execute(text("SELECT * FROM cases WHERE case_no = :n"), {"n": no}).mappings().one()
    for action in ("register", "dispatch", "accept", "feed_back", "verify_pass"):
        from tests.world import params_for
        service.transition(world.conn, case_id=case["id"], action=action, actor=world["admin"],
                           **params_for(world, action, dict(case)))
    return dict(case), token


def test_a_website_report_gets_a_token_the_open311_service_also_knows(world):
    no, token, _ = public.report_from_website(world.conn, category_code="0102", description="<script>1</script>",
                                           place=Place(0.5, 0.5), photo_ref=None)
    assert case_no_for_token(world.conn, token) == no
    row = world.conn.execute(text("SELECT channel, description FROM cases WHERE case_no = :n"), {"n": no}).one()
    assert tuple(row) == ("website", "<script>1</script>")  # stored as text, exactly


def test_the_status_shows_states_and_dates_but_no_names_or_comments(world):
    case, token = _closed_website_case(world)
    s = public.public_status(world.conn, token)
    assert (s.case_no, s.status, s.may_rate) == (case["case_no"], "closed", True)
    assert [h["action"] for h in s.history] == ["report", "register", "dispatch", "accept", "feed_back", "verify_pass"]
    shown = repr(s)
    assert "说明" not in shown and "测试admin" not in shown and "t_admin" not in shown


@pytest.mark.parametrize("token", ["", "short", "x" * 24, "../../etc/passwd" + "a" * 20])
def test_a_token_of_no_case_shows_nothing(world, token):
    _closed_website_case(world)
    assert public.public_status(world.conn, token) is None


def test_satisfaction_once_and_only_when_closed(world):
    no, open_token, _ = public.report_from_website(world.conn, category_code="0102", description="",
                                                place=Place(0.5, 0.5), photo_ref=None)
    with pytest.raises(public.PublicError, match="closed"):
        public.answer_satisfaction(world.conn, open_token, rating="satisfied")
    _, token = _closed_website_case(world)
    public.answer_satisfaction(world.conn, token, rating="basically_satisfied", comment="还行")
    with pytest.raises(public.PublicError, match="already"):
        public.answer_satisfaction(world.conn, token, rating="unsatisfied")
    s = public.public_status(world.conn, token)
    assert (s.rating, s.may_rate, s.reopen_status) == ("basically_satisfied", False, None)


def test_an_unsatisfied_answer_queues_a_reopen_request_without_changing_the_case(world):
    case, token = _closed_website_case(world)
    with pytest.raises(public.PublicError, match="reopen"):
        public.answer_satisfaction(world.conn, token, rating="satisfied", reopen=True)
    public.answer_satisfaction(world.conn, token, rating="unsatisfied", comment="没修好", reopen=True)
    assert [r["case_id"] for r in public.pending_reopen_requests(world.conn)] == [case["id"]]
    status, version = world.conn.execute(text("SELECT status, version FROM cases WHERE id = :i"),
                                         {"i": case["id"]}).one()
    assert status == "closed"
    assert public.public_status(world.conn, token).reopen_status == "pending"


@pytest.mark.parametrize("comment", ["a\x00b", "x" * 1001])
def test_a_comment_the_database_cannot_keep_is_refused_naming_the_field(world, comment):
    _, token = _closed_website_case(world)
    with pytest.raises(public.PublicError, match="comment"):
        public.answer_satisfaction(world.conn, token, rating="unsatisfied", comment=comment)


def test_a_page_with_extensions_gives_each_case_its_own_history_and_duplicates(world):
    """The extensions of a page are read in two statements (not two per row): each case gets exactly
    what reading it alone gives."""
    from intake.duplicates import possible_duplicates_of
    from intake.reports import find_requests, public_history

    a = world.report("C1", category="0102")
    service.transition(world.conn, case_id=a["id"], action="register", actor=world["disp_c1"])
    b = world.report("C1", category="0102")
    c = world.report("C3", category="0102")
    rows = find_requests(world.conn, ids=[a["case_no"], b["case_no"], c["case_no"]], extensions=True)
    assert len(rows) == 3
    for row, case in zip(sorted(rows, key=lambda r: r["service_request_id"]), sorted((a, b, c), key=lambda x: x["case_no"])):
        ext = row["extended_attributes"]
        assert ext["history"] == public_history(world.conn, case["id"]) and ext["history"]
        assert ext["possible_duplicates"] == [d["case_no"] for d in possible_duplicates_of(world.conn, case["id"])]
    assert [e["action"] for e in next(r for r in rows if r["service_request_id"] == a["case_no"])
            ["extended_attributes"]["history"]] == ["report", "register"]
