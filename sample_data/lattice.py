"""The lattice the sample district is cut from, and the cuts (used by sample_data/generate.py).

One jittered, gently warped lattice of ~150 m cells; each vertex is computed once and rounded
once, so every polygon made of cells shares its edges with its neighbours vertex for vertex.
Regions are sets of cell ids (``j * nx + i``); ``split_two`` cuts one in two by a sweep across its
long axis, growing the first part from one end so both stay 4-connected, and retries at another
angle when a part would be disconnected or enclose another (a hole).
"""
from __future__ import annotations

import heapq
import math
from collections import deque

import numpy as np

CENTRE = (122.07, 41.12)  # lon, lat
CELL_M = 150.0  # lattice spacing in metres
DECIMALS = 7  # every vertex is rounded once, to about 1 cm
SEMI_AXES_M = (11000.0, 7600.0)  # outline: an irregular blob of about 260 km²
MARGIN = 3  # empty lattice cells around the outline, so neighbour arithmetic never wraps
# (wobble amplitude m, wobble wavelength m, angle jitter in degrees) of the cuts at each level
CUT = {
    "district": (1500.0, 12000.0, 0.0),
    "subdistrict": (700.0, 6000.0, 20.0),
    "community": (200.0, 2000.0, 20.0),
    "grid": (0.0, 1.0, 12.0),
}


class Lattice:
    """A jittered, gently warped lattice of ~150 m cells, and the district's cells on it."""

    def __init__(self, rng: np.random.Generator):
        a, b = SEMI_AXES_M
        self.nx = int(math.ceil(2 * 1.3 * a / CELL_M)) + 2 * MARGIN
        self.ny = int(math.ceil(2 * 1.3 * b / CELL_M)) + 2 * MARGIN
        x0, y0 = -self.nx * CELL_M / 2, -self.ny * CELL_M / 2
        gx, gy = np.meshgrid(x0 + np.arange(self.nx + 1) * CELL_M, y0 + np.arange(self.ny + 1) * CELL_M)
        # a smooth large-scale warp (so main lines curve) plus a little jitter per vertex
        ph = rng.uniform(0, 2 * math.pi, 4)
        wx = 260 * np.sin(2 * math.pi * gy / 7000 + ph[0]) + 140 * np.sin(2 * math.pi * gx / 5200 + ph[1])
        wy = 240 * np.sin(2 * math.pi * gx / 8000 + ph[2]) + 120 * np.sin(2 * math.pi * gy / 4600 + ph[3])
        jit = rng.uniform(-0.12, 0.12, (2, *gx.shape)) * CELL_M
        mx, my = gx + wx + jit[0], gy + wy + jit[1]
        lat0 = math.radians(CENTRE[1])
        m_per_deg_lat = 111132.954 - 559.822 * math.cos(2 * lat0) + 1.175 * math.cos(4 * lat0)
        m_per_deg_lon = 111412.84 * math.cos(lat0) - 93.5 * math.cos(3 * lat0)
        self.m_per_deg = (m_per_deg_lon, m_per_deg_lat)
        self.mx, self.my = mx, my
        self.vlon = self.vlat = None  # set by finalise(), once the cells have their grids
        # unwarped cell centres (metres) drive the cuts; cell id = j * nx + i
        ci, cj = np.meshgrid(np.arange(self.nx), np.arange(self.ny))
        self.cx = (x0 + (ci + 0.5) * CELL_M).ravel()
        self.cy = (y0 + (cj + 0.5) * CELL_M).ravel()
        self.ci, self.cj = ci.ravel(), cj.ravel()
        self.mask = self._outline(rng)

    def _outline(self, rng: np.random.Generator) -> np.ndarray:
        a, b = SEMI_AXES_M
        theta = np.arctan2(self.cy / b, self.cx / a)
        r = np.hypot(self.cx / a, self.cy / b)
        ph = rng.uniform(0, 2 * math.pi, 4)
        edge = (1 + 0.10 * np.sin(2 * theta + ph[0]) + 0.07 * np.sin(3 * theta + ph[1])
                + 0.05 * np.sin(5 * theta + ph[2]) + 0.025 * np.sin(9 * theta + ph[3]))
        inside = r <= edge
        inside &= (self.ci >= MARGIN) & (self.ci < self.nx - MARGIN)
        inside &= (self.cj >= MARGIN) & (self.cj < self.ny - MARGIN)
        cells = np.flatnonzero(inside)
        # keep the largest connected piece, then fill its holes: one simple polygon
        best: list[int] = []
        seen = np.zeros(self.nx * self.ny, bool)
        for c in cells:
            if not seen[c]:
                comp = self.component(int(c), inside, seen)
                if len(comp) > len(best):
                    best = comp
        mask = np.zeros(self.nx * self.ny, bool)
        mask[best] = True
        mask[self.holes(np.array(best))] = True
        return mask

    def finalise(self, label: np.ndarray, rounds: int = 4) -> None:
        """Smooth the lines between differently labelled cells, then fix the vertices in lon/lat.

        Cell edges follow the lattice, so a line between two grids is a staircase. Each vertex in
        the middle of such a line (exactly two labels around it, not diagonally) moves towards its
        two neighbours along the line; vertices where three labels meet stay put. Vertices are
        shared, so the tiling is untouched; only the cells' shapes change (checked valid later).
        """
        ny, nx = self.ny, self.nx
        lab = np.full((ny + 2, nx + 2), -1)
        lab[1:-1, 1:-1] = label.reshape(ny, nx)
        # the four cells around vertex (j, i): sw, se, nw, ne
        sw, se, nw, ne = lab[:-1, :-1], lab[:-1, 1:], lab[1:, :-1], lab[1:, 1:]
        # the four edges at the vertex: a boundary if the two cells on either side differ
        up, down = nw != ne, sw != se
        left, right = sw != nw, se != ne
        # exactly two boundary edges: the middle of a line between two labels (three or more
        # labels, or a diagonal pattern, give a degree of 3 or 4: a junction, which stays put)
        move = (up.astype(int) + down + left + right) == 2
        jj, ii = np.nonzero(move)
        nbrs = []
        for dj, di, edge in ((1, 0, up), (-1, 0, down), (0, -1, left), (0, 1, right)):
            nbrs.append((dj, di, edge[jj, ii]))
        x, y = self.mx.copy(), self.my.copy()
        for _ in range(rounds):
            sx, sy = np.zeros(len(jj)), np.zeros(len(jj))
            for dj, di, on in nbrs:
                sx += np.where(on, x[np.clip(jj + dj, 0, ny), np.clip(ii + di, 0, nx)], 0)
                sy += np.where(on, y[np.clip(jj + dj, 0, ny), np.clip(ii + di, 0, nx)], 0)
            x[jj, ii] = 0.5 * x[jj, ii] + 0.25 * sx
            y[jj, ii] = 0.5 * y[jj, ii] + 0.25 * sy
        self.vlon = np.round(CENTRE[0] + x / self.m_per_deg[0], DECIMALS)
        self.vlat = np.round(CENTRE[1] + y / self.m_per_deg[1], DECIMALS)

    def neighbours(self, c: int) -> tuple[int, int, int, int]:
        return c - 1, c + 1, c - self.nx, c + self.nx

    def component(self, start: int, member: np.ndarray, seen: np.ndarray) -> list[int]:
        out, todo = [start], deque([start])
        seen[start] = True
        while todo:
            for n in self.neighbours(todo.popleft()):
                if member[n] and not seen[n]:
                    seen[n] = True
                    out.append(n)
                    todo.append(n)
        return out

    def connected(self, cells: np.ndarray) -> bool:
        member = np.zeros(self.nx * self.ny, bool)
        member[cells] = True
        return len(self.component(int(cells[0]), member, np.zeros_like(member))) == len(cells)

    def holes(self, cells: np.ndarray) -> np.ndarray:
        """Cells not in ``cells`` but enclosed by them (4-connected from outside)."""
        i, j = self.ci[cells], self.cj[cells]
        i0, i1, j0, j1 = i.min() - 1, i.max() + 1, j.min() - 1, j.max() + 1
        w, h = i1 - i0 + 1, j1 - j0 + 1
        box = np.zeros((h, w), bool)
        box[j - j0, i - i0] = True
        out = np.zeros((h, w), bool)
        todo = deque((0, x) for x in range(w))
        for jj, ii in todo:
            out[jj, ii] = True
        while todo:
            jj, ii = todo.popleft()
            for dj, di in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                a, b = jj + dj, ii + di
                if 0 <= a < h and 0 <= b < w and not box[a, b] and not out[a, b]:
                    out[a, b] = True
                    todo.append((a, b))
        hj, hi = np.nonzero(~box & ~out)
        return (hj + j0) * self.nx + (hi + i0)

    def corners(self, cells: np.ndarray) -> np.ndarray:
        """(n, 4, 2) lon/lat of each cell's corners, counter-clockwise from south-west."""
        i, j = self.ci[cells], self.cj[cells]
        idx = [(j, i), (j, i + 1), (j + 1, i + 1), (j + 1, i)]
        return np.stack([np.stack([self.vlon[a, b], self.vlat[a, b]], axis=-1) for a, b in idx], axis=1)


def split_two(lat: Lattice, region: np.ndarray, n_first: int, level: str, rng: np.random.Generator,
               force_angle: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``region`` into a first part of ``n_first`` cells and the rest, both simply connected."""
    amp, wavelength, jitter = CUT[level]
    xs, ys = lat.cx[region], lat.cy[region]
    if force_angle is None:
        # sweep along the principal axis, i.e. cut across the region's long side
        cov = np.cov(np.vstack([xs - xs.mean(), ys - ys.mean()])) if len(region) > 2 else np.eye(2)
        evals, evecs = np.linalg.eigh(cov)
        base = math.atan2(evecs[1, -1], evecs[0, -1])
    else:
        base = force_angle
    member = np.zeros(lat.nx * lat.ny, bool)
    member[region] = True
    fallback = None
    for attempt in range(60):
        if attempt < 30:
            angle = base + math.radians(rng.uniform(-jitter, jitter)) + (math.pi if rng.random() < 0.5 and force_angle is None else 0)
        else:
            angle = rng.uniform(0, 2 * math.pi)
        u = xs * math.cos(angle) + ys * math.sin(angle)
        t = -xs * math.sin(angle) + ys * math.cos(angle)
        key = u + amp * np.sin(2 * math.pi * t / wavelength + rng.uniform(0, 2 * math.pi)) + rng.uniform(0, 1e-3, len(u))
        keyof = dict(zip(region.tolist(), key.tolist()))
        start = int(region[int(np.argmin(key))])
        heap, seen, first = [(keyof[start], start)], {start}, []
        while len(first) < n_first:
            _, c = heapq.heappop(heap)
            first.append(c)
            for n in lat.neighbours(c):
                if member[n] and n not in seen:
                    seen.add(n)
                    heapq.heappush(heap, (keyof[n], n))
        a = np.array(sorted(first))
        b = np.setdiff1d(region, a, assume_unique=True)
        if not lat.connected(b):
            continue
        if len(lat.holes(a)) == 0 and len(lat.holes(b)) == 0:
            return a, b
        fallback = fallback or (a, b)
    if fallback is None:
        raise RuntimeError(f"could not cut a {level} region of {len(region)} cells into connected parts")
    return fallback


def partition(lat: Lattice, region: np.ndarray, weights: list[float], minimum: list[int], level: str,
               rng: np.random.Generator) -> list[np.ndarray]:
    """Recursive bisection of ``region`` into parts with cell counts proportional to ``weights``."""
    if len(weights) == 1:
        return [region]
    h = len(weights) // 2
    n = len(region)
    n_first = round(n * sum(weights[:h]) / sum(weights))
    n_first = min(max(n_first, sum(minimum[:h])), n - sum(minimum[h:]))
    a, b = split_two(lat, region, n_first, level, rng)
    return (partition(lat, a, weights[:h], minimum[:h], level, rng)
            + partition(lat, b, weights[h:], minimum[h:], level, rng))
