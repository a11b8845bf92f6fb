"""The city's own base map served by the intake service over real HTTP (``/tiles/{z}/{x}/{y}.png``):
an MBTiles file (its TMS rows flipped to the web's y) and a folder give the right bytes with cache
headers; a missing tile is a 404; path traversal and nonsense coordinates find nothing; a wrong
``GRIDGOV_TILES`` is logged and the Open311 service still starts."""
from __future__ import annotations

import socket

import httpx
import pytest

from gis.text import in_lang
from intake.tiles import TilesError, open_tiles
from tests.intake.conftest import start_server, stop_server
from tests.tile_files import make_folder, make_mbtiles, png

RED, GREEN, BLUE = png((255, 0, 0)), png((0, 255, 0)), png((0, 0, 255))
# At zoom 1 the web's y = 0 is the northern row; MBTiles stores it as TMS row 1.
TILES = {(1, 0, 0): RED, (1, 0, 1): GREEN, (3, 6, 2): BLUE}


@pytest.fixture(scope="module")
def mbtiles_server(intake_db_url, photo_dir, tmp_path_factory):
    path = make_mbtiles(tmp_path_factory.mktemp("mbtiles") / "city.mbtiles", TILES, attribution="测绘院")
    proc, base = start_server(intake_db_url, photo_dir, GRIDGOV_TILES=path)
    yield base
    stop_server(proc)


def test_mbtiles_tiles_come_back_byte_for_byte_with_the_y_flip(mbtiles_server):
    for (z, x, y), data in TILES.items():
        r = httpx.get(f"{mbtiles_server}/tiles/{z}/{x}/{y}.png")
        assert r.status_code == 200 and r.content == data, (z, x, y)
        assert r.headers["content-type"] == "image/png"
        assert r.headers["cache-control"] == "public, max-age=86400"
    again = httpx.get(f"{mbtiles_server}/tiles/1/0/0.png", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 200  # another tile's ETag
    first = httpx.get(f"{mbtiles_server}/tiles/1/0/0.png")
    assert httpx.get(f"{mbtiles_server}/tiles/1/0/0.png",
                     headers={"If-None-Match": first.headers["etag"]}).status_code == 304


@pytest.mark.parametrize("path", [
    "/tiles/1/1/0.png",        # a tile the file does not have
    "/tiles/2/0/0.png",        # a zoom it does not have
    "/tiles/1/0/2.png",        # y beyond the zoom's 2 rows
    "/tiles/1/2/0.png",        # x beyond the zoom's 2 columns
    "/tiles/-1/0/0.png", "/tiles/a/0/0.png", "/tiles/1/0/0x.png", "/tiles/99/0/0.png",
    "/tiles/1/0/0.jpg",
])
def test_what_is_not_a_tile_is_a_404(mbtiles_server, path):
    r = httpx.get(mbtiles_server + path)
    assert r.status_code == 404
    assert r.content == b"" or b"404" in r.content


def raw_get(base: str, path: str) -> bytes:
    """A request line sent as written (httpx and browsers normalise ``..`` away)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


@pytest.fixture(scope="module")
def folder_server(intake_db_url, photo_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("tilefolder")
    folder = make_folder(root / "tiles", TILES)
    (root / "secret.png").write_bytes(png((9, 9, 9)))  # beside the folder, not in it
    (folder / "3" / "6" / "7.png").symlink_to(root / "secret.png")  # a link leading out of the folder
    proc, base = start_server(intake_db_url, photo_dir, GRIDGOV_TILES=folder)
    yield base
    stop_server(proc)


def test_a_folder_serves_its_tiles_as_they_are(folder_server):
    for (z, x, y), data in TILES.items():  # a folder is XYZ already: no flip
        r = httpx.get(f"{folder_server}/tiles/{z}/{x}/{y}.png")
        assert r.status_code == 200 and r.content == data, (z, x, y)
    assert httpx.get(f"{folder_server}/tiles/1/1/1.png").status_code == 404


@pytest.mark.parametrize("path", [
    "/tiles/../secret.png", "/tiles/1/../../secret.png", "/tiles/1/0/..%2F..%2F..%2Fsecret.png",
    "/tiles/%2e%2e/%2e%2e/secret.png", "/tiles/3/6/7.png", "/tiles/1/0/..\\..\\secret.png",
    "/tiles//etc/passwd.png", "/tiles/1/0/%00.png",
])
def test_path_traversal_finds_nothing(folder_server, path):
    answer = raw_get(folder_server, path)
    status = answer.split(b" ", 2)[1]
    assert status in (b"404", b"400"), answer[:200]
    assert png((9, 9, 9)) not in answer


def test_no_source_or_a_wrong_one_serves_no_tiles_but_the_service_runs(intake_db_url, photo_dir, tmp_path):
    bad = tmp_path / "not-tiles.mbtiles"
    bad.write_text("hello")
    proc, base = start_server(intake_db_url, photo_dir, GRIDGOV_TILES=bad)
    try:
        assert httpx.get(base + "/tiles/1/0/0.png").status_code == 404
        assert httpx.get(base + "/open311/v2/services.json").status_code == 200
    finally:
        stop_server(proc)


def test_open_tiles_says_what_is_wrong(tmp_path):
    vector = make_mbtiles(tmp_path / "v.mbtiles", {(0, 0, 0): b"\x1a\x00"}, format="pbf")
    (tmp_path / "x.mbtiles").write_text("hello")
    (tmp_path / "empty").mkdir()
    for path, english, chinese in ((tmp_path / "none", "no such file or folder", "没有这个文件或文件夹"),
                                   (tmp_path / "x.mbtiles", "neither a folder", "既不是"),
                                   (tmp_path / "empty", "no zoom level folders", "没有按缩放级别"),
                                   (vector, "only raster tiles", "只能画栅格瓦片")):
        with pytest.raises(TilesError, match=english) as e:
            open_tiles(path)
        assert chinese in in_lang(e.value, "zh")  # the planner's page shows it in its language
        assert in_lang(e.value, "en") == str(e.value)
    info = open_tiles(make_mbtiles(tmp_path / "c.mbtiles", TILES, attribution="测绘院")).info
    assert (info.kind, info.min_zoom, info.max_zoom, info.attribution) == ("mbtiles", 1, 3, "测绘院")
