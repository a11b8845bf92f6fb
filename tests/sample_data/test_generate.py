"""The generator's invariants, in memory (shapely): counts, exact tiling, nesting, codes, names."""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
import shapely
from shapely.geometry import box

from gis import codes
from sample_data import generate as gen
from sample_data.generate import DEFAULT_SEED, generate


@pytest.fixture(scope="module")
def d():
    return generate()


def test_counts_are_the_articles(d):
    assert len(d.subdistricts) == 8
    assert Counter(c.kind for c in d.communities) == {"community": 78, "village": 14}
    assert len(d.grids) == 1035
    assert len(d.responsibility_grids) == 586
    assert len(d.workers) == 599


def test_two_agricultural_subdistricts_hold_the_villages_and_are_larger_and_sparser(d):
    agri = {s.code: s for s in d.subdistricts if s.is_agricultural}
    assert sorted(s.name for s in agri.values()) == ["兴海街道", "兴盛街道"]
    assert all(c.subdistrict_code in agri for c in d.communities if c.kind == "village")
    for code in agri:
        kinds = Counter(c.kind for c in d.communities if c.subdistrict_code == code)
        assert kinds["village"] > kinds["community"]
    urban = [s for s in d.subdistricts if not s.is_agricultural]
    assert min(s.geom.area for s in agri.values()) > max(s.geom.area for s in urban)
    per_grid = {s.code: s.geom.area / sum(g.community_code.startswith(s.code) for g in d.grids) for s in d.subdistricts}
    assert min(per_grid[c] for c in agri) > 3 * max(per_grid[s.code] for s in urban)


def test_district_is_near_panjin_and_not_a_rectangle(d):
    c = d.outline.centroid
    assert abs(c.x - 122.07) < 0.05 and abs(c.y - 41.12) < 0.05
    assert d.outline.geom_type == "Polygon" and not d.outline.interiors
    assert 0.5 < d.outline.area / box(*d.outline.bounds).area < 0.9
    assert len(d.outline.exterior.coords) > 100
    km2 = d.outline.area * 111320 * np.cos(np.radians(41.12)) * 110574 / 1e6
    assert 200 < km2 < 330


def test_every_grid_is_a_valid_polygon_built_from_the_shared_lattice(d):
    for g in d.grids:
        assert g.geom.geom_type == "Polygon" and g.geom.is_valid and not g.geom.interiors, g.code
        assert set(g.geom.exterior.coords) <= d.lattice_vertices, g.code


def test_grids_tile_the_district_without_gaps_or_overlaps(d):
    geoms = [g.geom for g in d.grids]
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    pairs = [(i, j) for i, j in zip(a.tolist(), b.tolist()) if i < j]
    assert pairs, "neighbours must touch"
    overlapping = [(d.grids[i].code, d.grids[j].code) for i, j in pairs
                   if shapely.relate_pattern(geoms[i], geoms[j], "2********")]
    assert overlapping == []
    union = shapely.union_all(geoms)
    assert union.geom_type == "Polygon" and not union.interiors  # no holes, one piece
    assert union.equals(d.outline)
    assert union.area == pytest.approx(sum(g.area for g in geoms), rel=1e-12)


def test_shared_edges_are_identical_vertex_for_vertex(d):
    """Two neighbours' common boundary is a line made of vertices both polygons have."""
    geoms = [g.geom for g in d.grids]
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="touches")
    checked = 0
    for i, j in zip(a.tolist(), b.tolist()):
        if i < j:
            shared = geoms[i].intersection(geoms[j])
            if shared.geom_type in ("LineString", "MultiLineString"):
                pts = set(map(tuple, shapely.get_coordinates(shared).tolist()))
                assert pts <= set(geoms[i].exterior.coords) & set(geoms[j].exterior.coords)
                checked += 1
    assert checked > 2000


def test_every_grid_nests_in_its_community_and_every_community_in_its_subdistrict(d):
    comms = {c.code: c for c in d.communities}
    subs = {s.code: s for s in d.subdistricts}
    for g in d.grids:
        assert comms[g.community_code].geom.covers(g.geom), g.code
    for c in d.communities:
        assert subs[c.subdistrict_code].geom.covers(c.geom), c.code
        mine = [g.geom for g in d.grids if g.community_code == c.code]
        assert shapely.union_all(mine).equals(c.geom)
    for s in d.subdistricts:
        assert d.outline.covers(s.geom)


def test_codes_are_unique_and_prefixed_by_their_parents(d):
    all_codes = [d.code] + [s.code for s in d.subdistricts] + [c.code for c in d.communities] + [g.code for g in d.grids]
    assert len(all_codes) == len(set(all_codes))
    assert d.code == "211103"
    for s in d.subdistricts:
        assert len(s.code) == codes.width("subdistrict") and s.code.startswith(d.code)
    for c in d.communities:
        assert len(c.code) == codes.width("community") and codes.parent(c.code, "subdistrict") == c.subdistrict_code
        assert (int(c.code[-3:]) >= 201) == (c.kind == "village")  # GB/T 10114: villages 200–399
    for g in d.grids:
        codes.parse(g.code)
        assert codes.parent(g.code, "community") == g.community_code
    for c in d.communities:
        seqs = sorted(int(g.code[-3:]) for g in d.grids if g.community_code == c.code)
        assert seqs == list(range(1, len(seqs) + 1))


def test_reading_order_is_north_to_south_then_west_to_east():
    # 2 x 2 unit squares: numbered NW, NE, SW, SE
    sw, se, nw, ne = box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 1, 1, 2), box(1, 1, 2, 2)
    order = gen._reading_order([sw, se, nw, ne])
    assert order == [2, 3, 0, 1]


def test_names_are_chinese_and_follow_the_pattern(d):
    comm_name = {c.code: c.name for c in d.communities}
    assert len(set(comm_name.values())) == len(comm_name)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]+(社区|村)", n) for n in comm_name.values())
    assert {"科技社区", "锦祥社区"} <= set(comm_name.values())
    for g in d.grids:
        assert g.name == f"{comm_name[g.community_code]}第{int(g.code[-3:])}网格"
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", w.full_name) for w in d.workers)


def test_responsibility_grids_group_adjacent_unit_grids_of_one_community(d):
    by_code = {g.code: g for g in d.grids}
    member_of = Counter()
    for r in d.responsibility_grids:
        assert r.grid_codes and all(by_code[c].community_code == r.community_code for c in r.grid_codes)
        assert all(by_code[c].responsibility_code == r.code for c in r.grid_codes)
        joined = shapely.union_all([by_code[c].geom for c in r.grid_codes])
        assert joined.geom_type == "Polygon", f"{r.code} is not one connected area"
        member_of.update(r.grid_codes)
    assert set(member_of) == set(by_code) and set(member_of.values()) == {1}


def test_599_workers_13_responsibility_grids_have_two(d):
    per_grid = Counter(w.responsibility_code for w in d.workers)
    assert set(per_grid) == {r.code for r in d.responsibility_grids}
    assert Counter(per_grid.values()) == {1: 573, 2: 13}
    resp_comm = {r.code: r.community_code for r in d.responsibility_grids}
    assert all(resp_comm[w.responsibility_code] == w.community_code for w in d.workers)
    assert len({w.username for w in d.workers}) == 599


def test_the_same_seed_gives_the_same_district_bit_for_bit(d):
    again = gen._generate.__wrapped__(DEFAULT_SEED)
    assert [g.code for g in again.grids] == [g.code for g in d.grids]
    assert [g.geom.wkb for g in again.grids] == [g.geom.wkb for g in d.grids]
    assert [w.full_name for w in again.workers] == [w.full_name for w in d.workers]


def test_another_seed_still_keeps_every_invariant():
    other = gen._generate.__wrapped__(7)
    assert (len(other.grids), len(other.responsibility_grids), len(other.workers)) == (1035, 586, 599)
    geoms = [g.geom for g in other.grids]
    assert all(g.is_valid and g.geom_type == "Polygon" for g in geoms)
    assert shapely.union_all(geoms).area == pytest.approx(sum(g.area for g in geoms), rel=1e-12)
