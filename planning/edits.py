"""The planner's edits (编辑操作) on a draft in memory, each as an op dict from the editor or CLI.

``{"op": "move_vertex", "from": [lon, lat], "to": [lon, lat]}``
    Every grid with a vertex within ``SNAP_TOLERANCE_M`` of ``from`` moves it (a grid whose edge
    passes there without a vertex gets one first): shared edges stay shared. ``to`` snaps to an
    existing vertex within the tolerance, and a grid whose edge ``to`` lands on gets a vertex there.
``{"op": "split", "code": C, "line": [[lon, lat], ...]}``
    The server splits C along the line (ends may stop short of C's edge by the tolerance); the
    largest part keeps C, the others get the next free codes; neighbours get the new vertices.
``{"op": "merge", "codes": [C1, C2, ...]}``
    Adjacent grids of one community become one; the lowest code keeps, the others are retired.
``{"op": "add", "polygon": [[lon, lat], ...], "community_code": X}``
    A new grid in a gap: the drawn polygon snapped to nearby vertices and clipped by every grid
    (the draft's, and current grids outside its scope), so it never overlaps one.
``{"op": "move_grid", "code": C, "community_code": X, "responsibility_code": R}``
    To another community (a code carries its community: the grid gets the next free code of X and
    C is retired) and/or to responsibility grid R of its community (``null``: none).
``{"op": "assign_workers", "responsibility_code": R, "person_ids": [...]}``
    The grid workers of R (replacing its list).
``{"op": "replace_from_file", "path": P, "crs": S}``
    The grids of the communities the file covers become the file's (``gis.io.read_grid_file``:
    GeoJSON, GeoPackage, zipped Shapefile; GCJ-02/BD-09 converted); their grids missing from the
    file are retired. Codes follow the file; a retired code is refused.

Codes: a new grid gets the next free code of its community, above every code the community has
ever had (retired grids included, in ``unit_grid`` and in the draft), so a retired code is never
reused.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
import shapely.ops
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis import codes as gcodes
from planning import settings as cfg
from planning.errors import EditError
from planning.state import LIVE_GRID_SQL, LIVE_VERSION_SQL, DraftGrid, DraftResponsibility, DraftState

OPS = ("move_vertex", "split", "merge", "add", "move_grid", "assign_workers", "replace_from_file")


@dataclass
class Change:
    grids: set[str] = field(default_factory=set)
    responsibilities: set[str] = field(default_factory=set)


def apply(conn: Connection, s: DraftState, op: dict) -> Change:
    """Apply ``op`` to ``s`` in memory; returns the codes of the rows it changed."""
    if not isinstance(op, dict) or op.get("op") not in OPS:
        got = op.get("op") if isinstance(op, dict) else op
        raise EditError(f"未知的编辑操作 {got!r}（可用：{', '.join(OPS)}）",
                        f"unknown edit {got!r}; expected one of {', '.join(OPS)}")
    return _OPS[op["op"]](conn, s, op)


# --- reading the op ------------------------------------------------------------------------------

def _need(op: dict, key: str):
    if key not in op or op[key] is None:
        raise EditError(f"{op['op']} 操作缺少 {key}", f"{op['op']}: {key} is missing")
    return op[key]


def _point(op: dict, key: str) -> tuple[float, float]:
    v = _need(op, key)
    try:
        x, y = (float(c) for c in v)
    except (TypeError, ValueError):
        raise EditError(f"{op['op']}：{key} 须为 [经度, 纬度]", f"{op['op']}: {key} must be [lon, lat]") from None
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        raise EditError(f"{op['op']}：{key} 坐标 ({x}, {y}) 超出 WGS-84 范围",
                        f"{op['op']}: {key} ({x}, {y}) is out of range for WGS-84 [lon, lat]")
    return x, y


def _points(op: dict, key: str, least: int) -> list[tuple[float, float]]:
    v = _need(op, key)
    if not isinstance(v, (list, tuple)) or len(v) < least:
        raise EditError(f"{op['op']}：{key} 须至少有 {least} 个点 [经度, 纬度]",
                        f"{op['op']}: {key} needs at least {least} points [lon, lat]")
    return [_point({"op": op["op"], key: p}, key) for p in v]


def _grid(s: DraftState, op: dict, code) -> DraftGrid:
    g = s.grids.get(str(code))
    if g is None or g.retired:
        what = "已撤销" if g is not None else "不在此草稿中"
        raise EditError(f"{op['op']}：网格 {code} {what}",
                        f"{op['op']}: grid {code} is " + ("retired" if g is not None else "not in this draft"))
    return g


def _community(s: DraftState, op: dict, code) -> int:
    c = s.community_by_code(str(code))
    if c is None or c.id not in s.scope:
        raise EditError(f"{op['op']}：社区 {code} 不在此草稿范围内", f"{op['op']}: community {code} is not in this draft's scope")
    return c.id


def _tol(lat: float) -> float:
    return cfg.deg(cfg.SNAP_TOLERANCE_M, lat)


# --- geometry helpers ----------------------------------------------------------------------------

def _rings(poly: shapely.Polygon) -> list[list[tuple[float, float]]]:
    return [list(poly.exterior.coords)] + [list(r.coords) for r in poly.interiors]


def _polygon(rings: list[list[tuple[float, float]]], code: str) -> shapely.Polygon:
    clean = []
    for r in rings:
        ring = [p for k, p in enumerate(r) if k == 0 or p != r[k - 1]]
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        if len(ring) < 4:
            raise EditError(f"此操作会使网格 {code} 塌缩", f"the edit would collapse grid {code}")
        clean.append(ring)
    return shapely.Polygon(clean[0], clean[1:])


def _with_vertex(poly: shapely.Polygon, pt: tuple[float, float], tol: float) -> shapely.Polygon | None:
    """``poly`` with ``pt`` inserted on its nearest edge, if that edge passes within ``tol`` of it
    and no vertex is there already; None when nothing is to be inserted."""
    best = None
    for ri, ring in enumerate(_rings(poly)):
        for k in range(len(ring) - 1):
            if math.dist(ring[k], pt) <= tol or math.dist(ring[k + 1], pt) <= tol:
                return None
            d = shapely.LineString([ring[k], ring[k + 1]]).distance(shapely.Point(pt))
            if d <= tol and (best is None or d < best[0]):
                best = (d, ri, k)
    if best is None:
        return None
    rings = _rings(poly)
    rings[best[1]].insert(best[2] + 1, tuple(pt))
    return shapely.Polygon(rings[0], rings[1:])


def _node(s: DraftState, points, skip: set[str], tol: float, change: Change) -> None:
    """Give every draft grid (but ``skip``) whose edge passes within ``tol`` of one of ``points``
    a vertex there, so that neighbours keep the same vertices along a shared edge."""
    live = [g for g in s.live_grids() if g.code not in skip]
    if not live or not points:
        return
    tree = shapely.STRtree([g.geom for g in live])
    for pt in points:
        for i in tree.query(shapely.Point(pt), predicate="dwithin", distance=tol).tolist():
            g = live[i]
            new = _with_vertex(g.geom, pt, tol)
            if new is not None:
                g.geom = new
                change.grids.add(g.code)


def next_codes(conn: Connection, s: DraftState, community_id: int, n: int) -> list[str]:
    """The next ``n`` free grid codes of a community: above every code it has ever had."""
    comm = s.communities[community_id].code
    w = gcodes.width("community")
    top = conn.execute(text("SELECT max(right(code, :g)::int) FROM unit_grid WHERE left(code, :w) = :c"),
                       {"g": gcodes.GRID_CODE_LEN - w, "w": w, "c": comm}).scalar() or 0
    top = max([top] + [int(c[w:]) for c in s.grids if c[:w] == comm])
    try:
        return [gcodes.compose(comm, top + k, "grid") for k in range(1, n + 1)]
    except ValueError as e:
        raise EditError(f"社区 {comm} 的网格编码已用尽", f"community {comm} has no free grid code left: {e}") from None


def _retire(s: DraftState, g: DraftGrid, change: Change) -> None:
    """A grid taken out: a live one is marked retired (publish retires it); one new in this draft
    goes."""
    if g.grid_id is None:
        del s.grids[g.code]
    else:
        g.retired = True
    change.grids.add(g.code)


def _new_vertices(parts, old: shapely.Geometry) -> list[tuple[float, float]]:
    have = {tuple(c) for c in shapely.get_coordinates(old).tolist()}
    return sorted({tuple(c) for p in parts for c in shapely.get_coordinates(p).tolist()} - have)


# --- the ops -------------------------------------------------------------------------------------

def move_vertex(conn: Connection, s: DraftState, op: dict) -> Change:
    frm, to = _point(op, "from"), _point(op, "to")
    tol = _tol(frm[1])
    change = Change()
    live = s.live_grids()
    tree = shapely.STRtree([g.geom for g in live])
    hit = [live[i] for i in tree.query(shapely.Point(frm), predicate="dwithin", distance=tol).tolist()]
    if not hit:
        raise EditError(f"move_vertex：({frm[0]}, {frm[1]}) 附近 {cfg.SNAP_TOLERANCE_M} 米内没有网格顶点或边",
                        f"move_vertex: no grid has a vertex or edge within {cfg.SNAP_TOLERANCE_M} m of "
                        f"({frm[0]}, {frm[1]})")
    # a vertex shared with a current grid outside the draft would tear their common edge apart
    outside = [r[0] for r in conn.execute(text(f"""
        SELECT g.code FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id AND {LIVE_VERSION_SQL}
        WHERE {LIVE_GRID_SQL} AND NOT (g.community_id = ANY(:s))
          AND ST_DWithin(gv.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326), :t) ORDER BY g.code"""),
        {"s": s.scope, "x": frm[0], "y": frm[1], "t": tol})]
    if outside:
        raise EditError(f"move_vertex：此顶点也属于草稿范围外的网格 {', '.join(outside)}，请把其所在社区纳入草稿",
                        f"move_vertex: this vertex is shared with grid(s) {', '.join(outside)} outside the draft's "
                        "scope; start a draft that includes their community")
    # snap the target to an existing vertex of a grid that is not moving
    moving = {g.code for g in hit}
    others = [live[i] for i in tree.query(shapely.Point(to), predicate="dwithin", distance=tol).tolist()
              if live[i].code not in moving]
    near = [c for g in others for c in shapely.get_coordinates(g.geom).tolist() if math.dist(c, to) <= tol]
    if near:
        to = tuple(min(near, key=lambda c: math.dist(c, to)))
    for g in hit:
        poly = _with_vertex(g.geom, frm, tol) or g.geom
        rings = [[tuple(to) if math.dist(p, frm) <= tol else p for p in r] for r in _rings(poly)]
        g.geom = _polygon(rings, g.code)
        change.grids.add(g.code)
    _node(s, [tuple(to)], moving, cfg.deg(0.001, to[1]), change)
    return change


def split(conn: Connection, s: DraftState, op: dict) -> Change:
    g = _grid(s, op, _need(op, "code"))
    pts = _points(op, "line", 2)
    tol = _tol(pts[0][1])
    # lengthen both ends by the tolerance: a line drawn to the edge by hand may stop just short
    line = np.array(pts)
    for end, nxt in ((0, 1), (-1, -2)):
        v = line[end] - line[nxt]
        n = np.hypot(*v)
        if n > 0:
            line[end] = line[end] + v / n * 2 * tol
    if shapely.LineString(pts).length == 0:
        raise EditError("split：分割线长度为零", "split: the line has no length (its points are all the same)")
    parts = sorted((p for p in shapely.ops.split(g.geom, shapely.LineString(line)).geoms if p.area > 0),
                   key=lambda p: -p.area)
    if len(parts) < 2:
        raise EditError(f"split：这条线没有把网格 {g.code} 分开，请从网格一边画到另一边",
                        f"split: the line does not cut grid {g.code} in two; draw it across the grid from edge to edge")
    change = Change({g.code})
    added = _new_vertices(parts, g.geom)
    old = g.geom
    g.geom = parts[0]
    for n, (code, part) in enumerate(zip(next_codes(conn, s, g.community_id, len(parts) - 1), parts[1:]), start=2):
        s.grids[code] = DraftGrid(code, None, f"{g.name}-{n}", g.community_id, g.responsibility_code, part)
        change.grids.add(code)
    _node(s, added, set(change.grids), cfg.deg(0.001, old.centroid.y), change)
    return change


def merge(conn: Connection, s: DraftState, op: dict) -> Change:
    wanted = _need(op, "codes")
    if not isinstance(wanted, list) or len(set(map(str, wanted))) < 2:
        raise EditError("merge：至少需要两个不同的网格编码", "merge: name at least two different grid codes")
    grids = [_grid(s, op, c) for c in sorted(set(map(str, wanted)))]
    comms = {g.community_id for g in grids}
    if len(comms) > 1:
        listed = ", ".join(f"{g.code}（{s.communities[g.community_id].code}）" for g in grids)
        raise EditError(f"merge：只能合并同一社区的网格：{listed}",
                        f"merge: only grids of one community can be merged: {listed.replace('（', ' (').replace('）', ')')}")
    geoms = [g.geom for g in grids]
    union = shapely.coverage_union_all(geoms) if shapely.coverage_is_valid(geoms) else shapely.union_all(geoms)
    if union.geom_type != "Polygon":
        raise EditError(f"merge：网格 {', '.join(g.code for g in grids)} 不相邻（没有公共边）",
                        f"merge: grids {', '.join(g.code for g in grids)} are not adjacent (they share no edge)")
    keep, change = grids[0], Change()
    keep.geom = union
    change.grids.add(keep.code)
    for g in grids[1:]:
        _retire(s, g, change)
    return change


def add(conn: Connection, s: DraftState, op: dict) -> Change:
    ring = _points(op, "polygon", 3)
    cid = _community(s, op, _need(op, "community_code"))
    poly = shapely.Polygon(ring)
    if not poly.is_valid or poly.area == 0:
        raise EditError(f"add：所画多边形无效（{shapely.is_valid_reason(poly)}）",
                        f"add: the drawn polygon is not valid ({shapely.is_valid_reason(poly)})")
    tol = _tol(ring[0][1])
    live = s.live_grids()
    tree = shapely.STRtree([g.geom for g in live]) if live else None
    near = [live[i].geom for i in tree.query(poly, predicate="dwithin", distance=tol)] if tree else []
    if near:
        poly = shapely.snap(poly, shapely.union_all(near), tol)
        if not poly.is_valid:
            poly = shapely.make_valid(poly)
    blockers = [live[i].geom for i in tree.query(poly, predicate="intersects")] if tree else []
    # current grids outside the draft's scope are not in the draft but must not be overlapped either
    blockers += [shapely.from_wkb(bytes(r[0])) for r in conn.execute(text(f"""
        SELECT ST_AsBinary(gv.geom) FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
        WHERE {LIVE_VERSION_SQL} AND {LIVE_GRID_SQL} AND NOT (g.community_id = ANY(:s))
          AND ST_Intersects(gv.geom, ST_GeomFromText(:w, 4326))"""), {"s": s.scope, "w": poly.wkt})]
    left = poly.difference(shapely.union_all(blockers)) if blockers else poly
    k = cfg.m2_per_deg2(ring[0][1])
    parts = sorted((p for p in shapely.get_parts(left) if p.geom_type == "Polygon" and p.area * k >= cfg.SLIVER_MAX_M2),
                   key=lambda p: -p.area)
    if not parts:
        raise EditError("add：所画区域已被现有网格覆盖，没有留下空白",
                        "add: nothing of the drawn polygon is left in a gap; it lies over existing grids")
    change = Change()
    for code, part in zip(next_codes(conn, s, cid, len(parts)), parts):
        s.grids[code] = DraftGrid(code, None, f"新网格{code[-3:]}", cid, None, part)
        change.grids.add(code)
    _node(s, _new_vertices(parts, shapely.union_all(near) if near else shapely.Point()), set(change.grids),
          cfg.deg(0.001, ring[0][1]), change)
    return change


def move_grid(conn: Connection, s: DraftState, op: dict) -> Change:
    g = _grid(s, op, _need(op, "code"))
    if "community_code" not in op and "responsibility_code" not in op:
        raise EditError("move_grid：请给出 community_code 或 responsibility_code",
                        "move_grid: give community_code and/or responsibility_code")
    target = _community(s, op, op["community_code"]) if op.get("community_code") is not None else g.community_id
    resp = op.get("responsibility_code", g.responsibility_code if target == g.community_id else None)
    if resp is not None:
        r = s.responsibilities.get(str(resp))
        if r is None:
            raise EditError(f"move_grid：此草稿中没有责任网格 {resp}", f"move_grid: no responsibility grid {resp} in this draft")
        if r.community_id != target:
            c = s.communities[target].code
            raise EditError(f"move_grid：责任网格 {resp} 不属于社区 {c}",
                            f"move_grid: responsibility grid {resp} does not belong to community {c}")
        resp = str(resp)
    change = Change({g.code})
    if target == g.community_id:
        if resp == g.responsibility_code:
            return Change()
        g.responsibility_code = resp
        return change
    (code,) = next_codes(conn, s, target, 1)
    s.grids[code] = DraftGrid(code, None, g.name, target, resp, g.geom)
    change.grids.add(code)
    _retire(s, g, change)
    return change


def assign_workers(conn: Connection, s: DraftState, op: dict) -> Change:
    code = str(_need(op, "responsibility_code"))
    r = s.responsibilities.get(code)
    if r is None:
        raise EditError(f"assign_workers：此草稿中没有责任网格 {code}", f"assign_workers: no responsibility grid {code} in this draft")
    ids = _need(op, "person_ids")
    try:
        ids = sorted({int(p) for p in ids})
    except (TypeError, ValueError):
        raise EditError("assign_workers：person_ids 须为人员编号列表", "assign_workers: person_ids must be a list of person ids") \
            from None
    found = dict(conn.execute(text("SELECT id, role FROM person WHERE id = ANY(:i) AND active"), {"i": ids}).all())
    missing = [p for p in ids if p not in found]
    if missing:
        raise EditError(f"assign_workers：人员 {missing} 不存在或已停用", f"assign_workers: no active person {missing}")
    not_workers = [p for p in ids if found[p] != "grid_worker"]
    if not_workers:
        raise EditError(f"assign_workers：人员 {not_workers} 不是网格员", f"assign_workers: persons {not_workers} are not grid workers")
    if r.person_ids == ids:
        return Change()
    r.person_ids = ids
    return Change(responsibilities={code})


def replace_from_file(conn: Connection, s: DraftState, op: dict) -> Change:
    from gis.io import GridImportError, Moved, datum_shift_hint, read_grid_file

    path = str(_need(op, "path"))
    shown = Path(path).name  # the page's upload lies in a temporary folder: its name only
    try:
        features = read_grid_file(path, crs=op.get("crs"))
    except GridImportError as e:
        more = " …" if len(e.problems) > 5 else ""
        first = "; ".join(str(p) for p in e.problems[:5]) + more
        first = first.replace(path, shown).replace("with --crs", "with the coordinate system (--crs)")
        first_zh = "；".join(p.text("zh") for p in e.problems[:5]).replace(path, shown) + more
        raise EditError(f"从文件替换：文件 {shown} 不能使用（{first_zh}）",
                        f"replace_from_file: {shown} cannot be used: {first}") from None
    except (FileNotFoundError, OSError) as e:
        raise EditError(f"从文件替换：无法读取 {shown}（{e.strerror or e}）",
                        f"replace_from_file: cannot read {shown}: {e.strerror or e}") from None
    if not features:
        raise EditError(f"从文件替换：文件 {shown} 没有网格", f"replace_from_file: {shown} has no grids")
    now = {r.code: r for r in conn.execute(text(
        f"SELECT g.code, ST_X(ST_Centroid(gv.geom)) AS x, ST_Y(ST_Centroid(gv.geom)) AS y FROM unit_grid g "
        f"JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL WHERE {LIVE_GRID_SQL} AND g.code = ANY(:c)"),
        {"c": [f.code for f in features]})}
    hint = datum_shift_hint([Moved(now[f.code].x, now[f.code].y, f.geom.centroid.x, f.geom.centroid.y)
                             for f in features if f.code in now and f.geom is not None])
    if hint:  # a file in one datum read as the other: refused before anything is written
        raise EditError(f"从文件替换：文件 {shown} 的网格整体偏移了约一个火星坐标（GCJ-02/BD-09）偏移量，"
                        f"疑为坐标系选错：{hint}", f"replace_from_file: {shown}: {hint}")
    w = gcodes.width("community")
    comm_ids = {}
    for f in features:
        c = s.community_by_code(f.code[:w])
        if c is None or c.id not in s.scope:
            raise EditError(f"replace_from_file：网格 {f.code} 的社区 {f.code[:w]} 不在此草稿范围内",
                            f"replace_from_file: grid {f.code}'s community {f.code[:w]} is not in this draft's scope")
        comm_ids[f.code] = c.id
    existing = {r.code: (r.id, r.retired) for r in conn.execute(text(
        f"SELECT code, id, NOT {LIVE_GRID_SQL} AS retired FROM unit_grid g WHERE code = ANY(:c)"),
        {"c": [f.code for f in features]})}
    retired = sorted(c for c, (_, r) in existing.items() if r)
    if retired:
        raise EditError(f"replace_from_file：编码 {', '.join(retired)} 已撤销，不能再用",
                        f"replace_from_file: codes {', '.join(retired)} were retired and are never reused")
    change = Change()
    for f in features:
        rc = f.attrs.get("responsibility_code") or None
        if rc is not None:
            r = s.responsibilities.get(rc)
            if r is None:
                rid = conn.execute(text("SELECT id FROM responsibility_grid WHERE code = :c"), {"c": rc}).scalar()
                s.responsibilities[rc] = DraftResponsibility(rc, f.attrs.get("responsibility_name") or rc,
                                                             comm_ids[f.code], rid)
                change.responsibilities.add(rc)
            elif r.community_id != comm_ids[f.code]:
                raise EditError(f"replace_from_file：责任网格 {rc} 不属于网格 {f.code} 的社区",
                                f"replace_from_file: responsibility grid {rc} is not of grid {f.code}'s community")
        g = s.grids.get(f.code)
        if g is None:
            s.grids[f.code] = DraftGrid(f.code, existing.get(f.code, (None,))[0], f.name, comm_ids[f.code], rc, f.geom)
        else:
            g.geom, g.name, g.retired = f.geom, f.name, False
            g.responsibility_code = rc if rc is not None else g.responsibility_code
        change.grids.add(f.code)
    in_file, touched = {f.code for f in features}, set(comm_ids.values())
    for g in list(s.live_grids()):
        if g.community_id in touched and g.code not in in_file:
            _retire(s, g, change)
    # where the file's grids meet the others, each side gets the other's vertices on the common edge
    tol = cfg.deg(0.001, features[0].geom.centroid.y)
    mine = shapely.union_all([s.grids[c].geom for c in in_file])
    others = [g for g in s.live_grids() if g.code not in in_file and shapely.dwithin(g.geom, mine, tol)]
    theirs = sorted({tuple(c) for g in others for c in shapely.get_coordinates(g.geom).tolist()})
    _node(s, theirs, {g.code for g in s.live_grids() if g.code not in in_file}, tol, change)
    _node(s, sorted({tuple(c) for c in shapely.get_coordinates(mine).tolist()}), in_file, tol, change)
    return change


_OPS = {"move_vertex": move_vertex, "split": split, "merge": merge, "add": add, "move_grid": move_grid,
        "assign_workers": assign_workers, "replace_from_file": replace_from_file}
