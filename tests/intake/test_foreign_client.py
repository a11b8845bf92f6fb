"""A GeoReport v2 client nobody here wrote: ``georeport`` (PyPI; read-only: services, service
definitions, requests) against the running service over real HTTP, in JSON and in XML (parsed by
its xmltodict). POST is not in that client, so the answer to a form-encoded POST is checked
against the specification's XML shape (http://wiki.open311.org/GeoReport_v2#POST_Service_Request)
with requests, the HTTP library such clients use."""
from __future__ import annotations

import uuid

import pytest
import requests
import xmltodict
from georeport import GeoReport

from tests.intake.conftest import INSIDE


def _post_xml(server: str, key: str, **extra) -> dict:
    form = {"api_key": key, "service_code": "1101", "attribute[cover_state]": "missing", "lat": str(INSIDE[1]),
            "long": str(INSIDE[0]), "description": "井盖缺失 " + uuid.uuid4().hex[:6], "email": "a@example.org",
            "first_name": "Li", "last_name": "Lei", "phone": "010-12345678", "device_id": "dev-1", **extra}
    r = requests.post(f"{server}/open311/v2/requests.xml", data=form, timeout=30)
    assert r.status_code == 201 and r.headers["content-type"].startswith("application/xml")
    doc = xmltodict.parse(r.content)
    assert list(doc) == ["service_requests"]
    req = doc["service_requests"]["request"]
    assert isinstance(req, dict)  # exactly one <request>
    return req


def test_post_answer_has_the_specification_shape(server, key):
    req = _post_xml(server, key, account_id="acc-7")
    # service_request_id or token (at least one), service_notice, account_id
    assert req["service_request_id"] and len(req["service_request_id"]) >= 8
    assert "已受理" in req["service_notice"] and req["account_id"] == "acc-7"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_reads_services_definitions_and_requests(server, key, fmt):
    no = _post_xml(server, key)["service_request_id"]
    client = GeoReport(server + "/open311/v2", output_format=fmt)

    services = client.get_service_list()
    codes = {s["service_code"]: s for s in services}
    assert "1101" in codes and "0103" in codes
    assert str(codes["1101"]["metadata"]).lower() == "true" and codes["1101"]["type"] == "realtime"

    definition = client.get_service_definition("1101")
    attrs = definition["attributes"]
    attr = attrs[0] if fmt == "json" else attrs["attribute"]
    attr = attr[0] if isinstance(attr, list) else attr
    assert attr["code"] == "cover_state" and str(attr["required"]).lower() == "true"

    one = client.get_service_request(no)
    assert one["service_request_id"] == no and one["service_code"] == "1101" and one["status"] == "open"
    assert float(one["lat"]) == pytest.approx(INSIDE[1]) and float(one["long"]) == pytest.approx(INSIDE[0])
    assert one["requested_datetime"][-6:] == "+08:00"  # a datetime with its zone

    listed = client.get_service_requests(service_request_id=no)
    listed = [listed] if isinstance(listed, dict) else listed
    assert [r["service_request_id"] for r in listed] == [no]
    recent = client.get_service_requests(service_code="1101", status="open")
    recent = [recent] if isinstance(recent, dict) else recent
    assert no in {r["service_request_id"] for r in recent}
