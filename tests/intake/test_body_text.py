"""The body of a report as an integration really sends it (session 14's review of intake).

- raw UTF-8 in a url-encoded form (``curl -d``) is stored as sent, not as latin-1 mojibake;
  text that is not UTF-8 (GBK, a lone surrogate) is refused naming its field, url-encoded or
  multipart; a JSON body is told what to send (415), not "missing API key";
- a chunked body (no Content-Length) is cut at the cap while it is read: nothing past it spooled;
- a field given twice, "4_1.18", a control character in an attribute: 400 naming the field;
- dates at the calendar's ends: 400, not 500; an XML error echoing a control character is well-formed.
"""
from __future__ import annotations

import uuid
from urllib.parse import quote_from_bytes
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import text

from tests.intake.conftest import INSIDE
from tests.intake.test_open311 import errors_of, post


def _raw_form(api, pairs: list[tuple[str, bytes]], path="/requests.json", **headers):
    """A url-encoded body written byte for byte: names %-encoded, values as given."""
    body = b"&".join(k.encode() + b"=" + v for k, v in pairs)
    return api.post(path, content=body, headers={"content-type": "application/x-www-form-urlencoded", **headers})


def _base(key) -> list[tuple[str, bytes]]:
    return [("api_key", key.encode()), ("service_code", b"0103"), ("long", str(INSIDE[0]).encode()),
            ("lat", str(INSIDE[1]).encode())]


def test_raw_utf8_in_a_urlencoded_form_is_stored_as_sent(api, key, intake_engine):
    tag = uuid.uuid4().hex[:8]
    r = _raw_form(api, [*_base(key), ("address_string", "某路1号".encode()), ("first_name", "张".encode()),
                        ("description", f"道路很脏 {tag}".encode())])
    assert r.status_code == 201, r.text
    with intake_engine.connect() as c:
        got = c.execute(text("SELECT address, reporter_name FROM cases WHERE description = :d"),
                        {"d": f"道路很脏 {tag}"}).one()
    assert got.address == "某路1号" and "张" in got.reporter_name
    # %-encoded UTF-8 and '+' for a space are read as before
    r = _raw_form(api, [*_base(key), ("description", quote_from_bytes(f"路面 油污 {tag}".encode()).encode()
                                      .replace(b"%20", b"+"))])
    assert r.status_code == 201 and api.get(f"/requests/{r.json()[0]['service_request_id']}.json") \
        .json()[0]["description"] == f"路面 油污 {tag}"


@pytest.mark.parametrize("value", [
    b"%B5%C0%C2%B7GBK",      # GBK, %-encoded
    "道路".encode("gbk"),      # GBK, raw
    b"a%FF%FEb",             # no encoding at all
    b"a%ED%A0%80b",          # a UTF-8-encoded lone surrogate
])
def test_text_that_is_not_utf8_is_refused_naming_the_field(api, key, intake_engine, value):
    n = intake_engine.connect().execute(text("SELECT count(*) FROM cases")).scalar_one()
    r = _raw_form(api, [*_base(key), ("description", value)])
    assert r.status_code == 400, r.text
    assert r.json()[0]["description"].startswith("description: 不是有效的 UTF-8"), r.json()
    assert intake_engine.connect().execute(text("SELECT count(*) FROM cases")).scalar_one() == n


def test_multipart_text_that_is_not_utf8_is_refused(api, key):
    r = api.post("/requests.json?lang=en", data={"api_key": key, "service_code": "0103", "long": INSIDE[0],
                                                 "lat": INSIDE[1]},
                 files={"description": (None, "道路".encode("gbk"), "text/plain")})
    assert r.status_code == 400 and r.json()[0]["description"].startswith("description: is not valid UTF-8"), r.text


@pytest.mark.parametrize("ctype, body", [
    ("application/json", b'{"service_code": "0103"}'),
    ("text/plain", b"service_code=0103"),
])
def test_a_body_that_is_not_a_form_is_415_saying_what_to_send(api, key, ctype, body):
    r = api.post(f"/requests.json?api_key={key}", content=body, headers={"content-type": ctype})
    assert r.status_code == 415, r.text
    assert r.json()[0]["description"].startswith("request: 请以 application/x-www-form-urlencoded")


def test_a_chunked_body_past_the_cap_is_cut_while_read(api, key):
    """The test service's cap is 4 MB (+1 MB for the form): 8 MB sent chunked, with no key at all."""
    chunk = b"x" * (256 * 1024)

    def body():
        yield (b"--B\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.jpg\"\r\n"
               b"Content-Type: image/jpeg\r\n\r\n")
        for _ in range(32):
            yield chunk
        yield b"\r\n--B--\r\n"

    r = api.post("/requests.json", content=body(), headers={"content-type": "multipart/form-data; boundary=B"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 400 and r.json()[0]["description"].startswith("request: 请求超过 5 MB"), r.text
    # the service goes on answering
    assert post(api, key).status_code == 201


@pytest.mark.parametrize("pairs, field", [
    ([("lat", b"41.1"), ("lat", b"51.5")], "lat"),
    ([("description", b"first"), ("description", b"second")], "description"),
    ([("lat", b"4_1.105")], "lat"),
    ([("long", b"0x7a")], "long"),
    ([("attribute[plate]", b"AB%00CD")], "attribute[plate]"),
    ([("attribute[plate]", b"AB%01CD")], "attribute[plate]"),
    ([("attribute[a%01b]", b"x")], "attribute"),
])
def test_ambiguous_or_unstorable_fields_are_refused(api, key, pairs, field):
    base = [p for p in _base(key) if p[0] not in ("service_code", *(k for k, _ in pairs))]
    r = _raw_form(api, [*base, ("service_code", b"0402"), *pairs])  # 0402 has the attribute "plate"
    assert r.status_code == 400, r.text
    assert r.json()[0]["description"].startswith(field + ":"), r.json()


@pytest.mark.parametrize("query, field", [
    ("start_date=9999-12-31T00:00:00", "start_date"),
    ("end_date=0001-01-01T00:00:00", "end_date"),
])
def test_dates_at_the_ends_of_the_calendar_are_400(api, query, field):
    r = api.get(f"/requests.json?{query}")
    assert r.status_code == 400 and r.json()[0]["description"].startswith(field), r.text


def test_an_xml_error_echoing_a_control_character_is_well_formed(api):
    r = api.get("/foo%01bar.xml")
    assert r.status_code == 404
    e = errors_of(r)[0]  # parsed by ElementTree: well-formed
    assert "\\u0001" in e["description"]
    ET.fromstring(r.content)


def test_swapped_lat_long_is_worded_for_the_form(api, key):
    r = post(api, key, long=INSIDE[1], lat=INSIDE[0])
    d = r.json()[0]["description"]
    assert r.status_code == 400 and d.startswith("lat/long: lat 与 long 似乎填反了") and "looks like" not in d, d
    r = api.post("/requests.json?lang=en", data={"api_key": key, "service_code": "0103", "long": 200, "lat": 41})
    assert r.json()[0]["description"].startswith("lat/long: out of range"), r.text


@pytest.mark.parametrize("fields, field, words", [
    ({"lat": 0, "long": 0}, "lat/long", "(0, 0) is not a place"),
    ({"lat": INSIDE[1], "long": INSIDE[0], "crs": "EPSG:3857"}, "crs", "look like degrees"),
])
def test_points_that_cannot_be_meant_are_refused_with_the_reason(api, key, fields, field, words):
    r = api.post("/requests.json?lang=en", data={"api_key": key, "service_code": "0103", **fields})
    assert r.status_code == 400 and r.json()[0]["description"].startswith(field + ":"), r.text
    assert words in r.json()[0]["description"]
    # metres in EPSG:3857 still go in
    x, y = 13581000.0, 5031000.0
    assert api.post("/requests.json", data={"api_key": key, "service_code": "0103", "lat": y, "long": x,
                                            "crs": "EPSG:3857"}).status_code == 201
