"""English forms of Chinese area names that have none stored: generic terms translated, proper
names in pinyin (汉语拼音, one capitalised word per name, as on road signs).

>>> english_area_name("科技社区第3网格")
'Keji Community Grid 3'
>>> english_area_name("铁路社区第5责任网格")
'Tielu Community Responsibility Grid 5'
>>> english_area_name("兴海街道")
'Xinghai Subdistrict'
>>> english_area_name("镇海社区")
'Zhenhai Community'
>>> english_area_name("田家村")
'Tianjia Village'
>>> english_area_name("Block 7")
'Block 7'

Plain Python; pypinyin is imported on first use, so a session in Chinese never loads it.
"""
from __future__ import annotations

import re
from functools import lru_cache

# Generic parts of area names, longest first (so 责任网格 wins over 网格).
TERMS: dict[str, str] = {
    "责任网格": "Responsibility Grid", "网格": "Grid", "社区": "Community", "街道": "Subdistrict",
    "村委会": "Village", "村": "Village", "镇": "Town", "乡": "Township", "区": "District",
    "居委会": "Residents' Committee", "小区": "Estate", "片区": "Sector",
}
_MULTI = "|".join(sorted((re.escape(t) for t in TERMS if len(t) > 1), key=len, reverse=True))
# one-character terms (村, 镇, 乡, 区) only where a name ends or another part begins: 镇海社区 is
# Zhenhai Community, not "Town Hai Community"
_SINGLE = "|".join(re.escape(t) for t in TERMS if len(t) == 1)
_TERM = rf"{_MULTI}|(?:{_SINGLE})(?=$|第|\d|{_MULTI})"
_NUMBERED = re.compile(rf"第\s*(\d+)\s*({_MULTI}|{_SINGLE})")            # 第3网格 → Grid 3
_PARTS = re.compile(rf"({_TERM})|((?:(?!{_TERM})[\u3400-\u9fff])+)")
_CJK = re.compile(r"[\u3400-\u9fff]")


_AREA_END = re.compile(rf"(?:{_MULTI}|{_SINGLE})$")


def is_area_name(name: str | None) -> bool:
    """True for a Chinese name ending in an area term (…社区, …街道, …第3网格, …村): the names that
    get a pinyin form; a category (暴露垃圾) or a department (城管执法局) does not.

    >>> is_area_name("富民社区第8网格"), is_area_name("暴露垃圾")
    (True, False)
    """
    return bool(name and _CJK.search(name) and _AREA_END.search(name.strip()))


def _pinyin_word(run: str) -> str:
    from pypinyin import lazy_pinyin  # a large dictionary: loaded only when English needs it

    return "".join(lazy_pinyin(run)).replace("v", "ü").capitalize()


@lru_cache(maxsize=8192)
def english_area_name(name: str | None) -> str | None:
    """``name`` with generic terms in English and the rest in pinyin; a name without Chinese
    characters comes back as it is, and None stays None."""
    if not name or not _CJK.search(name):
        return name
    text = _NUMBERED.sub(lambda m: f" {TERMS[m.group(2)]} {m.group(1)} ", name)

    def part(m: re.Match) -> str:
        return f" {TERMS[m.group(1)]} " if m.group(1) else f" {_pinyin_word(m.group(2))} "

    return re.sub(r"\s+", " ", _PARTS.sub(part, text)).strip()
