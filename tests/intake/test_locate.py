"""A report with ``address_string`` and no ``lat``/``long`` (the hotline's usual call) is stored
awaiting location (待定位), said so in ``service_notice`` and read back without a point; ``lat`` +
``long`` win when both are sent. Over real HTTP, JSON and XML."""
from __future__ import annotations

import uuid
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import text

from tests.intake.conftest import INSIDE
from tests.intake.test_open311 import post

ADDRESS = "兴隆台区 振兴街 27 号 路口东侧"


def _answer(r) -> dict:
    if r.headers["content-type"].startswith("application/xml"):
        el = ET.fromstring(r.content).find("request")
        return {c.tag: c.text for c in el}
    return r.json()[0]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_address_alone_is_accepted_and_awaits_location(api, key, intake_engine, fmt):
    desc = "井盖松动 " + uuid.uuid4().hex[:8]
    r = post(api, key, fmt, long=None, lat=None, address_string=ADDRESS, description=desc)
    assert r.status_code == 201, r.text
    ans = _answer(r)
    assert "待指挥中心定位" in ans["service_notice"]
    assert ans["awaiting_location"] in (True, "true") and ans["grid_code"] in (None, "")
    assert ans["outside_jurisdiction"] in (False, "false")
    with intake_engine.connect() as c:
        row = c.execute(text(
            "SELECT c.id, c.address, c.geom IS NULL AS unlocated, c.grid_id, c.received_crs, c.status, c.description, "
            "(SELECT array_agg(action) FROM case_event e WHERE e.case_id = c.id) AS events, "
            "(SELECT count(*) FROM intake_request r WHERE r.case_id = c.id) AS intake "
            "FROM cases c WHERE c.case_no = :n"), {"n": ans["service_request_id"]}).one()
    assert row.unlocated and row.address == ADDRESS and row.grid_id is None and row.received_crs is None
    assert (row.status, row.description, row.events, row.intake) == ("reported", desc, ["report"], 1)


def test_the_notice_in_english(api, key):
    r = api.post("/requests.json?lang=en", data={"api_key": key, "service_code": "0103", "address_string": ADDRESS})
    assert r.status_code == 201, r.text
    assert "awaits location by the command centre" in r.json()[0]["service_notice"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_read_back_with_the_address_and_without_lat_long(api, key, fmt):
    no = post(api, key, long=None, lat=None, address_string=ADDRESS).json()[0]["service_request_id"]
    r = api.get(f"/requests/{no}.{fmt}", params={"extensions": "true"})
    assert r.status_code == 200, r.text
    if fmt == "json":
        got = r.json()[0]
        assert "lat" not in got and "long" not in got
        assert got["address"] == ADDRESS and got["status"] == "open"
        assert got["extended_attributes"]["awaiting_location"] is True
    else:
        el = ET.fromstring(r.content).find("request")
        assert el.find("lat") is None and el.find("long") is None
        assert el.findtext("address") == ADDRESS
        assert el.findtext("extended_attributes/awaiting_location") == "true"
    # and in the list, beside located requests
    listed = api.get("/requests.json", params={"service_request_id": no}).json()
    assert [x["service_request_id"] for x in listed] == [no] and "lat" not in listed[0]


def test_lat_long_win_over_the_address(api, key, intake_engine):
    ans = post(api, key, address_string=ADDRESS).json()[0]
    assert ans["awaiting_location"] is False and ans["grid_code"] == "211103001001001"
    assert "定位" not in ans["service_notice"]
    got = api.get(f"/requests/{ans['service_request_id']}.json").json()[0]
    assert abs(got["lat"] - INSIDE[1]) < 1e-6 and got["address"] == ADDRESS


def test_an_address_only_report_is_never_linked_as_a_duplicate(api, key):
    """No point, no distance: the 50-m search leaves it alone (until located: tests/dispatch/test_locate.py)."""
    a = post(api, key, long=None, lat=None, address_string=ADDRESS).json()[0]
    b = post(api, key, long=None, lat=None, address_string=ADDRESS).json()[0]
    assert a["possible_duplicates"] == b["possible_duplicates"] == []


def test_blank_address_and_no_point_is_refused_naming_lat_long(api, key):
    r = post(api, key, long=None, lat=None, address_string="   ")
    assert r.status_code == 400 and r.json()[0]["description"].startswith("lat/long")


def test_the_point_comes_from_lat_long_then_the_photo_then_none(api, key, intake_engine):
    """With a photo: its GPS places a report sent without lat/long, even beside an address; a photo
    without GPS and an address make a case awaiting location that keeps the photo."""
    from tests.intake.test_photos import jpeg, post_photo

    placed = post_photo(api, key, jpeg(gps=INSIDE), long=None, lat=None, address_string=ADDRESS).json()[0]
    assert placed["awaiting_location"] is False and placed["grid_code"] == "211103001001001"
    r = post_photo(api, key, jpeg(), long=None, lat=None, address_string=ADDRESS)
    assert r.status_code == 201, r.text
    ans = r.json()[0]
    assert ans["awaiting_location"] is True
    with intake_engine.connect() as c:
        row = c.execute(text("SELECT geom IS NULL AS unlocated, photo_ref FROM cases WHERE case_no = :n"),
                        {"n": ans["service_request_id"]}).one()
    assert row.unlocated and row.photo_ref


def test_once_located_it_is_linked_to_the_open_report_of_the_same_kind_nearby(api, key, intake_engine):
    """The lifecycle's locate runs the intake's duplicate search (dispatch.duplicates): the API then
    shows the link as for a report that came with its point."""
    from accounts.actors import load_actor
    from dispatch import service

    spot = (122.0015, 41.1085)  # in grid 001, away from the other tests' points
    near = post(api, key, long=spot[0] + 0.0003, lat=spot[1]).json()[0]  # ~25 m east, same service
    waiting = post(api, key, long=None, lat=None, address_string=ADDRESS).json()[0]
    assert waiting["possible_duplicates"] == []
    with intake_engine.begin() as c:
        pid = c.execute(text("INSERT INTO person(username, full_name, role, unit_level) "
                             "VALUES (:u, '测试派遣员', 'dispatcher', 'district') RETURNING id"),
                        {"u": "t_locate_" + uuid.uuid4().hex[:8]}).scalar_one()
        case_id = c.execute(text("SELECT id FROM cases WHERE case_no = :n"),
                            {"n": waiting["service_request_id"]}).scalar_one()
        service.transition(c, case_id=case_id, action="locate", actor=load_actor(c, pid), lon=spot[0], lat=spot[1])
    got = api.get(f"/requests/{waiting['service_request_id']}.json", params={"extensions": "true"}).json()[0]
    assert got["extended_attributes"]["awaiting_location"] is False
    assert got["extended_attributes"]["possible_duplicates"] == [near["service_request_id"]]
