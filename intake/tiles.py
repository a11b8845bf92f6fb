"""The city's own base map, served by the project: ``GET /tiles/{z}/{x}/{y}.png`` from a folder of
``{z}/{x}/{y}.png`` tiles or an MBTiles file named by ``GRIDGOV_TILES`` (``db.config.tiles_path``).
No internet anywhere: the planner's editor draws these under the grids when there are any.

- MBTiles (the MBTiles 1.3 spec) numbers rows the TMS way, from the south: the tile the web
  (XYZ) scheme calls ``y`` is row ``2**z - 1 - y``.
- Path traversal is impossible by construction: ``z``, ``x`` and ``y`` must be decimal numbers
  within the zoom's range before anything is looked up, and a folder tile is opened only if its
  resolved path lies inside the resolved folder.
- A tile is answered with its type read from its bytes (PNG, JPEG or WebP; an MBTiles of vector
  tiles is refused when opened), an ETag and ``Cache-Control`` (a day); a missing tile is a 404,
  cached for five minutes.
"""
from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gis.text import Msg

log = logging.getLogger("intake.tiles")

MAX_ZOOM = 24
_NUMBER = re.compile(r"[0-9]{1,9}")
TILE_MAX_AGE_S = 86_400
MISSING_MAX_AGE_S = 300


class TilesError(ValueError):
    """A tile source that cannot be served; one line saying why and what to set."""


@dataclass(frozen=True)
class TileInfo:
    kind: str  # "folder" or "mbtiles"
    min_zoom: int
    max_zoom: int
    attribution: str = ""


def media_type(data: bytes) -> str | None:
    """The image type of a tile's bytes, or None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class FolderTiles:
    """``{z}/{x}/{y}.png`` under one folder (what QGIS's "Generate XYZ tiles" and gdal2tiles
    --xyz write)."""

    def __init__(self, folder: Path):
        self.folder = folder.resolve()
        zooms = sorted(int(p.name) for p in self.folder.iterdir() if p.is_dir() and _NUMBER.fullmatch(p.name)
                       and int(p.name) <= MAX_ZOOM)
        if not zooms:
            raise TilesError(Msg(f"GRIDGOV_TILES={folder}: the folder has no zoom level folders ({{z}}/{{x}}/{{y}}.png)",
                                 f"GRIDGOV_TILES={folder}：文件夹里没有按缩放级别分的子文件夹（{{z}}/{{x}}/{{y}}.png）"))
        self.info = TileInfo("folder", zooms[0], zooms[-1])

    def get(self, z: int, x: int, y: int) -> bytes | None:
        path = (self.folder / str(z) / str(x) / f"{y}.png").resolve()
        if not path.is_relative_to(self.folder) or not path.is_file():
            return None
        return path.read_bytes()


class MBTiles:
    """An MBTiles file (SQLite), opened read-only, one connection per thread."""

    def __init__(self, path: Path):
        self.path = path.resolve()
        self._local = threading.local()
        try:
            meta = dict(self._conn().execute("SELECT name, value FROM metadata").fetchall())
            zooms = self._conn().execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
        except sqlite3.DatabaseError as e:
            raise TilesError(Msg(f"GRIDGOV_TILES={path}: not a readable MBTiles file ({e})",
                                 f"GRIDGOV_TILES={path}：不是可读的 MBTiles 文件（{e}）")) from None
        fmt = str(meta.get("format", "png")).lower()
        if fmt not in ("png", "jpg", "jpeg", "webp"):
            raise TilesError(Msg(f"GRIDGOV_TILES={path}: its tiles are {fmt}; only raster tiles (png, jpg, webp) "
                                 "can be drawn under the grids",
                                 f"GRIDGOV_TILES={path}：瓦片格式是 {fmt}；网格下面只能画栅格瓦片（png、jpg、webp）"))
        if zooms[0] is None:
            raise TilesError(Msg(f"GRIDGOV_TILES={path}: the MBTiles file holds no tiles",
                                 f"GRIDGOV_TILES={path}：MBTiles 文件里没有瓦片"))
        self.info = TileInfo("mbtiles", int(meta.get("minzoom", zooms[0])), int(meta.get("maxzoom", zooms[1])),
                             str(meta.get("attribution", ""))[:300])

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, check_same_thread=True)
            self._local.conn = conn
        return conn

    def get(self, z: int, x: int, y: int) -> bytes | None:
        row = self._conn().execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, (1 << z) - 1 - y)).fetchone()  # TMS rows count from the south
        return bytes(row[0]) if row else None


def open_tiles(path: Path) -> FolderTiles | MBTiles:
    """The tile source at ``path``: a folder, or an MBTiles file (SQLite, by its first bytes)."""
    if not path.exists():
        raise TilesError(Msg(f"GRIDGOV_TILES={path}: no such file or folder",
                             f"GRIDGOV_TILES={path}：没有这个文件或文件夹"))
    if path.is_dir():
        return FolderTiles(path)
    with path.open("rb") as f:
        head = f.read(16)
    if head != b"SQLite format 3\x00":
        raise TilesError(Msg(f"GRIDGOV_TILES={path}: neither a folder of {{z}}/{{x}}/{{y}}.png tiles nor an MBTiles file",
                         f"GRIDGOV_TILES={path}：既不是 {{z}}/{{x}}/{{y}}.png 瓦片文件夹，也不是 MBTiles 文件"))
    return MBTiles(path)


def load_source(path: Path | None) -> FolderTiles | MBTiles | None:
    """``open_tiles``, or None (logged) when no source is configured or it cannot be served: a
    wrong tile path must not stop the intake service, whose first job is taking reports."""
    if path is None:
        return None
    try:
        return open_tiles(path)
    except TilesError as e:
        log.error("%s; tiles are not served", e)
        return None


def _coordinate(raw: str, limit: int) -> int | None:
    if not _NUMBER.fullmatch(raw):
        return None
    n = int(raw)
    return n if n < limit else None


router = APIRouter()


@router.get("/tiles/{z}/{x}/{y}.png", include_in_schema=False)
def tile(z: str, x: str, y: str, request: Request) -> Response:
    source = getattr(request.app.state, "tiles", None)
    zi = _coordinate(z, MAX_ZOOM + 1)
    xi = _coordinate(x, 1 << zi) if zi is not None else None
    yi = _coordinate(y, 1 << zi) if zi is not None else None
    data = source.get(zi, xi, yi) if source is not None and None not in (zi, xi, yi) else None
    kind = media_type(data) if data else None
    if kind is None:
        return Response(status_code=404, headers={"Cache-Control": f"public, max-age={MISSING_MAX_AGE_S}"})
    etag = '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'
    headers = {"Cache-Control": f"public, max-age={TILE_MAX_AGE_S}", "ETag": etag}
    if etag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=kind, headers=headers)
