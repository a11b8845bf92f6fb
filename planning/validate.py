"""Validation of a draft's tiling (拓扑检查): every problem with its kind, severity and place.

Errors block a publish; warnings need a reason (``planning.publish``). What is checked, and how:

========================  ========  ============================================================
kind                      severity  found by
========================  ========  ============================================================
invalid                   error     ``is_valid`` (the place from ``is_valid_reason``); ``repaired``
                                    is ``make_valid``'s suggestion
multipart                 error     a grid of several polygons (a unit grid is one polygon)
duplicate_code            error     two grids with one code
overlap                   error     interiors of two grids meet, more than ``OVERLAP_MIN_M2``
unshared_edge             error     ``shapely.coverage_invalid_edges`` (GEOS 3.12+; PostGIS 3.3 has
                                    no ST_CoverageInvalidEdges): neighbours whose common edge does
                                    not have the same vertices (a vertex of one on the other's edge)
gap                       error     the scope's current outline (its communities' outlines) not
                                    covered by the draft's grids, more than ``GAP_MIN_M2``; inside
                                    one community, or between communities ("inside the district")
gap_existing              warning   an area inside the scope that no grid covers now and the draft
                                    leaves uncovered: a hole of its communities' current outlines
                                    (inside one, or enclosed by several) not filled by the draft or
                                    by another community's grids (there before the draft: shown so
                                    it can be filled with ``add``, not blocking)
sliver                    warning   a grid smaller than ``SLIVER_MAX_M2``
outside_parent            warning   a grid out of its community's current outline by more than
                                    ``OUTSIDE_PARENT_M`` (a grid moved to it, or the city growing)
community_split           warning   a community that gives grids to another one and whose
                                    remaining grids then fall apart into more pieces, or enclose
                                    more holes, than its current outline has (``move_grid`` of a
                                    grid in its middle or across it)
empty_responsibility      warning   a responsibility grid with no unit grid left
worker_without_grid       warning   a grid worker on no responsibility grid that has unit grids
========================  ========  ============================================================

``validate_grids`` works on shapes in memory (tests, files); ``validate`` on a stored draft.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.engine import Connection

from planning import settings as cfg

ERROR, WARNING = "error", "warning"
SEVERITY = {"invalid": ERROR, "multipart": ERROR, "duplicate_code": ERROR, "overlap": ERROR,
            "unshared_edge": ERROR, "gap": ERROR, "gap_existing": WARNING, "sliver": WARNING, "outside_parent": WARNING,
            "community_split": WARNING, "empty_responsibility": WARNING, "worker_without_grid": WARNING}
KINDS = tuple(SEVERITY)


@dataclass(frozen=True)
class Problem:
    kind: str
    severity: str  # 'error' | 'warning'
    codes: list[str]
    message_zh: str
    message_en: str
    location: dict | None  # GeoJSON geometry of the place, for "go to"
    repaired: dict | None = None  # GeoJSON of a suggested repair (invalid geometry)

    def message(self, lang: str | None = "zh") -> str:
        return self.message_en if lang == "en" else self.message_zh


def problems_geojson(problems: list[Problem]) -> dict:
    """The problems as a FeatureCollection for the map (one feature per problem with a place;
    ``index`` is its position in ``problems``, for "go to" from a list)."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": p.location,
         "properties": {"index": n, "kind": p.kind, "severity": p.severity, "codes": p.codes,
                        "message_zh": p.message_zh, "message_en": p.message_en}}
        for n, p in enumerate(problems) if p.location is not None]}


@dataclass
class GridShape:
    """A grid as the validator sees it; ``community`` is any key of ``community_outlines``."""
    code: str
    geom: shapely.Geometry
    community: object = None
    responsibility_code: str | None = None


@dataclass
class ResponsibilityShape:
    code: str
    community: object = None
    person_ids: list[int] = field(default_factory=list)


def _problem(kind: str, codes: list[str], zh: str, en: str, where, repaired=None) -> Problem:
    loc = mapping(where) if where is not None and not where.is_empty else None
    return Problem(kind, SEVERITY[kind], codes, zh, en, loc, mapping(repaired) if repaired is not None else None)


def _valid(geom):
    """``geom`` itself when valid, else ``make_valid``'s repair: for the outlines and changed grids
    the checks intersect (a clipped outline — ``ST_ClipByBox2D``, ``clip_by_rect`` — or a grid an
    edit folded into a bow-tie can be invalid, and GEOS refuses overlays of invalid input with a
    TopologyException; the invalid grid itself is reported by the ``invalid`` check)."""
    return geom if geom is None or shapely.is_valid(geom) else shapely.make_valid(geom)


def _covered_m2(outline, geom, k: float) -> float:
    """The area in m² of ``geom`` inside ``outline`` (``k``: m² per square degree there), for
    invalid input too (see ``_valid``)."""
    return float(shapely.area(shapely.intersection(_valid(outline), _valid(geom)))) * k


def _m2(geom) -> float:
    return geom.area * cfg.m2_per_deg2(geom.centroid.y) if not geom.is_empty else 0.0


def validate_grids(grids: list[GridShape], *, community_outlines: dict | None = None,
                   community_names: dict | None = None, responsibilities: list[ResponsibilityShape] | None = None,
                   workers: dict[int, tuple[str, object]] | None = None,
                   near: tuple[float, float, float, float] | None = None,
                   fixed: list[GridShape] | None = None, losing: dict | None = None) -> list[Problem]:
    """Every problem of these grids, errors first, then by kind and code.

    ``community_outlines`` (community → current outline) enables the gap and outside-parent
    checks; ``responsibilities`` and ``workers`` (person id → (name, community)) the last two.
    ``near`` (a box: xmin, ymin, xmax, ymax) limits the gap and outside-parent checks to the grids
    and outlines there (``validate`` passes the place of the draft's edits: elsewhere the draft is
    the live tiling); the other checks always look at every grid. ``fixed`` are current grids
    outside a draft's scope that its grids must fit against (overlaps, unshared edges); their own
    problems are not reported. ``losing`` (community → its whole current outline) are the
    communities that gave grids to another one: the community-split check compares their
    remaining grids with that outline.
    """
    out: list[Problem] = []
    names = community_names or {}
    seen: dict[str, int] = {}
    for g in grids:
        seen[g.code] = seen.get(g.code, 0) + 1
    for code, n in sorted(seen.items()):
        if n > 1:
            where = shapely.union_all([g.geom for g in grids if g.code == code])
            out.append(_problem("duplicate_code", [code], f"网格编码 {code} 被 {n} 个网格使用",
                                f"grid code {code} is used by {n} grids", where))
    good: list[GridShape] = []
    for g in grids:
        if g.geom is None or g.geom.is_empty:
            out.append(_problem("invalid", [g.code], f"网格 {g.code} 没有图形", f"grid {g.code} has no geometry", None))
        elif g.geom.geom_type == "MultiPolygon" and len(g.geom.geoms) > 1:
            out.append(_problem("multipart", [g.code], f"网格 {g.code} 由 {len(g.geom.geoms)} 个部分组成（单元网格须为一个多边形）",
                                f"grid {g.code} has {len(g.geom.geoms)} parts (a unit grid is one polygon)", g.geom))
        else:
            good.append(g)
    geoms = np.array([shapely.get_geometry(g.geom, 0) if g.geom.geom_type == "MultiPolygon" else g.geom for g in good],
                     dtype=object)
    valid = shapely.is_valid(geoms) if len(geoms) else np.zeros(0, bool)
    for i in np.flatnonzero(~valid).tolist():
        g = good[i]
        reason = shapely.is_valid_reason(g.geom)
        m = re.search(r"\[([-\d.eE+]+) ([-\d.eE+]+)\]", reason)
        where = shapely.Point(float(m.group(1)), float(m.group(2))) if m else g.geom
        out.append(_problem("invalid", [g.code], f"网格 {g.code} 图形无效（{reason}），可采用修复建议",
                            f"grid {g.code} is not a valid polygon ({reason}); a repair is suggested", where,
                            shapely.make_valid(g.geom)))
    good = [g for g, v in zip(good, valid.tolist()) if v]
    geoms = geoms[valid]
    lat = float(np.mean(shapely.get_y(shapely.centroid(geoms)))) if len(geoms) else 0.0
    k = cfg.m2_per_deg2(lat)
    # A valid coverage (GEOS's coverage check: no overlaps, neighbours share their edges vertex for
    # vertex) is the common case and the fast one; only the grids with invalid edges are looked at.
    fixed_geoms = np.array([f.geom for f in fixed or [] if f.geom is not None and f.geom.geom_type == "Polygon"
                            and f.geom.is_valid], dtype=object)
    fixed_codes = [f.code for f in fixed or [] if f.geom is not None and f.geom.geom_type == "Polygon"
                   and f.geom.is_valid]
    cover = np.concatenate([geoms, fixed_geoms]) if len(fixed_geoms) else geoms
    n = len(geoms)
    coverage_ok = len(cover) < 2 or shapely.coverage_is_valid(cover)
    if not coverage_ok:
        edges = shapely.coverage_invalid_edges(cover)
        bad = np.flatnonzero(~shapely.is_empty(edges[:n]))
        in_overlap: set[int] = set()
        tree = shapely.STRtree(cover)
        a, b = tree.query(cover[bad], predicate="intersects")
        pairs = np.unique(np.sort(np.column_stack([bad[a], b]), axis=1), axis=0)
        a, b = pairs[pairs[:, 0] < pairs[:, 1]].T if len(pairs) else (pairs[:, 0], pairs[:, 1])
        if len(a):
            inter = shapely.intersection(cover[a], cover[b])
            for i, j, x, m2 in zip(a.tolist(), b.tolist(), inter, (shapely.area(inter) * k).tolist()):
                if m2 > cfg.OVERLAP_MIN_M2:
                    in_overlap.update((i, j))
                    ci = good[i].code
                    if j < n:
                        cj = good[j].code
                        zh, en = f"网格 {ci} 与 {cj} 重叠 {m2:.2f} m²", f"grids {ci} and {cj} overlap by {m2:.2f} m²"
                    else:
                        cj = fixed_codes[j - n]
                        zh = f"网格 {ci} 与草稿范围外的现有网格 {cj} 重叠 {m2:.2f} m²"
                        en = f"grid {ci} overlaps current grid {cj} (outside the draft's scope) by {m2:.2f} m²"
                    out.append(_problem("overlap", [ci, cj], zh, en, x))
        for i in bad.tolist():
            if i not in in_overlap:
                c = good[i].code
                # the neighbours along the invalid edge, named: one outside the draft cannot be
                # fixed here (a split or a new grid put a vertex on an edge it shares)
                near_i = [j for j in tree.query(edges[i], predicate="intersects").tolist() if j != i]
                inside = sorted(good[j].code for j in near_i if j < n)
                outside = sorted(fixed_codes[j - n] for j in near_i if j >= n)
                zh = f"网格 {c} 与相邻网格{('、'.join(inside + outside)) if near_i else ''}的公共边不一致（顶点不重合）"
                en = (f"grid {c} has an edge that should be shared with {', '.join(inside + outside) or 'a neighbour'} "
                      "but is not (their vertices differ)")
                if outside:
                    zh += f"；{'、'.join(outside)} 在草稿范围外，请新建包含其社区的草稿再修改此处"
                    en += (f"; {', '.join(outside)} is outside the draft's scope: start a draft that includes "
                           "its community to change this edge")
                out.append(_problem("unshared_edge", [c, *outside], zh, en, edges[i]))
        # the draft's own grids may still form a valid coverage (the gap check's fast union)
        coverage_ok = len(fixed_geoms) > 0 and (n < 2 or shapely.coverage_is_valid(geoms))
    # slivers
    for g, m2 in zip(good, (shapely.area(geoms) * k).tolist()):
        if m2 < cfg.SLIVER_MAX_M2:
            out.append(_problem("sliver", [g.code], f"网格 {g.code} 面积仅 {m2:.1f} m²，疑为碎片",
                                f"grid {g.code} is a sliver of {m2:.1f} m²", g.geom))
    if community_outlines:
        outlines, sel = community_outlines, np.arange(len(good))
        if near is not None:
            outlines = {c: _valid(shapely.clip_by_rect(o, *near)) for c, o in community_outlines.items()}
            outlines = {c: o for c, o in outlines.items() if not o.is_empty}
            sel = shapely.STRtree(geoms).query(shapely.box(*near), predicate="intersects") if len(geoms) else sel
            sel.sort()
        near_good, near_geoms = [good[i] for i in sel], geoms[sel]
        if near is not None and len(near_geoms):
            near_geoms = shapely.clip_by_rect(near_geoms, *near)
        # (clipped grids need not meet exactly where the box cuts a shared edge: a plain union)
        out += _gaps(near_good, near_geoms, outlines, names, k, coverage_ok and near is None)
        out += _outside(near_good, near_geoms, outlines, names, lat)
    if losing:
        out += _splits(good, geoms, losing, names, k)
    if responsibilities is not None:
        out += _responsibility_problems(grids, responsibilities, workers or {}, community_outlines or {})
    order = {kind: n for n, kind in enumerate(KINDS)}
    return sorted(out, key=lambda p: (p.severity != ERROR, order[p.kind], p.codes))


def _gaps(good, geoms, outlines: dict, names: dict, k: float, coverage_ok: bool) -> list[Problem]:
    if not outlines:
        return []
    if len(geoms) and coverage_ok:
        covered = shapely.coverage_union_all(geoms)
    else:
        covered = shapely.union_all(geoms)
    keys = list(outlines)
    outline_geoms = [outlines[c] for c in keys]
    scope = shapely.union_all(outline_geoms)
    missing = shapely.difference(scope, covered)
    # holes in the grids' union that the outlines do not have (a hole drawn inside the scope)
    parts = [p for p in shapely.get_parts(missing) if p.geom_type == "Polygon" and p.area * k > cfg.GAP_MIN_M2]
    out = []
    tree = shapely.STRtree(geoms) if len(geoms) else None
    for p in parts:
        m2 = p.area * k
        touching = sorted(good[i].code for i in tree.query(p, predicate="touches")) if tree else []
        # a gap (nearly) all in one community's outline is that community's; one across several
        # is the district's, between communities
        inside = [c for c, o in zip(keys, outline_geoms) if shapely.intersection(o, p).area * k > 0.9 * m2]
        if inside:
            c = inside[0]
            label = names.get(c, c)
            out.append(_problem("gap", touching, f"社区 {label} 内有 {m2:.2f} m² 未被任何网格覆盖",
                                f"a gap of {m2:.2f} m² inside community {label}: no grid covers it", p))
        else:
            out.append(_problem("gap", touching, f"辖区内社区之间有 {m2:.2f} m² 未被任何网格覆盖",
                                f"a gap of {m2:.2f} m² inside the district, between communities: no grid covers it", p))
    return out


def _outside(good, geoms, outlines: dict, names: dict, lat: float) -> list[Problem]:
    out = []
    k_m = 1.0 / cfg.deg(1.0, lat)  # metres per degree, the smaller of the two directions
    prepared = {}
    for i, g in enumerate(good):
        o = outlines.get(g.community)
        if o is None:
            continue
        if g.community not in prepared:
            shapely.prepare(o)
            prepared[g.community] = True
        if o.covers(geoms[i]):
            continue
        diff = geoms[i].difference(o)
        if diff.is_empty:
            continue
        far = max(o.distance(shapely.Point(xy)) for xy in shapely.get_coordinates(diff)) * k_m
        if far > cfg.OUTSIDE_PARENT_M:
            label = names.get(g.community, g.community)
            out.append(_problem("outside_parent", [g.code], f"网格 {g.code} 超出所属社区 {label} 现有边界 {far:.1f} 米",
                                f"grid {g.code} lies up to {far:.1f} m outside its community {label}'s current outline",
                                diff))
    return out


def _pieces(geom, k: float) -> tuple[int, int]:
    """Polygons and holes of ``geom`` larger than the gap noise."""
    polys = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area * k > cfg.GAP_MIN_M2]
    holes = sum(1 for p in polys for r in p.interiors if shapely.Polygon(r).area * k > cfg.GAP_MIN_M2)
    return len(polys), holes


def _splits(good, geoms, losing: dict, names: dict, k: float) -> list[Problem]:
    out = []
    for c, outline in sorted(losing.items(), key=lambda kv: str(kv[0])):
        mine = [i for i, g in enumerate(good) if g.community == c]
        label = names.get(c, c)
        if not mine:
            continue  # a community left with no grid: the gap check reports its outline
        after = shapely.union_all(geoms[mine])
        n0, h0 = _pieces(outline, k)
        n1, h1 = _pieces(after, k)
        if n1 > n0:
            out.append(_problem("community_split", sorted(good[i].code for i in mine),
                                f"移出网格后，社区 {label} 将分成 {n1} 块（现为 {n0} 块）",
                                f"with grids moved out, community {label} falls apart into {n1} pieces (now {n0})",
                                shapely.difference(outline, after)))
        elif h1 > h0:
            out.append(_problem("community_split", sorted(good[i].code for i in mine),
                                f"移出网格后，社区 {label} 中间将留下 {h1 - h0} 个由其他社区网格填充的洞",
                                f"with grids moved out, community {label} is left with {h1 - h0} hole(s) "
                                "filled by another community's grids", shapely.difference(outline, after)))
    return out


def _responsibility_problems(grids, resps: list[ResponsibilityShape], workers: dict, outlines: dict) -> list[Problem]:
    used = {g.responsibility_code for g in grids if g.responsibility_code}
    out = []
    covered_people: set[int] = set()
    for r in resps:
        if r.code in used:
            covered_people.update(r.person_ids)
        else:
            out.append(_problem("empty_responsibility", [r.code], f"责任网格 {r.code} 不含任何单元网格",
                                f"responsibility grid {r.code} has no unit grid left", outlines.get(r.community)))
    for pid, (name, community) in sorted(workers.items()):
        if pid not in covered_people:
            out.append(_problem("worker_without_grid", [], f"网格员 {name} 没有负责的网格",
                                f"grid worker {name} is left with no grid", outlines.get(community)))
    return out


# --- a stored draft -------------------------------------------------------------------------------

def validate(conn: Connection, draft_id: int) -> list[Problem]:
    """Every problem of the stored draft ``draft_id`` (see the table above)."""
    from planning.state import load_state

    return validate_state(conn, load_state(conn, draft_id))


def validate_state(conn: Connection, s) -> list[Problem]:
    """Validate a loaded ``planning.state.DraftState`` against its scope's current outlines."""
    from planning.state import LIVE_GRID_SQL, LIVE_VERSION_SQL

    # Where the draft differs from the live tiling: the grids its steps wrote, as they are in the
    # draft and as they are live. Gaps and grids outside their community can only be there.
    touched = sorted({r[0] for r in conn.execute(text(
        "SELECT DISTINCT jsonb_object_keys(before->'grids') FROM boundary_draft_step WHERE draft_id = :d"),
        {"d": s.id})} | {c for c, g in s.grids.items() if g.grid_id is None or g.retired})
    current = _scope_outlines(conn, s)
    outlines, names, near, fixed, losing = {}, {}, None, [], {}
    if touched:
        mine = [s.grids[c].geom for c in touched if c in s.grids]
        live = conn.execute(text(f"""
            SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
              SELECT ST_Extent(gv.geom) AS e FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id
              AND {LIVE_VERSION_SQL} WHERE g.code = ANY(:c)) x"""), {"c": touched}).one()
        x0, y0, x1, y1 = shapely.total_bounds(mine) if mine else (np.inf, np.inf, -np.inf, -np.inf)
        if live[0] is not None:
            x0, y0, x1, y1 = min(x0, live[0]), min(y0, live[1]), max(x1, live[2]), max(y1, live[3])
        if np.isfinite(x0):
            m = cfg.deg(10.0, y0)
            near = (float(x0 - m), float(y0 - m), float(x1 + m), float(y1 + m))
            # the scope's current outlines there
            outlines = {i: _valid(shapely.clip_by_rect(o.geom, *near)) for i, o in current.items()}
            outlines = {i: o for i, o in outlines.items() if not o.is_empty}
            names = {i: f"{o.code} {o.name}" for i, o in current.items()}
            losing = _losing(s, touched, outlines, current)
            # current grids of communities outside the draft's scope, there: the draft must fit them
            fixed = [GridShape(r.code, shapely.from_wkb(bytes(r.wkb))) for r in conn.execute(text(f"""
                SELECT g.code, ST_AsBinary(gv.geom) AS wkb FROM unit_grid g
                JOIN grid_version gv ON gv.grid_id = g.id AND {LIVE_VERSION_SQL}
                WHERE {LIVE_GRID_SQL} AND NOT (g.community_id = ANY(:s))
                  AND gv.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"""),
                {"s": s.scope, "x0": near[0], "y0": near[1], "x1": near[2], "y1": near[3]})]
    grids = [GridShape(g.code, g.geom, g.community_id, g.responsibility_code) for g in s.live_grids()]
    resps = [ResponsibilityShape(r.code, r.community_id, r.person_ids) for r in s.responsibilities.values()]
    # the grid workers who should have a grid: those on the scope's responsibility grids now, and
    # those the draft assigns
    ids = {p for r in s.responsibilities.values() for p in r.person_ids}
    workers = {r.id: (r.full_name, r.community_id) for r in conn.execute(text("""
        SELECT p.id, p.full_name, p.community_id FROM person p
        WHERE p.id = ANY(:ids) OR p.id IN (SELECT w.person_id FROM responsibility_grid_worker w
                                           JOIN responsibility_grid r ON r.id = w.responsibility_grid_id
                                           WHERE r.community_id = ANY(:s))"""), {"ids": sorted(ids), "s": s.scope})}
    found = validate_grids(grids, community_outlines=outlines, community_names=names, responsibilities=resps,
                           workers=workers, near=near, fixed=fixed, losing=losing)
    existing, holes = _existing_gaps(conn, s, grids, current)
    if holes is not None:
        order = {kind: n for n, kind in enumerate(KINDS)}
        # a grid drawn into such a hole is not outside its community: the hole was its community's
        found = [p for p in found if not (p.kind == "outside_parent" and p.location is not None
                                          and _within_holes(p.location, holes))]
        found = sorted(found + existing, key=lambda p: (p.severity != ERROR, order[p.kind], p.codes))
    return found


@dataclass(frozen=True)
class _Outline:
    code: str
    name: str
    geom: shapely.Geometry


def _scope_outlines(conn: Connection, s) -> dict[int, _Outline]:
    """Each scope community's current outline, read once per validation: its stored outline (the
    union of its grids, kept by every import and publish), or, where none is stored, the union of
    its live grids; a community with neither (no grid left) has none."""
    from planning.state import LIVE_GRID_SQL, LIVE_VERSION_SQL

    return {r.id: _Outline(r.code, r.name, _valid(shapely.from_wkb(bytes(r.wkb)))) for r in conn.execute(text(f"""
        SELECT c.id, c.code, c.name, ST_AsBinary(COALESCE(c.geom, (
            SELECT ST_Union(gv.geom) FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id
            AND {LIVE_VERSION_SQL} WHERE g.community_id = c.id AND {LIVE_GRID_SQL}))) AS wkb
        FROM community c WHERE c.id = ANY(:s)"""), {"s": s.scope}) if r.wkb is not None}


def _existing_gaps(conn: Connection, s, grids: list[GridShape],
                   current: dict[int, _Outline]) -> tuple[list[Problem], object]:
    """``gap_existing``: the holes of the scope's current outlines that nothing covers once the
    draft is published. A hole of one community's outline, or one its neighbours in the scope
    enclose, is land of the district inside the scope (the outer edge of a community is not:
    with no independent outline of the district it cannot be told from the district's edge).
    Filled by the draft's grids or by live grids of a community outside the scope (an enclave),
    it is not a gap. Returns the problems and the holes (None when there are none)."""
    from planning.state import LIVE_GRID_SQL, LIVE_VERSION_SQL

    rows = list(current.values())
    if not rows:
        return [], None
    outlines = [r.geom for r in rows]
    try:
        merged = shapely.coverage_union_all(outlines)  # fast, for outlines that tile (the usual case)
        tiled = abs(merged.area - sum(o.area for o in outlines)) <= 1e-6 * merged.area
    except shapely.errors.GEOSException:  # edges not noded alike: not a coverage
        tiled = False
    if not tiled:  # outlines that overlap or do not meet exactly
        merged = shapely.union_all(outlines)
    k = cfg.m2_per_deg2(merged.centroid.y)
    holes = [shapely.Polygon(r) for p in shapely.get_parts(merged) if p.geom_type == "Polygon"
             for r in p.interiors]
    holes = [h for h in holes if h.area * k > cfg.GAP_MIN_M2]
    if not holes:
        return [], None
    area = shapely.union_all(holes)
    mine = [g for g in grids if g.geom is not None and g.geom.intersects(area)]
    others = [shapely.from_wkb(bytes(r.wkb)) for r in conn.execute(text(f"""
        SELECT ST_AsBinary(gv.geom) AS wkb FROM unit_grid g
        JOIN grid_version gv ON gv.grid_id = g.id AND {LIVE_VERSION_SQL}
        WHERE {LIVE_GRID_SQL} AND NOT (g.community_id = ANY(:s))
          AND ST_Intersects(gv.geom, ST_GeomFromWKB(:h, 4326))"""), {"s": s.scope, "h": area.wkb})]
    left = shapely.difference(area, shapely.union_all([_valid(g.geom) for g in mine] + others))
    parts = [p for p in shapely.get_parts(left) if p.geom_type == "Polygon" and p.area * k > cfg.GAP_MIN_M2]
    out = []
    tree = shapely.STRtree([g.geom for g in grids]) if grids else None
    exteriors = [(r, shapely.Polygon(p.exterior)) for r, o in zip(rows, outlines)
                 for p in shapely.get_parts(o) if p.geom_type == "Polygon"]
    for p in parts:
        m2 = p.area * k
        touching = sorted(grids[i].code for i in tree.query(p, predicate="intersects")) if tree else []
        inside = [r for r, e in exteriors if e.contains(p.representative_point())]
        if len(inside) == 1:
            label = f"{inside[0].code} {inside[0].name}"
            zh = f"社区 {label} 内有 {m2:.2f} m² 未被任何网格覆盖（草稿之前已存在，可用“新建网格”填补）"
            en = (f"a gap of {m2:.2f} m² inside community {label}: no grid covers it (there before this draft; "
                  "'add' can fill it)")
        else:
            zh = f"辖区内社区之间有 {m2:.2f} m² 未被任何网格覆盖（草稿之前已存在，可用“新建网格”填补）"
            en = (f"a gap of {m2:.2f} m² inside the district, between communities: no grid covers it (there "
                  "before this draft; 'add' can fill it)")
        out.append(_problem("gap_existing", touching, zh, en, p))
    return out, area


def _within_holes(location: dict, holes) -> bool:
    """An ``outside_parent`` place that lies in the holes (up to the noise of the overlay)."""
    place = shapely.from_geojson(json.dumps(location))
    return shapely.area(shapely.difference(place, holes)) <= 1e-3 * max(shapely.area(place), 1e-18)


def _losing(s, touched: list[str], outlines: dict, current: dict[int, _Outline]) -> dict:
    """The scope's communities whose current outline the draft's changed grids of another
    community now cover (grids moved out of them), with their whole current outlines."""
    changed = [s.grids[c] for c in touched if c in s.grids and not s.grids[c].retired]
    if not changed:
        return {}
    k = cfg.m2_per_deg2(float(shapely.get_y(shapely.centroid(changed[0].geom))))
    ids = sorted({c for g in changed for c, o in outlines.items()
                  if c != g.community_id and _covered_m2(o, g.geom, k) > cfg.GAP_MIN_M2})
    return {i: current[i].geom for i in ids}
