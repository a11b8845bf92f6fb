"""The grid worker's phone page and the public report page, without the page: photos, reports,
resolving on the spot (自行处置), the worker's own reports and the grids to pick a place from.

Plain Python (no UI imports). Writes go through the lifecycle (``dispatch.service.report_case``
and ``transition``) exactly as the intake API's do, and photos through the same store and checks
(``intake.photos.PhotoStore``: decoded type, size cap, EXIF stripped).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from accounts.actors import Actor
from gis.crs import STORAGE_CRS
from dispatch import service as lifecycle
from dispatch.errors import LifecycleError
from intake.photos import PhotoStore, StoredPhoto
from intake.settings import Settings

# A phone fix worse than this many metres is flagged on the page (GRIDGOV_GEO_MAX_ACCURACY_M):
# a worker indoors or under tall buildings easily gets 100 m or more, i.e. the neighbouring grid.
DEFAULT_MAX_ACCURACY_M = 30.0
MY_REPORTS_DAYS = 28
# Picking grids on the map: ~1 m precision and a light outline keep the deck small on a phone.
PICK_SIMPLIFY_DEG = 0.00002
PICK_DIGITS = 5


def max_accuracy_m() -> float:
    raw = os.environ.get("GRIDGOV_GEO_MAX_ACCURACY_M", "")
    try:
        return float(raw) if raw else DEFAULT_MAX_ACCURACY_M
    except ValueError:
        raise ValueError(f"GRIDGOV_GEO_MAX_ACCURACY_M={raw!r} is not a number") from None


def fix_is_poor(accuracy_m: float | None, limit_m: float | None = None) -> bool:
    """True when a phone position's accuracy (radius in metres) is unknown or worse than the limit.

    >>> fix_is_poor(12, 30), fix_is_poor(80, 30), fix_is_poor(None, 30)
    (False, True, True)
    """
    limit = max_accuracy_m() if limit_m is None else limit_m
    return accuracy_m is None or not accuracy_m <= limit


def photo_store(settings: Settings | None = None) -> PhotoStore:
    """The store the intake API uses (same directory, same caps)."""
    s = settings or Settings.from_env()
    return PhotoStore(s.photo_dir, max_bytes=s.max_photo_bytes, max_pixels=s.max_photo_pixels,
                      max_side=s.photo_max_side)


def photo_upload_mb() -> int:
    """The photo cap in whole MB, for the pages' uploaders (so they refuse what the store would)."""
    return max(1, Settings.from_env().max_photo_bytes // (1024 * 1024))


def store_photo(store: PhotoStore, data: bytes | None) -> StoredPhoto | None:
    """Check and keep an uploaded photo; None for no photo. Raises ``PhotoError`` (zh/en), an
    empty file included (it had been taken for "no photo": the report went in without it, unsaid)."""
    if data is None:
        return None
    store.check_size(len(data))
    return store.store(data)


@contextmanager
def photos_for_one_report(store: PhotoStore) -> Iterator[Callable[[bytes | None], StoredPhoto | None]]:
    """``put(data)`` stores a photo for the report made inside the block; if the block raises (the
    report refused, a photo refused after another was kept, the database gone), every photo it
    stored is removed again: no photo without a case, as the API keeps it (docs/intake.md)."""
    kept: list[str] = []

    def put(data: bytes | None) -> StoredPhoto | None:
        stored = store_photo(store, data)
        if stored is not None:
            kept.append(stored.ref)
        return stored

    try:
        yield put
    except BaseException:
        for ref in kept:
            store.discard(ref)
        raise


@dataclass(frozen=True)
class Place:
    """Where a report is: WGS-84 longitude/latitude (the phone's GPS and the map are WGS-84)."""
    lon: float
    lat: float
    accuracy_m: float | None = None  # the phone's fix; None when picked or typed


def report_from_phone(conn: Connection, *, actor: Actor, category_code: str, description: str, place: Place,
                      photo_ref: str | None) -> dict:
    """上报 by a grid worker (channel ``grid_worker``); the database assigns the grid. The case row."""
    return lifecycle.report_case(conn, channel="grid_worker", lon=place.lon, lat=place.lat, crs=STORAGE_CRS,
                                 category_code=category_code, description=description, photo_ref=photo_ref,
                                 actor=actor)


def resolve_on_spot(conn: Connection, *, actor: Actor, category_code: str, description: str, place: Place,
                    before_ref: str | None, after_ref: str) -> dict:
    """自行处置: report and close at once, recorded as self-handled with the after photo.

    One transaction: if the lifecycle refuses the second step (a point outside the worker's
    community, no after photo), no half-made case stays behind.
    """
    with conn.begin_nested():
        row = report_from_phone(conn, actor=actor, category_code=category_code, description=description,
                                place=place, photo_ref=before_ref)
        try:
            return lifecycle.transition(conn, case_id=row["id"], action="self_handle", actor=actor,
                                        after_photo_ref=after_ref)
        except LifecycleError as e:  # the case is rolled back with the block: its number must not be quoted
            if e.params.get("reason") == "community":
                raise LifecycleError(
                    "invalid", what="该地点不在本社区网格内，不能自行处置；可关闭“自行处置”，作为普通案件上报",
                    what_en="the place is not in your community's grids, so it cannot be handled on the spot; "
                            "turn off self-handling to report it as a case") from None
            e.params["case_no"] = "（未保存）"
            raise


def my_reports(conn: Connection, *, actor: Actor, days: int = MY_REPORTS_DAYS) -> list[dict]:
    """The worker's own reports of the last ``days``, newest first: number, category, state, deadline."""
    return [dict(r) for r in conn.execute(text(
        "SELECT c.id, c.case_no, c.category_code, cat.name AS category_name, cat.name_en AS category_name_en, "
        "c.status, c.reported_at, c.due_at, c.closed_at, c.self_handled, c.outside_jurisdiction, c.grid_code "
        "FROM cases c LEFT JOIN case_category cat ON cat.code = c.category_code "
        "WHERE c.reporter_id = :p AND c.reported_at > now() - make_interval(days => :d) "
        "ORDER BY c.reported_at DESC, c.id DESC LIMIT 200"), {"p": actor.person_id, "d": days}).mappings()]


def pick_grids(conn: Connection, *, community_id: int | None = None) -> list[dict]:
    """Current unit grids to pick a place from: code, name, a point inside (lon, lat) and the
    outline (rings, ~1 m precision). ``community_id`` narrows to one community (a grid worker's)."""
    rows = conn.execute(text(f"""
        SELECT g.code, g.name, ST_X(p) AS lon, ST_Y(p) AS lat,
               ST_AsGeoJSON(ST_SimplifyPreserveTopology(gv.geom, :tol), {PICK_DIGITS})::json -> 'coordinates' AS rings
        FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
        CROSS JOIN LATERAL ST_PointOnSurface(gv.geom) AS p
        WHERE g.retired_at IS NULL AND (CAST(:c AS integer) IS NULL OR g.community_id = :c)
        ORDER BY g.code"""), {"tol": PICK_SIMPLIFY_DEG, "c": community_id}).mappings()
    return [{"code": r["code"], "name": r["name"], "lon": round(r["lon"], 6), "lat": round(r["lat"], 6),
             "rings": r["rings"]} for r in rows]


def categories(conn: Connection) -> list[dict]:
    """Case categories for the report forms: code, name, name_en."""
    return [dict(r) for r in conn.execute(text(
        "SELECT code, name, name_en FROM case_category ORDER BY code")).mappings()]
