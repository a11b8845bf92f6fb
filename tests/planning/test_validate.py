"""The validator on hand-built unit squares: each problem found with the right kind, severity and
place; a clean tiling has none."""
from __future__ import annotations

import pytest
import shapely
from shapely import Polygon, box
from shapely.geometry import shape

from planning.validate import KINDS, SEVERITY, GridShape, ResponsibilityShape, problems_geojson, validate_grids

S = 0.01  # a square 0.01° (about 1.1 km) on a side, near (0, 0)


def sq(i: int, j: int = 0) -> Polygon:
    return box(i * S, j * S, (i + 1) * S, (j + 1) * S)


def grids(*geoms, community="C") -> list[GridShape]:
    return [GridShape(f"{k:03d}", g, community) for k, g in enumerate(geoms, start=1)]


def kinds(problems) -> list[str]:
    return [p.kind for p in problems]


def test_a_clean_tiling_has_no_problem():
    gs = grids(sq(0), sq(1), sq(0, 1), sq(1, 1))
    assert validate_grids(gs, community_outlines={"C": box(0, 0, 2 * S, 2 * S)}) == []


def test_overlap_is_found_where_the_grids_meet():
    gs = grids(sq(0), box(0.5 * S, 0, 1.5 * S, S))
    (p,) = [p for p in validate_grids(gs) if p.kind == "overlap"]
    assert p.codes == ["001", "002"] and p.severity == "error"
    assert shape(p.location).equals(box(0.5 * S, 0, S, S))
    assert "overlap" in p.message_en and "重叠" in p.message_zh


def test_gap_inside_a_community_is_found_in_its_place():
    hole = box(0.4 * S, 0.4 * S, 0.6 * S, 0.6 * S)
    gs = grids(sq(0).difference(hole), sq(1))
    problems = validate_grids(gs, community_outlines={"C": box(0, 0, 2 * S, S)}, community_names={"C": "东社区"})
    (p,) = problems
    assert p.kind == "gap" and p.severity == "error" and "东社区" in p.message_zh
    assert shape(p.location).equals(hole)
    assert p.codes == ["001"]


def test_gap_left_by_one_community_is_inside_it_and_by_both_inside_the_district():
    outlines = {"A": sq(0), "B": sq(1)}
    # B's grid stops short of A's: the strip is B's
    out = validate_grids([GridShape("A01", sq(0), "A"), GridShape("B01", box(1.1 * S, 0, 2 * S, S), "B")],
                         community_outlines=outlines)
    (p,) = out
    assert p.kind == "gap" and "inside community B" in p.message_en and p.codes == ["A01", "B01"]
    assert shape(p.location).equals(box(S, 0, 1.1 * S, S))
    # both stop short: the strip straddles the two, a gap of the district between communities
    out = validate_grids([GridShape("A01", box(0, 0, 0.9 * S, S), "A"), GridShape("B01", box(1.1 * S, 0, 2 * S, S), "B")],
                         community_outlines=outlines)
    (p,) = out
    assert p.kind == "gap" and "inside the district" in p.message_en and "辖区" in p.message_zh
    assert shape(p.location).equals(box(0.9 * S, 0, 1.1 * S, S))


def test_sliver_is_a_warning():
    tiny = box(S, 0, S + 0.00003, 0.00003)  # about 3.3 m × 3.3 m
    out = validate_grids(grids(sq(0), tiny))
    (p,) = [p for p in out if p.kind == "sliver"]
    assert p.codes == ["002"] and p.severity == "warning" and shape(p.location).equals(tiny)


def test_bow_tie_is_invalid_with_its_place_and_a_repair():
    bow = Polygon([(0, 0), (S, S), (S, 0), (0, S)])
    (p,) = validate_grids(grids(bow))
    assert p.kind == "invalid" and p.severity == "error"
    assert shape(p.location).equals(shapely.Point(S / 2, S / 2))
    repaired = shape(p.repaired)
    assert repaired.is_valid and repaired.area == pytest.approx(S * S / 2)


def test_outside_parent_beyond_the_tolerance_is_a_warning():
    out = validate_grids(grids(box(0, 0, 1.1 * S, S)), community_outlines={"C": sq(0)})
    (p,) = [p for p in out if p.kind == "outside_parent"]
    assert p.severity == "warning" and p.codes == ["001"]
    assert shape(p.location).equals(box(S, 0, 1.1 * S, S))
    assert "110.6 m" in p.message_en  # 0.001°, counted at the shorter degree (of latitude): an upper bound
    # within the tolerance (0.5 m out): nothing
    assert validate_grids(grids(box(0, 0, S + 0.0000045, S)), community_outlines={"C": sq(0)}) == []


def test_unshared_edge_is_found_on_the_grid_with_the_extra_vertex():
    # B has a vertex in the middle of the edge it shares with A; A does not
    b = Polygon([(S, 0), (2 * S, 0), (2 * S, S), (S, S), (S, 0.5 * S)])
    out = validate_grids(grids(sq(0), b))
    unshared = [p for p in out if p.kind == "unshared_edge"]
    assert unshared and all(p.severity == "error" for p in unshared)
    assert {c for p in unshared for c in p.codes} <= {"001", "002"}
    assert any(shape(p.location).covers(shapely.Point(S, 0.5 * S)) for p in unshared)


def test_an_unshared_edge_names_the_neighbour_and_one_outside_the_draft_says_so():
    """Session 14's review: a split put a vertex on the edge shared with a grid of another
    community; the problem blamed the two new parts and never named that grid."""
    b = Polygon([(S, 0), (2 * S, 0), (2 * S, S), (S, S), (S, 0.5 * S)])   # the draft's grid, an extra vertex
    out = validate_grids([GridShape("002", b, "C")], fixed=[GridShape("901", sq(0), "D")])
    (p,) = [p for p in out if p.kind == "unshared_edge"]
    assert p.codes == ["002", "901"]
    assert "901" in p.message_en and "outside the draft's scope" in p.message_en and "草稿范围外" in p.message_zh


def test_duplicate_code():
    gs = [GridShape("001", sq(0), "C"), GridShape("001", sq(1), "C")]
    (p,) = [p for p in validate_grids(gs) if p.kind == "duplicate_code"]
    assert p.codes == ["001"] and p.severity == "error"
    assert shape(p.location).equals(shapely.union_all([sq(0), sq(1)]))


def test_multipart():
    two = shapely.MultiPolygon([sq(0), sq(2)])
    (p,) = validate_grids(grids(two))
    assert p.kind == "multipart" and p.severity == "error" and shape(p.location).equals(two)


def test_empty_responsibility_and_worker_without_grid():
    gs = [GridShape("001", sq(0), "C", "R1"), GridShape("002", sq(1), "C", None)]
    resps = [ResponsibilityShape("R1", "C", [1]), ResponsibilityShape("R2", "C", [2])]
    out = validate_grids(gs, community_outlines={"C": box(0, 0, 2 * S, S)}, responsibilities=resps,
                         workers={1: ("甲", "C"), 2: ("乙", "C"), 3: ("丙", "C")})
    assert [(p.kind, p.codes) for p in out] == [("empty_responsibility", ["R2"]), ("worker_without_grid", []),
                                               ("worker_without_grid", [])]
    assert all(p.severity == "warning" and p.location is not None for p in out)
    assert {p.message_zh for p in out if p.kind == "worker_without_grid"} == {"网格员 乙 没有负责的网格",
                                                                             "网格员 丙 没有负责的网格"}


def test_errors_come_before_warnings_and_every_kind_has_a_severity():
    assert set(SEVERITY.values()) == {"error", "warning"} and len(KINDS) == 12
    out = validate_grids(grids(box(0, 0, 0.00001, 0.00001), sq(1), box(1.5 * S, 0, 2.5 * S, S)))
    assert kinds(out)[0] == "overlap" and kinds(out)[-1] == "sliver"


def test_problems_as_geojson_for_the_map():
    import json

    out = validate_grids(grids(sq(0), box(0.5 * S, 0, 1.5 * S, S)))
    fc = json.loads(json.dumps(problems_geojson(out)))
    assert len(fc["features"]) == len(out)
    f = fc["features"][0]["properties"]
    assert (f["index"], f["kind"], f["severity"]) == (0, "overlap", "error") and f["message_zh"]


def test_a_community_that_gives_grids_away_must_not_fall_apart_or_get_a_hole():
    # a row of three: the middle one moved to B leaves A in two pieces
    row = [GridShape("001", sq(0), "A"), GridShape("002", sq(1), "B"), GridShape("003", sq(2), "A")]
    out = validate_grids(row, losing={"A": box(0, 0, 3 * S, S)}, community_names={"A": "东社区"})
    assert [(p.kind, p.severity, p.codes) for p in out] == [("community_split", "warning", ["001", "003"])]
    assert "2 pieces (now 1)" in out[0].message_en and shape(out[0].location).equals(sq(1))
    # a block of nine: the centre moved to B leaves a hole in A
    block = [GridShape(f"{i}{j}", sq(i, j), "B" if (i, j) == (1, 1) else "A") for i in range(3) for j in range(3)]
    out = validate_grids(block, losing={"A": box(0, 0, 3 * S, 3 * S)})
    assert kinds(out) == ["community_split"] and "1 hole(s)" in out[0].message_en
    # a corner moved: A stays one piece with no hole
    corner = [GridShape(f"{i}{j}", sq(i, j), "B" if (i, j) == (0, 0) else "A") for i in range(3) for j in range(3)]
    assert validate_grids(corner, losing={"A": box(0, 0, 3 * S, 3 * S)}) == []


# Two shapes from a failing run of the property test (tests/planning/test_properties.py): a
# community's outline clipped to the edited area (ST_ClipByBox2D can return an invalid polygon,
# here collapsed onto a line) and a grid a vertex move folded into a bow-tie. GEOS refuses their
# intersection (TopologyException), and the validator used to pass that refusal on: the edit
# failed with a raw error instead of listing the grid as invalid.
CLIPPED = shapely.from_wkt("POLYGON ((0.02 0, 0.02 0.01, 0.02 0.02, 0.02 0.02, 0.02 0, 0.02 0))")
FOLDED = shapely.from_wkt("POLYGON ((0.01 0, 0.02 0, 0.02 0.01, 0.006 0.006, 0.01 0.008, 0.01 0))")


def test_an_invalid_outline_and_a_folded_grid_are_measured_not_refused():
    from planning.validate import _covered_m2

    with pytest.raises(shapely.errors.GEOSException):
        shapely.intersection(CLIPPED, FOLDED)  # what the check used to do
    assert _covered_m2(CLIPPED, FOLDED, 1.0) == 0.0  # the repaired outline is a line: no area
    assert _covered_m2(sq(1), FOLDED, 1.0) == pytest.approx(shapely.make_valid(FOLDED).intersection(sq(1)).area)


def test_a_folded_grid_beside_an_invalid_outline_is_reported_invalid():
    # an outline that is itself a bow-tie, clipped to the edited area: the gap and outside checks
    # overlay it with the grids (GEOS refused it: TopologyException); now the folded grid is listed
    bow_outline = shapely.Polygon([(0, 0), (2 * S, S), (2 * S, 0), (0, S)])
    out = validate_grids(grids(FOLDED, sq(0)), community_outlines={"C": bow_outline}, near=(0, 0, 2 * S, S))
    assert [p.codes for p in out if p.kind == "invalid"] == [["001"]]
