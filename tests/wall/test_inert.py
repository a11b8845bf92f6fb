"""wall.inert: user text that starts with ``@@`` never reaches deck.gl's JSON converter as code.

deck.gl compiles any string starting with ``@@=`` and looks up any starting with ``@@#``, layer
data included; ``@@#Math.PI`` throws and blanks the map (tests/e2e/test_wall.py shows it in a
browser).
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.wall.test_frame import NOW, _case, _only, district  # noqa: F401  (district is a fixture)
from wall import frame as wall
from wall.inert import ZWSP, inert_spec, inert_text

TYPED = ["@@=console.log(1)", "@@#Math.PI", "@@type", "@@", "@@#COORDINATE_SYSTEM.LNGLAT"]


def _strings(value, path=()):
    """Every string (and object key) inside ``value``, with where it is."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, path + (i,))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield path + (k,), k
            yield from _strings(v, path + (k,))


def _data_strings(deck: dict) -> list[str]:
    return [s for layer in deck["layers"] if isinstance(layer.get("data"), list) for _, s in _strings(layer["data"])]


def _directives(deck: dict) -> dict:
    """The layers' own props that start with @@ (types and accessors), which must stay as they are."""
    return {(layer["id"], k): v for layer in deck["layers"] for k, v in layer.items()
            if k != "data" and isinstance(v, str) and v.startswith("@@")}


@pytest.mark.parametrize("typed", TYPED + ['"@@=x', '\\@@=x', 'a","getText":"@@=x', "正常 @@=x"])
def test_a_data_string_never_starts_with_at_at_and_reads_the_same(typed):
    deck = {"layers": [{"@@type": "TextLayer", "id": "l", "getText": "@@=n", "getSize": "@@=z>1?2:3",
                        "data": [{"n": typed, "z": 1, "q": [typed, {"m": typed}]}]}],
            "views": [{"@@type": "MapView", "controller": True}]}
    spec = json.dumps(deck, ensure_ascii=False, separators=(",", ":"))
    out = json.loads(inert_spec(spec))
    assert not any(s.startswith("@@") for s in _data_strings(out))
    assert _directives(out) == _directives(deck) and out["views"] == deck["views"]
    row = out["layers"][0]["data"][0]
    assert row["n"].replace(ZWSP, "", 1) == typed and row["n"] == inert_text(typed)
    assert row["q"] == [inert_text(typed), {"m": inert_text(typed)}]


def test_a_clean_spec_is_returned_as_it_is():
    spec = '{"layers":[{"@@type":"ScatterplotLayer","getPosition":"@@=p","data":[{"p":[1,2],"t":"井盖 @@"}]}]}'
    assert inert_spec(spec) is spec


def test_the_wall_deck_neutralises_descriptions_and_area_grid_and_category_names(conn, district):
    for i, typed in enumerate(TYPED[:2]):
        _case(conn, district, grid=i, desc=typed)
    conn.execute(text("UPDATE unit_grid SET name = '@@#Math.PI' WHERE id = :g"), {"g": district.grid_ids[0]})
    conn.execute(text("UPDATE subdistrict SET name = '@@=1' WHERE id = :s"), {"s": district.subdistrict_ids[0]})
    conn.execute(text("UPDATE community SET name = '@@#x.y' WHERE subdistrict_id = :s"),
                 {"s": district.subdistrict_ids[1]})
    conn.execute(text("UPDATE case_category SET name = '@@=k' WHERE code = '1102'"))
    base = wall.base_map(conn, "zh")
    cases = wall.open_cases(conn, _only(district), NOW, "zh")
    spec, _ = wall.deck_json(base, cases, wall.view_for(base.bbox), "zh", outlines_url="o.json")
    deck = json.loads(spec)
    shown = _data_strings(deck)
    assert not [s for s in shown if s.startswith("@@")]
    # what a person reads is unchanged: the zero-width space is the only difference
    layers = {layer["id"]: layer for layer in deck["layers"]}
    assert sorted(p["d"].replace(ZWSP, "") for p in layers["cases"]["data"]) == sorted(TYPED[:2])
    assert any(p["t"].replace(ZWSP, "").startswith("@@=k ") for p in layers["cases"]["data"])
    assert any(g["t"].replace(ZWSP, "").startswith("@@#Math.PI ") for g in layers["grids"]["data"])
    assert "\u200b@@=1" in {lab["n"] for lab in layers["area-labels"]["data"]}
    # the deck's own accessors are untouched
    assert layers["cases"]["getPosition"] == "@@=p" and layers["area-labels"]["getText"] == "@@=n"
    assert all(layer["@@type"] for layer in deck["layers"])
