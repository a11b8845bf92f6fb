"""Filter choices (筛选项) for the wall and the clearance charts: areas, departments, categories.

One reader for both pages, so a fix to the labels reaches both: Streamlit's select widgets send the
*label* of a choice back to the server, which takes the first option with that label, so every
label here is unique within its list (``unique_labels``).
"""
from __future__ import annotations

from collections import Counter

from sqlalchemy import text
from sqlalchemy.engine import Connection

from i18n import name_in, normalise_lang


def unique_labels(labels: list[str], *qualifiers: list[str], en: bool = False) -> list[str]:
    """``labels`` made unique: a label shared by several rows gets its first qualifier that tells
    them apart from its namesakes, in brackets (兴隆街道（兴隆台区）, "Xinglong Subdistrict
    (Xinglongtai District)" in English); the last qualifier (a unique code) always does.

    Two areas with the same name (the same subdistrict name in two districts, the same community
    name in two subdistricts) would otherwise filter the wrong one.

    >>> unique_labels(["科技社区", "锦祥社区", "科技社区"], ["创新街道", "兴隆街道", "振兴街道"], ["1", "2", "3"])
    ['科技社区（创新街道）', '锦祥社区', '科技社区（振兴街道）']
    """
    out = list(labels)
    for n, quals in enumerate(qualifiers, 1):
        count = Counter(out)
        if all(c == 1 for c in count.values()):
            break
        told_apart = Counter(zip(out, quals))  # a qualifier that its namesakes share does not help
        out = [(f"{lab} ({q})" if en else f"{lab}（{q}）")
               if count[lab] > 1 and (told_apart[lab, q] == 1 or n == len(qualifiers)) else lab
               for lab, q in zip(out, quals)]
    return out


def filter_options(conn: Connection, lang: str) -> dict[str, list[tuple]]:
    """(value, label) pairs: subdistricts, communities (with their subdistrict id as a third
    item), departments and categories, in code order.

    Labels are unique within a list (see ``unique_labels``): an area whose name is shared is
    qualified by the area it lies in, else by its code; categories carry their code.
    """
    sd = conn.execute(text("""
        SELECT s.id, s.code, s.name, s.name_en, d.name AS d_name, d.name_en AS d_name_en
        FROM subdistrict s JOIN district d ON d.id = s.district_id ORDER BY s.code""")).all()
    cm = conn.execute(text("""
        SELECT c.id, c.code, c.name, c.name_en, c.subdistrict_id
        FROM community c ORDER BY c.code""")).all()
    dep = conn.execute(text("SELECT id, code, name, name_en FROM department ORDER BY code")).all()
    cat = conn.execute(text("SELECT code, name, name_en FROM case_category ORDER BY code")).all()
    en = normalise_lang(lang) == "en"
    sd_labels = unique_labels([name_in(r, lang) for r in sd], [name_in(r, lang, "d_name") for r in sd],
                              [r.code for r in sd], en=en)
    sd_label = {r.id: lab for r, lab in zip(sd, sd_labels)}
    cm_labels = unique_labels([name_in(r, lang) for r in cm],
                              [sd_label.get(r.subdistrict_id, "") for r in cm], [r.code for r in cm], en=en)
    # Chinese department names are unique (a constraint); English ones need not be.
    dep_labels = unique_labels([name_in(r, lang) for r in dep], [r.code for r in dep], en=en)
    return {"subdistricts": list(zip((r.id for r in sd), sd_labels)),
            "communities": [(r.id, lab, r.subdistrict_id) for r, lab in zip(cm, cm_labels)],
            "departments": list(zip((r.id for r in dep), dep_labels)),
            "categories": [(r.code, f"{r.code} {name_in(r, lang)}") for r in cat]}
