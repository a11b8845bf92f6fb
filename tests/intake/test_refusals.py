"""Every refusal names its field: keys (403), unknown things (404), bad input (400), 409, 429."""
from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text

from tests.intake.conftest import INSIDE, new_key, start_server, stop_server
from tests.intake.test_open311 import errors_of, post


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("api_key", [None, "", "gg_wrong"])
def test_missing_or_wrong_key_is_403(api, fmt, api_key, intake_engine):
    desc = "no key " + uuid.uuid4().hex
    r = post(api, api_key, fmt, description=desc)
    assert r.status_code == 403
    assert "api_key" in errors_of(r)[0]["description"]
    with intake_engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM cases WHERE description = :d"), {"d": desc}).scalar() == 0


def test_key_revoked_mid_run(api, intake_engine):
    from intake.keys import revoke

    kid, k = new_key(intake_engine, "wechat", "revoked mid-run")
    assert post(api, k).status_code == 201
    with intake_engine.begin() as c:
        assert revoke(c, kid)
    r = post(api, k)
    assert r.status_code == 403 and "api_key" in r.json()[0]["description"]


@pytest.mark.parametrize("fields, field", [
    ({"service_code": "9999"}, "service_code"),
    ({"service_code": None}, "service_code"),
    ({"service_code": "1101"}, "attribute[cover_state]"),              # required attribute missing
    ({"service_code": "1101", "attribute[cover_state]": "gone"}, "attribute[cover_state]"),
    ({"service_code": "0103", "attribute[colour]": "red"}, "attribute[colour]"),
    ({"service_code": "1102", "attribute[lamp_count]": "three"}, "attribute[lamp_count]"),
    ({"service_code": "0301", "attribute[noise_since]": "2026-11-30T22:00"}, "attribute[noise_since]"),
    ({"long": INSIDE[1], "lat": INSIDE[0]}, "lat/long"),                # swapped
    ({"long": 200, "lat": 41}, "lat/long"),                             # out of range
    ({"long": "east", "lat": 41}, "long"),
    ({"long": None}, "long"),
    ({"long": None, "lat": None}, "lat/long"),                          # neither a point nor an address
    ({"crs": "MARS2000"}, "crs"),
    ({"crs": "GCJ02", "long": 2.0, "lat": 48.0}, "lat/long"),          # GCJ-02 outside China
    ({"description": "x" * 4001}, "description"),
    ({"description": "bad\x00byte"}, "description"),
    ({"email": "not-an-address"}, "email"),
    ({"phone": "<script>"}, "phone"),
    ({"media_url": "javascript:alert(1)"}, "media_url"),
    ({"channel": "website"}, "channel"),                                # a hotline key cannot speak as website
])
def test_bad_input_is_400_naming_the_field(api, key, fields, field):
    r = post(api, key, **fields)
    assert r.status_code == 400, r.text
    assert r.json()[0]["code"] == 400
    assert r.json()[0]["description"].startswith(field), r.json()


def test_refusal_in_english_and_xml(api, key):
    r = api.post("/requests.xml?lang=en", data={"api_key": key, "service_code": "9999", "lat": INSIDE[1],
                                                "long": INSIDE[0]})
    e = errors_of(r)[0]
    assert r.status_code == 400 and e["code"] == 400 and e["description"].startswith("service_code: unknown service")


def test_description_of_4000_characters_is_taken(api, key):
    assert post(api, key, description="长" * 4000).status_code == 201


def test_hostile_text_is_stored_as_text(api, key, intake_engine):
    hostile = "<script>alert('x')</script> '); DROP TABLE cases; -- ]]> &amp; {{7*7}}"
    ans = post(api, key, description=hostile, address_string="<b>addr</b>").json()[0]
    got = api.get(f"/requests/{ans['service_request_id']}.json").json()[0]
    assert got["description"] == hostile and got["address"] == "<b>addr</b>"
    xml = api.get(f"/requests/{ans['service_request_id']}.xml")
    assert b"<script>" not in xml.content and b"&lt;script&gt;" in xml.content
    from xml.etree import ElementTree as ET
    assert ET.fromstring(xml.content).findtext("request/description") == hostile
    with intake_engine.connect() as c:
        assert c.execute(text("SELECT to_regclass('cases') IS NOT NULL")).scalar()


def test_rate_limits_answer_429_with_retry_after(intake_db_url, intake_engine, tmp_path):
    proc, base = start_server(intake_db_url, tmp_path, INTAKE_RATE_PER_ADDRESS=1, INTAKE_BURST_PER_ADDRESS=3,
                              INTAKE_RATE_PER_KEY=0.5, INTAKE_BURST_PER_KEY=2)
    try:
        _, k = new_key(intake_engine, "website", "rate test")
        with httpx.Client(base_url=base + "/open311/v2") as c:
            codes = [post(c, k).status_code for _ in range(3)]
            assert codes[:2] == [201, 201] and codes[2] == 429  # the key's burst of 2 is spent
            r = post(c, k)
            assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
            codes = [c.get("/services.json").status_code for _ in range(3)]
            assert 429 in codes  # the address's burst of 3 is spent too
            r = c.get("/services.xml")
            assert r.status_code == 429 and r.headers["Retry-After"] and errors_of(r)[0]["code"] == 429
    finally:
        stop_server(proc)
