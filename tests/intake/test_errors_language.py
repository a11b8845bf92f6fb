"""Every error the service words itself comes in the request's language: 简体中文 by default,
English with ``lang=en`` — including the checks FastAPI makes of query and path parameters
(pydantic words them in English only) and an unknown path or method."""
from __future__ import annotations

import re
from xml.etree import ElementTree as ET

import pytest

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("path, status, zh, en", [
    ("/requests.json?page=0", 400, "page: 应不小于 1", "page: Input should be greater than or equal to 1"),
    ("/requests.json?page=abc", 400, "page: 应为整数", "page: Input should be a valid integer"),
    ("/requests.json?page_size=100000", 400, "page_size: 应不大于 1000", "page_size: Input should be less than"),
    ("/requests.json?extensions=maybe", 400, "extensions: 应为 true 或 false", "extensions: Input should be a valid boolean"),
    ("/requests.txt", 404, "fmt: 只有 .json 和 .xml 两种格式", "fmt: only .json and .xml exist"),
    ("/nothing.json", 404, "/open311/v2/nothing.json: 没有这个资源", "/open311/v2/nothing.json: Not Found"),
])
def test_parameter_and_path_errors_in_both_languages(api, path, status, zh, en):
    r = api.get(path)
    assert r.status_code == status, r.text
    assert r.json()[0]["description"] == zh
    sep = "&" if "?" in path else "?"
    r = api.get(path + sep + "lang=en")
    assert r.status_code == status and r.json()[0]["description"].startswith(en), r.text
    assert not CJK.search(r.json()[0]["description"])


def test_a_method_not_allowed_and_xml(api):
    r = api.delete("/requests.json")
    assert r.status_code == 405 and r.json()[0]["description"] == "/open311/v2/requests.json: 不接受 DELETE 方法"
    assert api.delete("/requests.json", headers={"accept-language": "en"}).json()[0]["description"].endswith(
        "Method Not Allowed")
    r = api.get("/requests.xml?page=0")
    assert r.status_code == 400 and ET.fromstring(r.text).find("error/description").text == "page: 应不小于 1"
