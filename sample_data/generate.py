"""The synthetic sample district (样例辖区), built by subdivision with a fixed seed; no database.

No open boundary data exists for 兴隆台区, so this builds one around 41.12°N, 122.07°E with the
source district's structure (docs/domain.md): 8 subdistricts (2 agricultural, mostly villages,
larger and sparser), 78 communities and 14 villages, 1,035 unit grids, 586 responsibility grids,
599 grid workers.

How the tiling stays exact: everything is made of the cells of one jittered lattice (about
150 m), whose vertices are computed once and rounded once to 7 decimals. A unit grid is a set of
cells, a community a set of grids, a subdistrict a set of communities, so every polygon is a
union of the same quadrilaterals and two neighbours share their edge vertex for vertex, bit for
bit: unions, ``ST_Covers`` and the tie-break behave, and there are no slivers. Each region is
cut in two by a sweep across its long axis (wavy at the upper levels, like rivers and main
roads) that grows the first part from one end, so both parts stay 4-connected; a cut that would
leave a part disconnected or holed (a ring around another region) is retried at another angle.

Codes come from :func:`gis.codes.compose`; inside a parent, children are numbered in reading
order: bands from north to south, west to east inside a band. Villages are numbered from 201
(GB/T 10114: 001–199 residents' committees, 200–399 villagers' committees).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from shapely.geometry import Polygon

from gis.codes import compose
from sample_data import names
from sample_data.lattice import Lattice, partition, split_two

DEFAULT_SEED = 211103
N_UNIT_GRIDS = 1035
N_RESPONSIBILITY_GRIDS = 586
N_GRID_WORKERS = 599

# Relative area of one unit grid by kind of place: village grids are fields and hamlets.
_AREA_FACTOR = {"urban": 1.0, "agri_community": 3.0, "village": 10.0}


@dataclass(frozen=True)
class Subdistrict:
    code: str
    name: str
    name_en: str
    is_agricultural: bool
    geom: Polygon


@dataclass(frozen=True)
class Community:
    code: str
    name: str
    name_en: str
    kind: str  # 'community' (社区) or 'village' (村)
    subdistrict_code: str
    geom: Polygon


@dataclass(frozen=True)
class UnitGrid:
    code: str
    name: str
    community_code: str
    responsibility_code: str
    geom: Polygon


@dataclass(frozen=True)
class ResponsibilityGrid:
    code: str
    name: str
    community_code: str
    grid_codes: tuple[str, ...]


@dataclass(frozen=True)
class GridWorker:
    username: str
    full_name: str
    phone: str
    community_code: str
    responsibility_code: str


@dataclass(frozen=True)
class StaffMember:
    """A dispatcher of a community, subdistrict or the district, or staff of a department: the
    people the history's events are done by. They have no password (see sample_data/accounts.py)."""
    username: str
    full_name: str
    role: str  # dispatcher | department_staff
    unit_level: str  # community | subdistrict | district | department
    unit_code: str  # community/subdistrict/district code, or department code


@dataclass(frozen=True)
class SampleDistrict:
    code: str
    name: str
    name_en: str
    outline: Polygon
    subdistricts: tuple[Subdistrict, ...]
    communities: tuple[Community, ...]
    grids: tuple[UnitGrid, ...]
    responsibility_grids: tuple[ResponsibilityGrid, ...]
    workers: tuple[GridWorker, ...]
    staff: tuple[StaffMember, ...]
    # The lattice cells, for sampling points inside grids: corners (n, 4, 2) lon/lat in ring
    # order, and the index into ``grids`` of the grid each cell belongs to.
    cell_corners: np.ndarray
    cell_grid: np.ndarray
    lattice_vertices: frozenset[tuple[float, float]]


def generate(seed: int = DEFAULT_SEED) -> SampleDistrict:
    """The sample district for ``seed``: same seed, same district, bit for bit.

    >>> d = generate()
    >>> len(d.subdistricts), len(d.communities), len(d.grids), len(d.workers)
    (8, 92, 1035, 599)
    """
    return _generate(int(seed))


@lru_cache(maxsize=2)
def _generate(seed: int) -> SampleDistrict:
    rng = np.random.default_rng(seed)
    plan = _plan(rng)
    lat = Lattice(rng)
    cell_grid_idx, grid_specs = _subdivide(lat, plan, rng)
    lat.finalise(cell_grid_idx)
    return _assemble(lat, plan, cell_grid_idx, grid_specs, rng, seed)


# --- the plan: how many of what, and their names -----------------------------------------------

@dataclass
class _CommunityPlan:
    stem: str
    pinyin: str
    kind: str  # community | village
    agri: bool
    n_grids: int = 0
    n_resp: int = 0

    @property
    def name(self) -> str:
        return self.stem + ("村" if self.kind == "village" else "社区")

    @property
    def name_en(self) -> str:
        return f"{self.pinyin} {'Village' if self.kind == 'village' else 'Community'}"

    @property
    def weight(self) -> float:
        key = "village" if self.kind == "village" else ("agri_community" if self.agri else "urban")
        return self.n_grids * _AREA_FACTOR[key]


@dataclass
class _SubdistrictPlan:
    name: str
    name_en: str
    agri: bool
    communities: list[_CommunityPlan]

    @property
    def weight(self) -> float:
        return sum(c.weight for c in self.communities)


def _largest_remainder(weights: np.ndarray, total: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` summing to ``total``, each within [lo, hi]."""
    w = weights / weights.sum()
    out = np.clip(np.floor(w * total).astype(int), lo, hi)
    while out.sum() != total:
        frac = w * total - out
        if out.sum() < total:
            frac[out >= hi] = -np.inf
            out[int(np.argmax(frac))] += 1
        else:
            frac[out <= lo] = np.inf
            out[int(np.argmin(frac))] -= 1
    return out


def _plan(rng: np.random.Generator) -> list[_SubdistrictPlan]:
    subs = []
    for name, name_en, agri, comms, villages in names.SUBDISTRICTS:
        cs = [_CommunityPlan(s, p, "community", agri) for s, p in comms]
        cs += [_CommunityPlan(s, p, "village", agri) for s, p in villages]
        subs.append(_SubdistrictPlan(name, name_en, agri, cs))
    everyone = [c for s in subs for c in s.communities]
    for c in everyone:
        if c.kind == "village":
            c.n_grids = int(rng.integers(4, 9))
        elif c.agri:
            c.n_grids = int(rng.integers(6, 11))
    urban = [c for c in everyone if not c.agri]
    left = N_UNIT_GRIDS - sum(c.n_grids for c in everyone if c.agri)
    counts = _largest_remainder(rng.uniform(0.75, 1.3, len(urban)), left,
                                np.full(len(urban), 8), np.full(len(urban), 18))
    for c, n in zip(urban, counts):
        c.n_grids = int(n)
    n = np.array([c.n_grids for c in everyone], dtype=float)
    resp = _largest_remainder(n, N_RESPONSIBILITY_GRIDS, np.ones(len(n), int), n.astype(int))
    for c, r in zip(everyone, resp):
        c.n_resp = int(r)
    return subs


@dataclass
class _GridSpec:
    sub: int  # index into plan
    comm: int  # index into plan[sub].communities
    cells: np.ndarray


def _subdivide(lat: Lattice, plan: list[_SubdistrictPlan], rng: np.random.Generator):
    district = np.flatnonzero(lat.mask)
    agri = [k for k, s in enumerate(plan) if s.agri]
    urban = [k for k, s in enumerate(plan) if not s.agri]
    w_agri = sum(plan[k].weight for k in agri)
    n_west = round(len(district) * w_agri / sum(s.weight for s in plan))
    # the agricultural subdistricts take the west, the built-up area the east
    west, east = split_two(lat, district, n_west, "district", rng, force_angle=0.0)
    sub_cells: dict[int, np.ndarray] = {}
    for group, cells in ((agri, west), (urban, east)):
        order = [group[k] for k in rng.permutation(len(group))]
        parts = partition(lat, cells, [plan[k].weight for k in order],
                           [2 * sum(c.n_grids for c in plan[k].communities) for k in order], "subdistrict", rng)
        sub_cells.update(zip(order, parts))
    cell_grid = np.full(lat.nx * lat.ny, -1)
    grids: list[_GridSpec] = []
    for s_idx, s in enumerate(plan):
        order = list(rng.permutation(len(s.communities)))
        parts = partition(lat, sub_cells[s_idx], [s.communities[k].weight for k in order],
                           [2 * s.communities[k].n_grids for k in order], "community", rng)
        for c_idx, cells in zip(order, parts):
            c = s.communities[c_idx]
            weights = list(rng.uniform(0.7, 1.3, c.n_grids))
            for g_cells in partition(lat, cells, weights, [1] * c.n_grids, "grid", rng):
                cell_grid[g_cells] = len(grids)
                grids.append(_GridSpec(s_idx, int(c_idx), g_cells))
    return cell_grid, grids


# --- polygons, codes, names --------------------------------------------------------------------

def _reading_order(polys: list[Polygon]) -> list[int]:
    """Indices of ``polys`` north→south in bands, west→east inside a band."""
    if not polys:
        return []
    cents = [p.centroid for p in polys]
    heights = sorted(p.bounds[3] - p.bounds[1] for p in polys)
    band = heights[len(heights) // 2] or 1.0
    top = max(c.y for c in cents)
    return sorted(range(len(polys)), key=lambda k: (int((top - cents[k].y) // band), cents[k].x, -cents[k].y))


def _union(polys) -> Polygon:
    u = shapely.union_all(list(polys))
    if u.geom_type != "Polygon":
        raise RuntimeError(f"union is a {u.geom_type}, expected one Polygon")
    return shapely.normalize(u)


def _person_names(rng: np.random.Generator, n: int) -> list[str]:
    given = list(dict.fromkeys(names.GIVEN))
    out, used = [], set()
    while len(out) < n:
        name = names.SURNAMES[int(rng.integers(len(names.SURNAMES)))]
        name += "".join(given[int(k)] for k in rng.integers(len(given), size=1 + int(rng.random() < 0.7)))
        if name not in used:
            used.add(name)
            out.append(name)
    return out


def _assemble(lat: Lattice, plan: list[_SubdistrictPlan], cell_grid: np.ndarray, specs: list[_GridSpec],
              rng: np.random.Generator, seed: int) -> SampleDistrict:
    all_cells = np.flatnonzero(lat.mask)
    corners = lat.corners(all_cells)
    quads = shapely.polygons(np.concatenate([corners, corners[:, :1]], axis=1))
    pos = np.full(lat.nx * lat.ny, -1)
    pos[all_cells] = np.arange(len(all_cells))
    grid_polys = [_union(quads[pos[s.cells]]) for s in specs]

    # communities and subdistricts: unions of their children, then codes in reading order
    by_comm: dict[tuple[int, int], list[int]] = {}
    for g, s in enumerate(specs):
        by_comm.setdefault((s.sub, s.comm), []).append(g)
    comm_polys = {k: _union(grid_polys[g] for g in gs) for k, gs in by_comm.items()}
    sub_polys = [_union(comm_polys[(s, c)] for c in range(len(plan[s].communities))) for s in range(len(plan))]
    district_code, district_name, district_en = names.DISTRICT
    outline = _union(sub_polys)

    subdistricts, communities, grids = [], [], []
    grid_code_of: dict[int, str] = {}
    comm_code_of: dict[tuple[int, int], str] = {}
    for s_seq, s in enumerate(_reading_order(sub_polys), start=1):
        s_code = compose(district_code, s_seq, "subdistrict")
        sp = plan[s]
        subdistricts.append(Subdistrict(s_code, sp.name, sp.name_en, sp.agri, sub_polys[s]))
        for kind, first in (("community", 1), ("village", 201)):
            keys = [(s, c) for c in range(len(sp.communities)) if sp.communities[c].kind == kind]
            for c_seq, k in enumerate(_reading_order([comm_polys[key] for key in keys]), start=first):
                key = keys[k]
                cp = sp.communities[key[1]]
                c_code = compose(s_code, c_seq, "community")
                comm_code_of[key] = c_code
                communities.append(Community(c_code, cp.name, cp.name_en, cp.kind, s_code, comm_polys[key]))
                gs = by_comm[key]
                for g_seq, k2 in enumerate(_reading_order([grid_polys[g] for g in gs]), start=1):
                    grid_code_of[gs[k2]] = compose(c_code, g_seq, "grid")

    resp_of_grid, responsibility = _responsibility_grids(lat, plan, specs, cell_grid, grid_code_of, comm_code_of, rng)
    comm_name = {c.code: c.name for c in communities}
    for g, s in enumerate(specs):
        code = grid_code_of[g]
        grids.append(UnitGrid(code, f"{comm_name[comm_code_of[(s.sub, s.comm)]]}第{int(code[-3:])}网格",
                              comm_code_of[(s.sub, s.comm)], resp_of_grid[g], grid_polys[g]))
    workers = _workers(plan, specs, responsibility, grids, rng)

    order = sorted(range(len(grids)), key=lambda g: grids[g].code)
    new_index = np.empty(len(grids), int)
    new_index[order] = np.arange(len(grids))
    cell_grid_sorted = new_index[cell_grid[all_cells]]
    corners.setflags(write=False)
    cell_grid_sorted.setflags(write=False)
    return SampleDistrict(
        code=district_code, name=district_name, name_en=district_en, outline=outline,
        subdistricts=tuple(sorted(subdistricts, key=lambda x: x.code)),
        communities=tuple(sorted(communities, key=lambda x: x.code)),
        grids=tuple(grids[g] for g in order),
        responsibility_grids=tuple(sorted(responsibility, key=lambda x: x.code)),
        workers=tuple(workers),
        staff=tuple(_staff(subdistricts, communities, district_code, seed)),
        cell_corners=corners, cell_grid=cell_grid_sorted,
        lattice_vertices=frozenset(zip(lat.vlon.ravel().tolist(), lat.vlat.ravel().tolist())),
    )


def _responsibility_grids(lat, plan, specs, cell_grid, grid_code_of, comm_code_of, rng):
    """Group adjacent unit grids of one community into its share of the 586 责任网格."""
    adjacent: dict[int, set[int]] = {g: set() for g in range(len(specs))}
    cells = np.flatnonzero(cell_grid >= 0)
    for step in (1, lat.nx):
        a, b = cell_grid[cells], cell_grid[cells + step]
        pairs = (b >= 0) & (a != b)
        for x, y in zip(a[pairs].tolist(), b[pairs].tolist()):
            adjacent[x].add(y)
            adjacent[y].add(x)
    size = {g: len(s.cells) for g, s in enumerate(specs)}
    tiebreak = {g: float(v) for g, v in enumerate(rng.random(len(specs)))}
    resp_of_grid: dict[int, str] = {}
    out = []
    by_comm: dict[tuple[int, int], list[int]] = {}
    for g, s in enumerate(specs):
        by_comm.setdefault((s.sub, s.comm), []).append(g)
    for key in sorted(by_comm, key=lambda k: comm_code_of[k]):
        cp = plan[key[0]].communities[key[1]]
        groups = {g: [g] for g in by_comm[key]}
        owner = {g: g for g in by_comm[key]}

        def rank(k):
            return len(groups[k]), sum(size[g] for g in groups[k]), tiebreak[k]

        while len(groups) > cp.n_resp:
            a = min(groups, key=rank)
            nbrs = {owner[n] for g in groups[a] for n in adjacent[g] if n in owner} - {a}
            b = min(nbrs, key=rank)
            for g in groups.pop(b):
                owner[g] = a
                groups[a].append(g)
        c_code = comm_code_of[key]
        ordered = sorted(groups.values(), key=lambda gs: min(grid_code_of[g] for g in gs))
        for r_seq, gs in enumerate(ordered, start=1):
            r_code = f"{c_code}R{r_seq:02d}"
            codes = tuple(sorted(grid_code_of[g] for g in gs))
            out.append(ResponsibilityGrid(r_code, f"{cp.name}第{r_seq}责任网格", c_code, codes))
            for g in gs:
                resp_of_grid[g] = r_code
    return resp_of_grid, out


def _workers(plan, specs, responsibility, grids, rng) -> list[GridWorker]:
    """One grid worker (网格员) per responsibility grid; the 13 busiest urban ones get two."""
    n_double = N_GRID_WORKERS - len(responsibility)
    agri_comms = {g.community_code for g, s in zip(grids, specs) if plan[s.sub].agri}
    ranked = sorted((r for r in responsibility if r.community_code not in agri_comms),
                    key=lambda r: (-len(r.grid_codes), r.code))
    doubled = {r.code for r in ranked[:n_double]}
    full_names = _person_names(rng, N_GRID_WORKERS)
    phones = rng.choice(10000, N_GRID_WORKERS, replace=False)
    out = []
    for r in responsibility:
        for _ in range(2 if r.code in doubled else 1):
            k = len(out)
            out.append(GridWorker(f"gw{k + 1:04d}", full_names[k], f"139****{int(phones[k]):04d}",
                                  r.community_code, r.code))
    return out


def _staff(subdistricts, communities, district_code: str, seed: int) -> list[StaffMember]:
    """A dispatcher (派遣员) for every community and village, every subdistrict and two at the
    district command centre, and two handlers (处置员) per department of db/reference.py."""
    from db.reference import DEPARTMENTS

    units = [("dispatcher", "community", c.code, f"dsp{c.code}") for c in communities]
    units += [("dispatcher", "subdistrict", s.code, f"dsp{s.code}") for s in subdistricts]
    units += [("dispatcher", "district", district_code, f"dsp{district_code}_{k}") for k in (1, 2)]
    units += [("department_staff", "department", code, f"{code.lower()}_{k}") for code, _, _ in DEPARTMENTS
              for k in (1, 2)]
    full_names = _person_names(np.random.default_rng([seed, 7]), len(units))
    return [StaffMember(u, n, role, level, code) for (role, level, code, u), n in zip(units, full_names)]
