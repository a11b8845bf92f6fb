"""The planner's page with reference layers and the city's own tiles (AppTest): the editor is given
the draft's shown layers (names, attributes as loaded) and the tile URL template from the
configuration; a layer hidden or removed on the page leaves the map; a wrong tile source is a
warning, not a crash. The browser side: tests/e2e/test_planner_editor.py."""
from __future__ import annotations

import json

import pytest

from planning import layers
from tests.tile_files import make_mbtiles, png
from tests.ui.test_planner_page import _create, _draft, planner  # noqa: F401  (planner: a fixture)

HOSTILE = '<script>alert("x")</script>'


def editor_args(at) -> dict:
    """The arguments the planner's map editor (the first component on the page) was drawn with."""
    inst = [e for e in at.get("component_instance") if e.proto.component_name == "ui.grid_editor.grid_editor"]
    assert inst, "no editor on the page"
    return json.loads(inst[0].proto.json_args)


@pytest.fixture
def with_layer(planner, engine, tmp_path):
    """A draft of the test district with one reference layer (a road with a hostile name), committed."""
    at = _create(planner())
    draft_id, _, _ = _draft(engine)
    path = tmp_path / "道路.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[122.0, 41.1], [122.01, 41.1]]},
         "properties": {"name": HOSTILE}}]}, ensure_ascii=False))
    with engine.begin() as c:
        layer = layers.load_layer(c, draft_id, path, crs="WGS84", actor_id=None)
    return at.run(), draft_id, layer


def test_the_editor_gets_the_drafts_shown_layers(with_layer):
    at, draft_id, layer = with_layer
    assert not at.exception, at.exception
    refs = editor_args(at)["references"]
    assert [r["name"] for r in refs] == ["道路"]
    assert refs[0]["features"][0]["properties"] == {"name": HOSTILE}  # as loaded: the map shows it as text
    assert refs[0]["features"][0]["geometry"]["coordinates"] == [[122.0, 41.1], [122.01, 41.1]]
    assert any("道路（1 个要素，WGS84" in t.value for t in at.text)
    assert editor_args(at)["tiles"] is None  # no GRIDGOV_TILES: a blank background


def test_a_hidden_layer_leaves_the_map_and_a_removed_one_the_draft(with_layer, engine):
    at, draft_id, layer = with_layer
    at.toggle(key=f"pl_ref_shown_{layer.id}").set_value(False).run()
    assert not at.exception, at.exception
    assert editor_args(at)["references"] == []
    with engine.connect() as c:
        assert layers.list_layers(c, draft_id)[0].shown is False
    at.button(key=f"pl_ref_rm_{layer.id}").click().run()
    assert any("已移除参考图层「道路」" in i.value for i in at.info)
    with engine.connect() as c:
        assert layers.list_layers(c, draft_id) == []
    assert any("还没有参考图层" in c.value for c in at.caption)


def test_the_editor_gets_the_tile_url_from_the_configuration(planner, engine, tmp_path, monkeypatch):
    mb = make_mbtiles(tmp_path / "city.mbtiles", {(12, 3436, 1535): png((1, 2, 3)), (16, 54980, 24570): png((4, 5, 6))},
                      attribution="市测绘院")
    monkeypatch.setenv("GRIDGOV_TILES", str(mb))
    monkeypatch.setenv("INTAKE_PORT", "8602")
    at = _create(planner())
    assert not at.exception, at.exception
    assert editor_args(at)["tiles"] == {"url": "http://127.0.0.1:8602/tiles/{z}/{x}/{y}.png", "min_zoom": 12,
                                        "max_zoom": 16, "attribution": "市测绘院"}
    monkeypatch.setenv("GRIDGOV_TILES_URL", "/tiles/{z}/{x}/{y}.png")  # behind a proxy routing /tiles/
    at.run()
    assert editor_args(at)["tiles"]["url"] == "/tiles/{z}/{x}/{y}.png"


def test_a_wrong_tile_source_is_a_warning(planner, tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDGOV_TILES", str(tmp_path / "nowhere.mbtiles"))
    at = _create(planner())
    assert not at.exception, at.exception
    # the reason in the page's language (it was English on the Chinese page)
    assert any("底图瓦片无法使用" in w.value and "没有这个文件或文件夹" in w.value for w in at.warning)
    assert editor_args(at)["tiles"] is None


@pytest.mark.parametrize("browser_url, want", [
    ("http://10.20.1.5:8501/planner", "http://10.20.1.5:8502/tiles/{z}/{x}/{y}.png"),
    ("http://[fd00::5]:8501/", "http://[fd00::5]:8502/tiles/{z}/{x}/{y}.png"),
    (None, "http://127.0.0.1:8502/tiles/{z}/{x}/{y}.png"),
])
def test_the_tile_url_follows_the_host_the_browser_used(browser_url, want, monkeypatch):
    from ui.planner_view import tile_url_template

    monkeypatch.delenv("GRIDGOV_TILES_URL", raising=False)
    monkeypatch.delenv("INTAKE_PORT", raising=False)
    assert tile_url_template(browser_url) == want
