"""JSON and XML answers in the GeoReport v2 shapes.

XML follows the specification's documents: a root element holding one element per item
(``<services><service>…``, ``<service_requests><request>…``, ``<errors><error>…``); lists inside
an item (attribute ``values``, ``keywords``, ``formats``, the history extension) become a wrapper
element with one child per entry. Text goes through ElementTree, so hostile text is escaped,
never markup.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from fastapi.responses import Response

FORMATS = ("json", "xml")
# Wrapper element → child element name for lists inside an item.
_CHILD = {"values": "value", "attributes": "attribute", "endpoints": "endpoint", "formats": "format",
          "history": "event", "possible_duplicates": "service_request_id", "keywords": "keyword"}


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v)


# characters XML 1.0 cannot hold, even escaped (ElementTree writes them raw: a document no parser
# reads). Refused on the way in; a path echoed in a 404 or text from elsewhere may still hold one.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(s: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", s)


def _to_xml(parent: ET.Element, tag: str, value: Any) -> None:
    el = ET.SubElement(parent, tag)
    if value is None:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _to_xml(el, k, v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _to_xml(el, _CHILD.get(tag, "item"), v)
    else:
        el.text = _xml_text(_scalar(value))


def xml_bytes(root: str, item: str | None, data: Any) -> bytes:
    top = ET.Element(root)
    if item is None:
        for k, v in data.items():
            _to_xml(top, k, v)
    else:
        for d in data:
            _to_xml(top, item, d)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8", xml_declaration=False)


def _default(o: Any):
    if isinstance(o, datetime):
        return o.isoformat()
    raise TypeError(f"cannot render {type(o).__name__}")


def render(fmt: str, data: Any, *, root: str, item: str | None, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    """The answer in ``fmt``: a list of items (``item`` set) or one document (``item`` None)."""
    if fmt == "xml":
        return Response(xml_bytes(root, item, data), status_code=status, media_type="application/xml; charset=utf-8",
                        headers=headers)
    body = json.dumps(data, ensure_ascii=False, default=_default, separators=(",", ":"))
    return Response(body.encode(), status_code=status, media_type="application/json; charset=utf-8", headers=headers)
