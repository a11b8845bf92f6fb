"""A draft's rows in memory (shapely polygons), loaded and saved as a whole or by code.

Edits work on this copy and write back only the rows they changed; the rows as they were go
into the step's ``before`` (geometry as hex WKB, so an undo restores every coordinate exactly).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.config import STORAGE_SRID
from planning.errors import DraftClosed, DraftNotFound

# A live (current) grid version and unit grid: scheduled versions (valid_from in the future) are
# not live yet, and a version closed at a future time still is.
LIVE_VERSION_SQL = "gv.valid_from <= now() AND (gv.valid_to IS NULL OR gv.valid_to > now())"
LIVE_GRID_SQL = "(g.retired_at IS NULL OR g.retired_at > now())"


@dataclass
class DraftGrid:
    code: str
    grid_id: int | None
    name: str
    community_id: int
    responsibility_code: str | None
    geom: shapely.Geometry
    retired: bool = False

    def row(self) -> dict:
        d = asdict(self) | {"geom": shapely.to_wkb(self.geom, hex=True)}
        return d

    @classmethod
    def from_row(cls, d: dict) -> "DraftGrid":
        return cls(**(d | {"geom": shapely.from_wkb(d["geom"])}))


@dataclass
class DraftResponsibility:
    code: str
    name: str
    community_id: int
    responsibility_grid_id: int | None
    person_ids: list[int] = field(default_factory=list)

    def row(self) -> dict:
        return asdict(self)

    @classmethod
    def from_row(cls, d: dict) -> "DraftResponsibility":
        return cls(**d)


@dataclass
class Community:
    id: int
    code: str
    name: str


@dataclass
class DraftState:
    id: int
    name: str
    status: str
    district_id: int
    scope: list[int]  # the community ids the draft covers (all of the district's when it has no scope)
    grids: dict[str, DraftGrid]
    responsibilities: dict[str, DraftResponsibility]
    communities: dict[int, Community]  # every community of the district, by id

    def live_grids(self) -> list[DraftGrid]:
        """The grids that are not retired, by code."""
        return [g for _, g in sorted(self.grids.items()) if not g.retired]

    def community_by_code(self, code: str) -> Community | None:
        return next((c for c in self.communities.values() if c.code == code), None)

    def snapshot(self) -> tuple[dict, dict]:
        """Copies of the rows' fields, for ``rows_of`` (shapely geometries are immutable: shared)."""
        return ({c: vars(g).copy() for c, g in self.grids.items()},
                {c: vars(r) | {"person_ids": list(r.person_ids)} for c, r in self.responsibilities.items()})


def load_state(conn: Connection, draft_id: int, *, lock: bool = False, must_be_open: bool = False) -> DraftState:
    """The draft ``draft_id`` with all its rows; ``lock`` holds its row until the transaction ends."""
    try:
        draft_id = int(draft_id)
    except (TypeError, ValueError):
        raise DraftNotFound(draft_id) from None
    d = conn.execute(text(
        "SELECT id, name, status, district_id, scope_community_ids FROM boundary_draft WHERE id = :d"
        + (" FOR UPDATE" if lock else "")), {"d": draft_id}).mappings().one_or_none()
    if d is None:
        raise DraftNotFound(draft_id)
    if must_be_open and d["status"] != "open":
        raise DraftClosed(draft_id, d["status"])
    communities = {r.id: Community(r.id, r.code, r.name) for r in conn.execute(text(
        "SELECT c.id, c.code, c.name FROM community c JOIN subdistrict s ON s.id = c.subdistrict_id "
        "WHERE s.district_id = :d ORDER BY c.code"), {"d": d["district_id"]})}
    rows = conn.execute(text(
        "SELECT code, grid_id, name, community_id, responsibility_code, ST_AsBinary(geom) AS wkb, retired "
        "FROM boundary_draft_grid WHERE draft_id = :d ORDER BY code"), {"d": draft_id}).all()
    geoms = shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else []
    grids = {r.code: DraftGrid(r.code, r.grid_id, r.name, r.community_id, r.responsibility_code, g, r.retired)
             for r, g in zip(rows, geoms)}
    resps = {r.code: DraftResponsibility(r.code, r.name, r.community_id, r.responsibility_grid_id, list(r.person_ids))
             for r in conn.execute(text(
                 "SELECT code, name, community_id, responsibility_grid_id, person_ids "
                 "FROM boundary_draft_responsibility WHERE draft_id = :d ORDER BY code"), {"d": draft_id})}
    scope = list(d["scope_community_ids"]) if d["scope_community_ids"] is not None else sorted(communities)
    return DraftState(draft_id, d["name"], d["status"], d["district_id"], scope, grids, resps, communities)


def save(conn: Connection, draft_id: int, grids: dict[str, DraftGrid | None],
         responsibilities: dict[str, DraftResponsibility | None]) -> None:
    """Write these rows of the draft (None: the row is deleted); other rows are left alone."""
    if responsibilities:
        conn.execute(text("DELETE FROM boundary_draft_responsibility WHERE draft_id = :d AND code = ANY(:c)"),
                     {"d": draft_id, "c": sorted(responsibilities)})
    if grids:
        conn.execute(text("DELETE FROM boundary_draft_grid WHERE draft_id = :d AND code = ANY(:c)"),
                     {"d": draft_id, "c": sorted(grids)})
    new_resps = [r.row() | {"d": draft_id} for r in responsibilities.values() if r is not None]
    if new_resps:
        conn.execute(text(
            "INSERT INTO boundary_draft_responsibility(draft_id, code, name, community_id, responsibility_grid_id, "
            "person_ids) VALUES (:d, :code, :name, :community_id, :responsibility_grid_id, "
            "CAST(:person_ids AS int[]))"), new_resps)
    new_grids = [g.row() | {"d": draft_id} for g in grids.values() if g is not None]
    if new_grids:
        conn.execute(text(
            "INSERT INTO boundary_draft_grid(draft_id, code, grid_id, name, community_id, responsibility_code, geom, "
            f"retired) VALUES (:d, :code, :grid_id, :name, :community_id, :responsibility_code, "
            f"ST_GeomFromWKB(decode(:geom, 'hex'), {STORAGE_SRID}), :retired)"), new_grids)


def rows_of(grids: dict[str, dict], resps: dict[str, dict], grid_codes, resp_codes) -> dict:
    """The ``before`` of a step: these rows of a ``snapshot`` (None: absent then)."""
    return {"grids": {c: DraftGrid(**grids[c]).row() if c in grids else None for c in sorted(grid_codes)},
            "responsibilities": {c: DraftResponsibility(**resps[c]).row() if c in resps else None
                                 for c in sorted(resp_codes)}}
