"""User-facing text in 简体中文 (default) and English: ``t(key, lang)``.

Plain Python, no UI imports, so services can raise errors that any front end translates.
Case states, levels, roles and actions are named by the lifecycle (``dispatch.states``);
categories, departments and areas carry their own ``name`` / ``name_en`` columns.
"""
from __future__ import annotations

from collections.abc import Mapping

from dispatch import states
from i18n.messages import MESSAGES  # noqa: F401  (re-exported)
from i18n.pinyin import english_area_name, is_area_name

LANGS: dict[str, str] = {"zh": "简体中文", "en": "English"}
DEFAULT_LANG = "zh"


def normalise_lang(lang: str | None) -> str:
    return lang if lang in LANGS else DEFAULT_LANG


def t(key: str, lang: str | None = DEFAULT_LANG, **fmt) -> str:
    """The text for ``key`` in ``lang``; ``fmt`` fills ``{placeholders}``.

    An unknown key comes back as the key itself, so a missing label shows on screen instead of
    crashing a wall; ``tests/ui/test_i18n.py`` checks that every key the code uses exists.
    """
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if normalise_lang(lang) == "en" else pair[0]
    return text.format(**fmt) if fmt else text


def status_label(code: str | None, lang: str | None = DEFAULT_LANG) -> str:
    """Label of a case state (上报, 立案 …)."""
    return states.label("status", code, normalise_lang(lang))


def level_label(code: str | None, lang: str | None = DEFAULT_LANG) -> str:
    """Label of a case level (网格, 社区, 街道, 区)."""
    return states.label("level", code, normalise_lang(lang))


def role_label(code: str | None, lang: str | None = DEFAULT_LANG) -> str:
    return states.label("role", code, normalise_lang(lang))


def action_label(code: str | None, lang: str | None = DEFAULT_LANG) -> str:
    """Label of a lifecycle action (派遣, 结案 …), e.g. for the wall's ticker."""
    return states.label("action", code, normalise_lang(lang))


def name_in(row, lang: str | None, field: str = "name") -> str | None:
    """``row.name`` or, in English, ``row.name_en`` when present (categories, areas, departments),
    else for an area's name (a grid, community, subdistrict … without a stored English form) its
    pinyin form (``i18n.pinyin``):
    THE rule for names stored in both languages. ``row`` is a mapping (dict, SQLAlchemy
    ``RowMapping``) or an object with attributes (a ``Row``); ``field`` picks another pair of
    columns (``field`` / ``field_en``, e.g. ``category_name``). A missing name gives None.

    >>> name_in({"name": "科技社区", "name_en": "Keji Community"}, "en")
    'Keji Community'
    >>> name_in({"category_name": "暴露垃圾", "category_name_en": None}, "en", "category_name")
    '暴露垃圾'
    >>> name_in({"grid_name": "富民社区第8网格"}, "en", "grid_name")
    'Fumin Community Grid 8'
    """
    get = row.get if isinstance(row, Mapping) else (lambda k: getattr(row, k, None))
    if normalise_lang(lang) != "en":
        return get(field)
    if get(f"{field}_en"):
        return get(f"{field}_en")
    name = get(field)
    return english_area_name(name) if is_area_name(name) else name
