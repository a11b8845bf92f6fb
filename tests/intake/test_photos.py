"""Photos: decoded to check the type, auto-rotated, shrunk, EXIF stripped after its GPS is read,
size-capped, stored under a generated name and served back by URL."""
from __future__ import annotations

import io
import os

import pytest
from PIL import Image
from sqlalchemy import text

from tests.intake.conftest import INSIDE


def jpeg(w=300, h=200, *, orientation=None, gps=None, quality=90) -> bytes:
    img = Image.new("RGB", (w, h), (200, 30, 30))
    img.paste((30, 30, 200), (0, 0, w // 2, h // 2))  # a marker in the top-left corner
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    if orientation:
        exif[0x0112] = orientation
    if gps:
        lon, lat = gps
        def dms(v):
            return float(int(v)), float(int(v * 60 % 60)), round(v * 3600 % 60, 4)

        exif.get_ifd(0x8825).update({1: "N", 2: dms(lat), 3: "E", 4: dms(lon)})
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, quality=quality)
    return out.getvalue()


def png(w=64, h=48) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (w, h), (0, 128, 0, 128)).save(out, "PNG")
    return out.getvalue()


def post_photo(api, key, data: bytes, name="photo.jpg", ctype="image/jpeg", **fields):
    form = {"api_key": key, "service_code": "0103", "long": str(INSIDE[0]), "lat": str(INSIDE[1]),
            "description": "照片测试", **fields}
    form = {k: v for k, v in form.items() if v is not None}
    return api.post("/requests.json", data=form, files={"media": (name, data, ctype)})


def fetch(api, no: str) -> tuple[str, Image.Image, bytes]:
    url = api.get(f"/requests/{no}.json").json()[0]["media_url"]
    r = api.get(url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/")
    return url, Image.open(io.BytesIO(r.content)), r.content


def test_jpeg_is_rotated_and_exif_stripped(api, key, intake_engine, photo_dir):
    r = post_photo(api, key, jpeg(300, 200, orientation=6, gps=(122.0051, 41.1052)))
    assert r.status_code == 201, r.text
    no = r.json()[0]["service_request_id"]
    url, img, raw = fetch(api, no)
    assert img.size == (200, 300)          # orientation 6 applied
    assert not img.getexif()               # no EXIF at all, GPS included
    assert b"TestCam" not in raw and b"Exif" not in raw
    with intake_engine.connect() as c:
        row = c.execute(text("SELECT c.photo_ref, r.photo_gps_lon, r.photo_gps_lat FROM cases c "
                             "JOIN intake_request r ON r.case_id = c.id WHERE c.case_no = :n"), {"n": no}).one()
    assert abs(row.photo_gps_lon - 122.0051) < 1e-4 and abs(row.photo_gps_lat - 41.1052) < 1e-4
    assert url.endswith(row.photo_ref) and len(row.photo_ref) == 36  # a generated name, not "photo.jpg"
    on_disk = list(photo_dir.rglob(row.photo_ref))
    assert len(on_disk) == 1 and "photo.jpg" not in os.listdir(on_disk[0].parent)


def test_photo_gps_places_a_report_without_coordinates(api, key, intake_engine):
    r = post_photo(api, key, jpeg(gps=INSIDE), long=None, lat=None)
    assert r.status_code == 201, r.text
    assert r.json()[0]["grid_code"] == "211103001001001"
    no_gps = post_photo(api, key, jpeg(), long=None, lat=None)
    assert no_gps.status_code == 400 and no_gps.json()[0]["description"].startswith("lat")


def test_png_is_kept_as_png_and_large_photos_are_shrunk(api, key):
    no = post_photo(api, key, png(), name="p.png", ctype="image/png").json()[0]["service_request_id"]
    url, img, _ = fetch(api, no)
    assert url.endswith(".png") and img.size == (64, 48)
    big = post_photo(api, key, jpeg(4000, 3000, quality=70))
    assert big.status_code == 201
    _, img, _ = fetch(api, big.json()[0]["service_request_id"])
    assert max(img.size) <= 2048 and abs(img.size[0] / img.size[1] - 4 / 3) < 0.01


@pytest.mark.parametrize("data, name", [
    (b"%PDF-1.4 not a picture at all" * 100, "evil.jpg"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "x.png"),
    (jpeg()[:200], "truncated.jpg"),
])
def test_non_images_with_image_names_are_refused(api, key, data, name):
    r = post_photo(api, key, data, name=name)
    assert r.status_code == 400 and r.json()[0]["description"].startswith("media"), r.text


@pytest.mark.parametrize("mb", [4.5, 8])  # over the test service's 4 MB cap; 8 MB is refused before it is read
def test_oversized_upload_is_refused(api, key, mb):
    r = post_photo(api, key, os.urandom(int(mb * 1024 * 1024)))
    d = r.json()[0]["description"]
    # 4.5 MB: the photo's own check; 8 MB: the body's cap (the photo's and 1 MB), before it is read
    assert r.status_code == 400 and d.startswith("media" if mb < 5 else "request: 请求超过 5 MB（照片不得超过 4 MB）"), d
    assert "MB" in r.json()[0]["description"]


def test_media_names_cannot_walk_out_of_the_store(api):
    for ref in ("..%2F..%2Fetc%2Fpasswd", "0" * 32 + ".jpg", "abc.jpg"):
        assert api.get(f"/media/{ref}").status_code == 404
