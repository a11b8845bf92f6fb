"""Tiny tile sources made in a test: PNGs of one colour each (Pillow), an MBTiles file (sqlite3,
rows in the TMS order the MBTiles spec uses) and a ``{z}/{x}/{y}.png`` folder."""
from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from PIL import Image


def png(colour: tuple[int, int, int], size: int = 256) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()


def make_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], **metadata: str) -> Path:
    """``tiles`` keyed by the web (XYZ) ``(z, x, y)``; stored with the TMS row ``2**z - 1 - y``."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE metadata (name text, value text)")
        conn.execute("CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)")
        conn.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
        meta = {"name": "test", "format": "png", **metadata}
        conn.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
        conn.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                         [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()])
    conn.close()
    return path


def make_folder(root: Path, tiles: dict[tuple[int, int, int], bytes]) -> Path:
    for (z, x, y), data in tiles.items():
        p = root / str(z) / str(x) / f"{y}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root
