"""i18n: every text exists in both languages, and every key the UI asks for is there."""
from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import i18n
from i18n import MESSAGES, action_label, level_label, name_in, status_label, t

for _m in pkgutil.iter_modules(i18n.__path__):  # page texts register themselves on import
    importlib.import_module(f"i18n.{_m.name}")

ROOT = Path(__file__).resolve().parents[2]
UI_SOURCES = [ROOT / "app.py", *(f for d in ("pages", "ui", "wall") for f in sorted((ROOT / d).glob("*.py")))]
# t("a.b") / tr("a.b"), and the prefix of a composed key: tr("account.unit." + level)
KEY_CALL = re.compile(r"""\b(?:t|tr)\(\s*f?["']([a-z_]+\.[a-z_.]*)[{"']""")


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_text_has_chinese_and_english(key):
    zh, en = MESSAGES[key]
    assert zh.strip() and en.strip()
    assert re.findall(r"{\w+}", zh) == re.findall(r"{\w+}", en), "placeholders differ"


def test_every_key_the_ui_uses_exists():
    used = {m for f in UI_SOURCES for m in KEY_CALL.findall(f.read_text(encoding="utf-8"))}
    assert used, "the pattern found no keys: check KEY_CALL"
    missing = [k for k in used if k not in MESSAGES and not any(m.startswith(k) for m in MESSAGES)]
    assert missing == []


def test_chinese_is_the_default_and_unknown_languages_fall_back_to_it():
    assert t("wall.kpi.open") == "在办案件"
    assert t("wall.kpi.open", "en") == "Open"
    assert t("wall.kpi.open", "fr") == "在办案件"
    assert t("app.signed_in_as", "en", name="Li", role="Admin") == "Li (Admin)"


def test_states_levels_and_actions_are_named_by_the_lifecycle():
    assert (status_label("awaiting_verification"), status_label("awaiting_verification", "en")) == \
        ("待核查", "Awaiting verification")
    assert level_label("subdistrict") == "街道" and action_label("dispatch", "en") == "Dispatch"


def test_names_from_the_database_switch_with_the_language():
    row = {"name": "科技社区", "name_en": "Keji Community"}
    assert name_in(row, "zh") == "科技社区" and name_in(row, "en") == "Keji Community"
    assert name_in({"name": "科技社区", "name_en": None}, "en") == "Keji Community"   # an area: pinyin
    assert name_in({"name": "暴露垃圾", "name_en": None}, "en") == "暴露垃圾"         # not an area: as stored


CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.mark.parametrize("name, english", [
    ("科技社区第3网格", "Keji Community Grid 3"),
    ("铁路社区第5责任网格", "Tielu Community Responsibility Grid 5"),
    ("兴海街道", "Xinghai Subdistrict"),
    ("田家村", "Tianjia Village"),
    ("镇海社区", "Zhenhai Community"),          # 镇 inside a name is not "Town"
    ("吕家村", "Lüjia Village"),
])
def test_area_names_without_a_stored_english_form_are_given_in_pinyin(name, english):
    assert name_in({"name": name}, "en") == english
    assert name_in({"name": name, "name_en": "Stored"}, "en") == "Stored"   # a stored form wins
    assert name_in({"name": name}, "zh") == name


@pytest.mark.parametrize("name", ["暴露垃圾", "城管执法局", "路灯不亮"])
def test_categories_and_departments_are_not_turned_into_pinyin(name):
    assert name_in({"name": name}, "en") == name


def test_every_area_of_the_test_district_has_an_english_name(engine, wall_db):
    """Grids, responsibility grids, communities and subdistricts: stored English or pinyin, no
    Chinese character left on an English screen."""
    from sqlalchemy import text

    with engine.connect() as c:
        rows = [dict(r) for r in c.execute(text(
            "SELECT name, name_en FROM subdistrict UNION ALL SELECT name, name_en FROM community "
            "UNION ALL SELECT name, NULL FROM unit_grid UNION ALL SELECT name, NULL FROM responsibility_grid")).mappings()]
    assert rows
    left = [r["name"] for r in rows if CJK.search(name_in(r, "en") or "")]
    assert left == []
