"""Every GeoReport endpoint in JSON and XML, over real HTTP against the real database."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import text

from tests.intake.conftest import INSIDE, OUTSIDE


def post(api, key, fmt="json", **fields):
    data = {"api_key": key, "service_code": "0103", "long": INSIDE[0], "lat": INSIDE[1],
            "description": "路面有油污 " + uuid.uuid4().hex[:8], **fields}
    data = {k: v for k, v in data.items() if v is not None}
    return api.post(f"/requests.{fmt}", data=data)


def errors_of(r) -> list[dict]:
    if r.headers["content-type"].startswith("application/xml"):
        root = ET.fromstring(r.content)
        assert root.tag == "errors"
        return [{"code": int(e.findtext("code")), "description": e.findtext("description")} for e in root]
    return r.json()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_discovery(api, fmt):
    r = api.get(f"/discovery.{fmt}")
    assert r.status_code == 200
    if fmt == "json":
        assert r.json()["endpoints"][0]["url"].endswith("/open311/v2/")
    else:
        assert ET.fromstring(r.content).find("endpoints/endpoint/formats/format") is not None


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_services_are_the_categories_in_chinese_and_english(api, fmt):
    r = api.get(f"/services.{fmt}")
    assert r.status_code == 200
    if fmt == "json":
        by = {s["service_code"]: s for s in r.json()}
        assert by["0102"]["service_name"] == "暴露垃圾" and by["0102"]["service_name_en"] == "Exposed garbage"
        assert by["0102"]["metadata"] is True and by["0103"]["metadata"] is False
        assert all(len(c) == 4 and c.isdigit() for c in by)
    else:
        root = ET.fromstring(r.content)
        assert root.tag == "services"
        codes = [s.findtext("service_code") for s in root.findall("service")]
        assert "0102" in codes
    en = api.get("/services.json?lang=en").json()
    assert {s["service_code"]: s["service_name"] for s in en}["0102"] == "Exposed garbage"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_service_definition_has_attributes(api, fmt):
    r = api.get(f"/services/1101.{fmt}")
    assert r.status_code == 200
    if fmt == "json":
        attrs = r.json()["attributes"]
        a = attrs[0]
        assert (a["code"], a["datatype"], a["required"], a["order"]) == ("cover_state", "singlevaluelist", True, 1)
        assert {v["key"] for v in a["values"]} == {"missing", "broken", "displaced"}
    else:
        root = ET.fromstring(r.content)
        assert root.tag == "service_definition"
        a = root.find("attributes/attribute")
        assert a.findtext("datatype") == "singlevaluelist" and a.findtext("required") == "true"
        assert len(a.findall("values/value")) == 3


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_definition_is_404(api, fmt):
    r = api.get(f"/services/9999.{fmt}")
    assert r.status_code == 404
    assert "service_code" in errors_of(r)[0]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_creates_a_case_in_its_grid(api, key, intake_engine, fmt):
    r = post(api, key, fmt, first_name="张", last_name="三", phone="138 0000 0000", email="z@example.cn",
             address_string="兴隆台区 测试路 1 号", device_id="dev-1", account_id="acc-9")
    assert r.status_code == 201, r.text
    if fmt == "json":
        ans = r.json()[0]
    else:
        el = ET.fromstring(r.content).find("request")
        ans = {c.tag: c.text for c in el}
    assert ans["service_request_id"] and "已受理" in ans["service_notice"]
    assert "token" not in ans  # the spec's id-or-token rule; the status token is an extension
    with intake_engine.connect() as c:
        row = c.execute(text("SELECT c.channel, c.grid_code, c.reporter_name, c.reporter_phone, c.outside_jurisdiction, "
                             "r.email, r.account_id, r.device_id FROM cases c JOIN intake_request r ON r.case_id = c.id "
                             "WHERE c.case_no = :n"), {"n": ans["service_request_id"]}).one()
        events = c.execute(text("SELECT action FROM case_event e JOIN cases c ON c.id = e.case_id WHERE c.case_no = :n"),
                           {"n": ans["service_request_id"]}).scalars().all()
    assert row.channel == "hotline" and row.grid_code == "211103001001001" and not row.outside_jurisdiction
    assert (row.reporter_name, row.reporter_phone, row.email, row.account_id, row.device_id) == \
        ("张 三", "138 0000 0000", "z@example.cn", "acc-9", "dev-1")
    assert events == ["report"]


def test_point_outside_the_district_is_stored_and_said(api, key, intake_engine):
    r = post(api, key, long=OUTSIDE[0], lat=OUTSIDE[1])
    assert r.status_code == 201
    ans = r.json()[0]
    assert ans["outside_jurisdiction"] is True and "辖区外" in ans["service_notice"]
    en = post(api, key, long=OUTSIDE[0], lat=OUTSIDE[1], lang=None).json()  # zh by default
    assert "辖区外" in en[0]["service_notice"]
    r_en = api.post("/requests.json?lang=en", data={"api_key": key, "service_code": "0103", "long": OUTSIDE[0],
                                                    "lat": OUTSIDE[1]})
    assert "outside the jurisdiction" in r_en.json()[0]["service_notice"]
    with intake_engine.connect() as c:
        assert c.execute(text("SELECT outside_jurisdiction FROM cases WHERE case_no = :n"),
                         {"n": ans["service_request_id"]}).scalar_one() is True


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_request_by_id_and_token(api, key, fmt):
    ans = post(api, key).json()[0]
    no, token = ans["service_request_id"], ans["status_token"]
    r = api.get(f"/requests/{no}.{fmt}")
    assert r.status_code == 200
    if fmt == "json":
        got = r.json()[0]
        assert got["service_request_id"] == no and got["status"] == "open" and got["service_code"] == "0103"
        assert abs(got["lat"] - INSIDE[1]) < 1e-6 and abs(got["long"] - INSIDE[0]) < 1e-6
        t = datetime.fromisoformat(got["requested_datetime"])
        assert t.utcoffset() is not None  # datetimes carry their zone
    else:
        el = ET.fromstring(r.content).find("request")
        assert el.findtext("service_request_id") == no and el.findtext("status") == "open"
        assert datetime.fromisoformat(el.findtext("requested_datetime")).tzinfo is not None
    t = api.get(f"/tokens/{token}.{fmt}")
    assert t.status_code == 200
    if fmt == "json":
        assert t.json() == [{"service_request_id": no, "token": token}]
    else:
        assert ET.fromstring(t.content).findtext("request/service_request_id") == no


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_request_and_token_are_404(api, fmt):
    for path, field in ((f"/requests/20990101999.{fmt}", "service_request_id"), (f"/tokens/nope-nope.{fmt}", "token")):
        r = api.get(path)
        assert r.status_code == 404
        assert errors_of(r)[0]["code"] == 404 and field in errors_of(r)[0]["description"]


def test_unknown_format_is_404(api):
    assert api.get("/services.html").status_code == 404


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_status_notes_carry_the_reply_to_the_reporter(api, key, intake_engine, fmt):
    """``status_notes``: the sorting unit's words to the public (答复市民, migration 0034; the move
    itself: tests/dispatch/test_permissions.py) once there are some, else the state in words."""
    no = post(api, key).json()[0]["service_request_id"]

    def notes() -> str:
        r = api.get(f"/requests/{no}.{fmt}")
        return r.json()[0]["status_notes"] if fmt == "json" else ET.fromstring(r.content).findtext("request/status_notes")

    assert notes() == "上报"
    with intake_engine.begin() as c:
        c.execute(text("UPDATE cases SET public_reply = :r, public_reply_at = now() WHERE case_no = :n"),
                  {"r": "已转交环卫所 <今日内> 处理 & 回访", "n": no})
    assert notes() == "已转交环卫所 <今日内> 处理 & 回访"


def test_status_notes_of_a_merged_duplicate_name_the_case_to_follow(api, key, intake_engine):
    """合并: a duplicate's status_notes say which case carries the problem (the client can follow it)."""
    first = post(api, key).json()[0]["service_request_id"]
    dup = post(api, key).json()[0]["service_request_id"]
    with intake_engine.begin() as c:
        c.execute(text("UPDATE cases SET status = 'merged', merged_at = now(), "
                       "duplicate_of = (SELECT id FROM cases WHERE case_no = :f) WHERE case_no = :d"),
                  {"f": first, "d": dup})
    got = api.get(f"/requests/{dup}.json").json()[0]
    assert (got["status"], got["status_notes"]) == ("closed", f"已合并至案件 {first} 办理")
    assert api.get(f"/requests/{dup}.json?lang=en").json()[0]["status_notes"] == f"Merged into case {first}"
    assert api.get(f"/requests/{first}.json").json()[0]["status_notes"] == "上报"


def test_extensions_give_history_and_channel(api, key):
    no = post(api, key).json()[0]["service_request_id"]
    plain = api.get(f"/requests/{no}.json").json()[0]
    assert "extended_attributes" not in plain
    ext = api.get(f"/requests/{no}.json?extensions=true").json()[0]["extended_attributes"]
    assert ext["channel"] == "hotline" and ext["history"][0]["action"] == "report"
    assert ext["history"][0]["status"] == "reported" and set(ext["history"][0]) == \
        {"at", "action", "action_label", "status", "status_label"}  # no names, no comments
    x = ET.fromstring(api.get(f"/requests/{no}.xml?extensions=true").content)
    assert x.findtext("request/extended_attributes/history/event/action") == "report"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_requests_filters(api, key, fmt):
    a = post(api, key, service_code="0104").json()[0]["service_request_id"]
    b = post(api, key, service_code="0105").json()[0]["service_request_id"]
    r = api.get(f"/requests.{fmt}", params={"service_request_id": f"{a},{b}"})
    assert r.status_code == 200
    ids = [x["service_request_id"] for x in r.json()] if fmt == "json" else \
        [e.findtext("service_request_id") for e in ET.fromstring(r.content).findall("request")]
    assert set(ids) == {a, b}
    only = api.get("/requests.json", params={"service_code": "0105", "status": "open"}).json()
    assert b in [x["service_request_id"] for x in only] and all(x["service_code"] == "0105" for x in only)
    assert api.get("/requests.json", params={"service_code": "0105", "status": "closed"}).json() == []


def test_get_requests_span_and_paging(api, key):
    for _ in range(3):
        post(api, key, service_code="0201")
    now = datetime.now().astimezone()
    wide = api.get("/requests.json", params={"start_date": (now - timedelta(days=91)).isoformat(),
                                             "end_date": now.isoformat()})
    assert wide.status_code == 400 and "start_date" in wide.json()[0]["description"]
    back = api.get("/requests.json", params={"start_date": now.isoformat(),
                                             "end_date": (now - timedelta(days=1)).isoformat()})
    assert back.status_code == 400 and "end_date" in back.json()[0]["description"]
    p1 = api.get("/requests.json", params={"service_code": "0201", "page_size": 2}).json()
    p2 = api.get("/requests.json", params={"service_code": "0201", "page_size": 2, "page": 2}).json()
    assert len(p1) == 2 and len(p2) >= 1 and not {x["service_request_id"] for x in p1} & {x["service_request_id"] for x in p2}
    assert api.get("/requests.json", params={"page_size": 1001}).status_code == 400
    assert api.get("/requests.json", params={"status": "pending"}).status_code == 400
    old = api.get("/requests.json", params={"start_date": "2020-01-01", "end_date": "2020-02-01"})
    assert old.status_code == 200 and old.json() == []
