"""The photo store (照片): checks, cleans and keeps report photos outside the web root.

``store(data)`` decodes the upload to learn its type (never trusting the name or the declared
type), refuses anything that is not a JPEG, PNG or WebP, too many bytes or too many pixels,
reads the EXIF GPS position as a location hint, applies the EXIF orientation, shrinks the image to
at most ``max_side`` pixels on its longest side and writes it again without any metadata under a
generated name (``<32 hex>.jpg`` / ``.png``) in ``root/<first two hex>/``. ``path(ref)`` finds
it again and refuses any other shape of name, so a reference can never walk out of the store.

Plain Python (Pillow), no web or UI imports: the intake API, the phone page and the dispatch
panel use the same checks and the same store.
"""
from __future__ import annotations

import io
import logging
import math
import os
import re
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger("intake")

ALLOWED = {"JPEG": "jpg", "PNG": "png", "WEBP": "jpg"}  # WebP is stored as JPEG
_REF = re.compile(r"^[0-9a-f]{32}\.(jpg|png)$")
_GPS_IFD = 0x8825


class PhotoError(ValueError):
    """A photo that cannot be taken; ``zh``/``en`` say why."""

    def __init__(self, zh: str, en: str):
        super().__init__(en)
        self.zh, self.en = zh, en

    def __reduce__(self):  # crosses the process pool intact
        return PhotoError, (self.zh, self.en)


@dataclass(frozen=True)
class StoredPhoto:
    ref: str
    width: int
    height: int
    gps: tuple[float, float] | None  # (lon, lat) WGS-84 from the EXIF, if any


def _rational(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return float(v[0]) / float(v[1])


def gps_of(img: Image.Image) -> tuple[float, float] | None:
    """(lon, lat) from the EXIF GPS block, or None when absent or unreadable."""
    try:
        gps = img.getexif().get_ifd(_GPS_IFD)
        if not gps or 2 not in gps or 4 not in gps:
            return None
        lat = sum(_rational(x) / 60 ** i for i, x in enumerate(gps[2]))
        lon = sum(_rational(x) / 60 ** i for i, x in enumerate(gps[4]))
        if str(gps.get(1, "N")).upper().startswith("S"):
            lat = -lat
        if str(gps.get(3, "E")).upper().startswith("W"):
            lon = -lon
        if -180 <= lon <= 180 and -90 <= lat <= 90 and (lon, lat) != (0.0, 0.0):
            return lon, lat
    except Exception:  # noqa: BLE001  (a malformed EXIF block, whatever it raises, is no reason to refuse)
        return None
    return None


class PhotoStore:
    def __init__(self, root: Path, *, max_bytes: int = 12 * 1024 * 1024, max_pixels: int = 50_000_000,
                 max_side: int = 2048):
        self.root, self.max_bytes, self.max_pixels, self.max_side = Path(root), max_bytes, max_pixels, max_side

    def check_size(self, n: int) -> None:
        if n > self.max_bytes:
            raise PhotoError(f"照片过大（{n / 1048576:.1f} MB），上限 {self.max_bytes / 1048576:.0f} MB",
                             f"the photo is too large ({n / 1048576:.1f} MB); the limit is "
                             f"{self.max_bytes / 1048576:.0f} MB")
        if n == 0:
            raise PhotoError("照片为空文件", "the photo is an empty file")

    def store(self, data: bytes) -> StoredPhoto:
        self.check_size(len(data))
        img = self._open(data)
        gps = gps_of(img)
        fmt = img.format
        try:
            if fmt == "JPEG":
                # Decode at a reduced DCT scale (1/2, 1/4, 1/8) when that still leaves at least 90 % of
                # max_side: a 12-megapixel photo then costs a quarter of the work.
                w, h = img.size
                f = 0.9 * self.max_side / max(w, h)
                if f < 0.5:
                    img.draft("RGB", (math.ceil(w * f), math.ceil(h * f)))
            img = ImageOps.exif_transpose(img)
            img.thumbnail((self.max_side, self.max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise PhotoError("照片无法解码（文件不完整或已损坏）", f"the photo cannot be decoded: {e}") from None
        keep_png = fmt == "PNG"
        ext = "png" if keep_png else "jpg"
        if keep_png:
            img = img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB")
        else:
            img = img.convert("RGB")
        out = io.BytesIO()
        # Saved without exif=, icc_profile= or pnginfo=: no metadata is carried over.
        img.save(out, "PNG" if keep_png else "JPEG", **({"optimize": False} if keep_png else {"quality": 85}))
        ref = f"{uuid.uuid4().hex}.{ext}"
        path = self.path(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(out.getvalue())
        os.replace(tmp, path)  # readers never see half a file
        return StoredPhoto(ref, img.width, img.height, gps)

    def _open(self, data: bytes) -> Image.Image:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                img = Image.open(io.BytesIO(data), formats=list(ALLOWED))
            except (Image.DecompressionBombWarning, Image.DecompressionBombError):
                # an image, but past Pillow's own pixel limit: said as such, not "not an image"
                raise PhotoError(f"照片像素过多（上限 {self.max_pixels / 1e6:.0f} 百万像素）",
                                 f"the photo has too many pixels (at most {self.max_pixels / 1e6:.0f} megapixels)") from None
            except (UnidentifiedImageError, OSError):
                raise PhotoError("上传的文件不是 JPEG、PNG 或 WebP 图片",
                                 "the upload is not a JPEG, PNG or WebP image") from None
        if img.width * img.height > self.max_pixels:
            raise PhotoError(f"照片像素过多（{img.width}×{img.height}）",
                             f"the photo has too many pixels ({img.width}×{img.height})")
        try:
            probe = Image.open(io.BytesIO(data), formats=list(ALLOWED))
            probe.verify()  # structure check; the real decode below catches truncated data
        except Exception:  # noqa: BLE001  (verify raises SyntaxError, struct.error, … on damaged files)
            raise PhotoError("照片文件已损坏", "the photo file is damaged") from None
        try:
            if img.format != "JPEG":  # a JPEG is decoded later, at a reduced scale (see store)
                img.load()
        except (OSError, ValueError):
            raise PhotoError("照片文件已损坏", "the photo file is damaged") from None
        return img

    def path(self, ref: str) -> Path:
        """Where photo ``ref`` is kept; ValueError for anything that is not a store name."""
        if not isinstance(ref, str) or not _REF.match(ref):
            raise ValueError(f"not a photo reference: {ref!r}")
        return self.root / ref[:2] / ref

    def discard(self, ref: str) -> None:
        """Remove photo ``ref`` (a photo stored for a report that was then refused or replayed)."""
        try:
            self.path(ref).unlink(missing_ok=True)
        except (ValueError, OSError):
            log.warning("could not remove photo %s", ref, exc_info=True)

    def exists(self, ref: str) -> bool:
        try:
            return self.path(ref).is_file()
        except ValueError:
            return False


# --- photo work in low-priority processes ---------------------------------------------------------
# Decoding and shrinking a 12-megapixel photo takes a few hundred milliseconds of CPU. Done in the
# request threads it competes with plain reports for the interpreter and the cores; done in a
# separate process at a lower scheduling priority (nice 10), the plain reports go first and the
# photos use what is left.

def _lower_priority() -> None:
    try:
        os.nice(10)
    except OSError:
        pass


def _store_in_process(root: str, max_bytes: int, max_pixels: int, max_side: int, data: bytes) -> StoredPhoto:
    return PhotoStore(Path(root), max_bytes=max_bytes, max_pixels=max_pixels, max_side=max_side).store(data)


def photo_pool(processes: int):
    """A process pool for ``store_via``; None (work in the calling thread) when ``processes`` is 0."""
    if processes <= 0:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"), initializer=_lower_priority)


def store_via(pool, store: PhotoStore, data: bytes) -> StoredPhoto:
    """``store.store(data)``, in ``pool`` when there is one."""
    if pool is None:
        return store.store(data)
    store.check_size(len(data))
    return pool.submit(_store_in_process, str(store.root), store.max_bytes, store.max_pixels, store.max_side,
                       data).result()
