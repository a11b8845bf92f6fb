"""wall.pick: the map-click contract, defined once, used by the wall's deck and the dispatch page."""
from __future__ import annotations

import doctest
import json

import pytest

from wall import pick
from wall.frame import BaseMap, OpenCases, deck_json
from wall.pick import CASE_ID_FIELD, CASE_LAYER, case_id_from_selection


@pytest.mark.parametrize("selection, want", [
    ({"selection": {"indices": {"cases": [3]}, "objects": {"cases": [{"i": 42, "p": [1, 2]}]}}}, 42),
    ({"selection": {"indices": {"cases": [0]}, "objects": {"cases": [{"i": "7"}]}}}, 7),
    ({"selection": {"indices": {"grids": [5]}, "objects": {"grids": [{"g": [], "t": "网格"}]}}}, None),  # a grid
    ({"selection": {"indices": {}, "objects": {}}}, None),
    ({"objects": {"cases": [{"i": 9}]}}, 9),
    (None, None),
    ({"selection": {"objects": {"cases": [{"p": [1, 2]}]}}}, None),
    ({"selection": {"objects": {"cases": [{"i": "not-a-number"}]}}}, None),
])
def test_a_map_click_resolves_to_the_case_by_its_own_id_field(selection, want):
    assert case_id_from_selection(selection) == want


def test_the_contract_is_what_the_browser_sends():
    # Spelt out once here, as Streamlit hands a click back: layer "cases", id field "i".
    assert (CASE_LAYER, CASE_ID_FIELD) == ("cases", "i")


def test_the_wall_deck_draws_its_cases_under_the_contract():
    """A click on a point of the deck the wall writes resolves to that point's case."""
    base = BaseMap(outlines="[]", labels=(), grids=(), bbox=(0.0, 0.0, 1.0, 1.0))
    cases = OpenCases(points=[{CASE_ID_FIELD: 17, "p": [1, 2], "k": 1, "t": "x"}], halos=[], load={},
                      valid_until=None, detailed=False)
    spec, _ = deck_json(base, cases, {"longitude": 0.5, "latitude": 0.5, "zoom": 10}, "zh", outlines_url="o.json")
    layer = next(ly for ly in json.loads(spec)["layers"] if ly["id"] == CASE_LAYER)
    assert layer["pickable"]
    clicked = {"selection": {"indices": {CASE_LAYER: [0]}, "objects": {CASE_LAYER: [layer["data"][0]]}}}
    assert case_id_from_selection(clicked) == 17


def test_the_docstring_examples_hold():
    assert doctest.testmod(pick).failed == 0
