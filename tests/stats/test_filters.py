"""stats.filters: one set of filter choices for the wall and the charts, labels unique per list."""
from __future__ import annotations

from sqlalchemy import text

from stats.filters import filter_options, unique_labels


def test_namesakes_get_labels_that_tell_them_apart():
    labels = unique_labels(["兴隆街道", "创新街道", "兴隆街道", "兴隆街道"], ["兴隆台区", "兴隆台区", "测试区", "测试区"],
                           ["001", "002", "003", "004"])
    assert labels == ["兴隆街道（兴隆台区）", "创新街道", "兴隆街道（003）", "兴隆街道（004）"]
    assert unique_labels(["A", "A"], ["X", "Y"], ["1", "2"], en=True) == ["A (X)", "A (Y)"]


def test_a_qualifier_is_added_only_where_a_name_repeats():
    assert unique_labels(["科技社区", "锦祥社区", "科技社区"], ["创新街道", "兴隆街道", "振兴街道"], ["1", "2", "3"]) == \
        ["科技社区（创新街道）", "锦祥社区", "科技社区（振兴街道）"]
    # same name in the same parent: the code settles it, and the parent that did not help is left out
    assert unique_labels(["新华村", "新华村"], ["兴海街道", "兴海街道"], ["001", "002"]) == ["新华村（001）", "新华村（002）"]


def _labels(options: list[tuple]) -> dict:
    return {o[0]: o[1] for o in options}


def test_filter_options_tell_namesake_areas_and_departments_apart(world, conn):
    w = world
    other = conn.execute(text(
        "INSERT INTO district(code, name, name_en, geom) VALUES ('999997', '另一测试区', 'Other District', "
        "(SELECT geom FROM district WHERE code = '999998')) RETURNING id")).scalar_one()
    twin = conn.execute(text("INSERT INTO subdistrict(district_id, code, name) VALUES (:d, '999997001', '测试街道S1') "
                             "RETURNING id"), {"d": other}).scalar_one()
    # C3 (in S2) takes C1's name (in S1); two departments share an English name
    conn.execute(text("UPDATE community SET name = '测试社区C1' WHERE id = :i"), {"i": w.com["C3"]})
    deps = conn.execute(text("SELECT id, code, name_en FROM department ORDER BY code LIMIT 2")).all()
    conn.execute(text("UPDATE department SET name_en = :n WHERE id = :i"), {"n": deps[0].name_en, "i": deps[1].id})

    zh = filter_options(conn, "zh")
    for kind in ("subdistricts", "communities", "departments", "categories"):
        labels = [o[1] for o in zh[kind]]
        assert len(set(labels)) == len(labels), kind
    sd = _labels(zh["subdistricts"])
    assert sd[w.sub["S1"]] == "测试街道S1（测试区）" and sd[twin] == "测试街道S1（另一测试区）"
    assert sd[w.sub["S2"]] == "测试街道S2"
    cm = _labels(zh["communities"])
    assert cm[w.com["C1"]] == "测试社区C1（测试街道S1（测试区））" and cm[w.com["C3"]] == "测试社区C1（测试街道S2）"
    assert cm[w.com["C2"]] == "测试社区C2"
    assert {o[0]: o[2] for o in zh["communities"]}[w.com["C3"]] == w.sub["S2"]

    en = filter_options(conn, "en")
    dep = _labels(en["departments"])
    assert dep[deps[0].id] == f"{deps[0].name_en} ({deps[0].code})" and dep[deps[1].id] == f"{deps[0].name_en} ({deps[1].code})"
    assert len(set(dep.values())) == len(dep)
