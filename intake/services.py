"""Open311 services = the case categories (2-digit major + 2-digit minor code), with attributes.

Names come in 简体中文 with English beside them (``service_name_en``, ``group_en``); ``lang=en``
puts English in the standard fields. ``check_attributes`` validates a POST's ``attribute[code]``
values against the service definition and names the attribute it refuses.
"""
from __future__ import annotations

import math
import time
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from intake.errors import bad, not_found


def _attributes(conn: Connection, code: str | None = None) -> dict[str, list[dict]]:
    rows = conn.execute(text(
        'SELECT service_code, code, datatype, required, "order", description, description_en, "values" '
        "FROM intake_service_attribute WHERE CAST(:c AS text) IS NULL OR service_code = :c "
        'ORDER BY service_code, "order", code'), {"c": code}).mappings()
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["service_code"], []).append(dict(r))
    return out


def list_services(conn: Connection, lang: str) -> list[dict]:
    attrs = _attributes(conn)
    en = lang == "en"
    out = []
    for r in conn.execute(text(
            "SELECT code, kind, major_name, major_name_en, name, name_en FROM case_category ORDER BY code")).mappings():
        out.append({
            "service_code": r["code"],
            "service_name": (r["name_en"] or r["name"]) if en else r["name"],
            "description": f"{r['major_name_en'] or r['major_name']} / {r['name_en'] or r['name']}" if en
            else f"{r['major_name']} / {r['name']}",
            "metadata": r["code"] in attrs,
            "type": "realtime",
            "keywords": r["kind"],  # the specification: a comma-separated string
            "group": (r["major_name_en"] or r["major_name"]) if en else r["major_name"],
            "service_name_en": r["name_en"],
            "group_en": r["major_name_en"],
        })
    return out


# Categories and attributes are reference data that change rarely; a report checks them from a
# per-process copy at most CACHE_SECONDS old instead of two queries per report.
CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, object]] = {}


def _cached(conn: Connection, name: str, load):
    hit = _cache.get(name)
    now = time.monotonic()
    if hit is None or now - hit[0] > CACHE_SECONDS:
        hit = (now, load(conn))
        _cache[name] = hit
    return hit[1]


def service_exists(conn: Connection, code: str) -> bool:
    codes = _cached(conn, "codes", lambda c: frozenset(c.execute(text("SELECT code FROM case_category")).scalars()))
    return code in codes


def definition(conn: Connection, code: str, lang: str) -> dict:
    """The GeoReport service definition of ``code`` (404 if unknown)."""
    if not service_exists(conn, code):
        raise not_found("service_code", f"服务 {code!r} 不存在", f"unknown service {code!r}")
    en = lang == "en"
    attrs = []
    for a in _attributes(conn, code).get(code, []):
        attrs.append({
            "variable": True,
            "code": a["code"],
            "datatype": a["datatype"],
            "required": a["required"],
            "datatype_description": _datatype_help(a["datatype"], en),
            "order": a["order"],
            "description": (a["description_en"] or a["description"]) if en else a["description"],
            "values": [{"key": v["key"], "name": (v.get("name_en") or v["name"]) if en else v["name"]}
                       for v in a["values"]],
        })
    return {"service_code": code, "attributes": attrs}


def _datatype_help(datatype: str, en: bool) -> str:
    zh, eng = {
        "string": ("文本（一行）", "a line of text"),
        "text": ("文本", "text"),
        "number": ("数字", "a number"),
        "datetime": ("带时区的 ISO 8601 时间", "an ISO 8601 time with its time zone"),
        "singlevaluelist": ("从列表中选一个键", "one key from the list"),
        "multivaluelist": ("从列表中选一个或多个键", "one or more keys from the list"),
    }[datatype]
    return eng if en else zh


def check_attributes(conn: Connection, code: str, given: dict[str, list[str]]) -> dict:
    """The validated attribute values of a report for service ``code``.

    ``given`` maps an attribute code to the values sent (``attribute[code]``, repeated for a
    multivaluelist). Unknown attributes, missing required ones and values of the wrong type or
    outside the list are refused, naming ``attribute[code]``.
    """
    defs = {a["code"]: a for a in _cached(conn, "attributes", _attributes).get(code, [])}
    for k in given:
        if k not in defs:
            raise bad(f"attribute[{k}]", f"服务 {code} 没有属性 {k!r}", f"service {code} has no attribute {k!r}")
    out: dict = {}
    for k, a in defs.items():
        field = f"attribute[{k}]"
        vals = [v for v in given.get(k, []) if v.strip()]
        if not vals:
            if a["required"]:
                raise bad(field, f"必填属性“{a['description']}”未填写",
                          f"the required attribute “{a['description_en'] or k}” is missing")
            continue
        dt = a["datatype"]
        if dt != "multivaluelist" and len(vals) > 1:
            raise bad(field, "该属性只能有一个值", "this attribute takes one value")
        v = vals[0].strip()
        if dt in ("singlevaluelist", "multivaluelist"):
            keys = {x["key"] for x in a["values"]}
            wrong = [x for x in vals if x not in keys]
            if wrong:
                raise bad(field, f"取值 {wrong[0]!r} 不在列表中（{', '.join(sorted(keys))}）",
                          f"value {wrong[0]!r} is not in the list ({', '.join(sorted(keys))})")
            out[k] = vals if dt == "multivaluelist" else v
        elif dt == "number":
            try:
                n = float(v)
            except ValueError:
                raise bad(field, f"{v!r} 不是数字", f"{v!r} is not a number") from None
            if not math.isfinite(n):
                raise bad(field, f"{v!r} 不是有限数字", f"{v!r} is not a finite number")
            out[k] = n
        elif dt == "datetime":
            try:
                t = datetime.fromisoformat(v)
            except ValueError:
                raise bad(field, f"{v!r} 不是 ISO 8601 时间", f"{v!r} is not an ISO 8601 time") from None
            if t.tzinfo is None:
                raise bad(field, "时间须带时区", "the time needs its time zone")
            out[k] = t.isoformat()
        else:
            if len(v) > (200 if dt == "string" else 2000):
                raise bad(field, "文本过长", "the text is too long")
            out[k] = v
    return out
