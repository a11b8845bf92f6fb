"""Grid files (网格图层): import and export of unit grids for planners' GIS tools.

``import_grids`` reads GeoJSON, GeoPackage or (zipped) Shapefile (pyogrio) and nothing else
(``check_grid_file``: a local regular file whose name and first bytes agree; a zip is checked
member by member, and its unpacked size, before it is unpacked), converts to WGS-84,
checks every feature and lists every problem with the feature it concerns; only a clean file is
written, in one savepoint of the caller's transaction, so nothing is ever half-imported. Missing
areas are created from the file's parent columns and responsibility grids from
``responsibility_code``. An existing grid whose boundary changed (beyond the conversion's
precision) is redrawn by closing its current boundary version and adding a new one (history is
never overwritten); an unchanged one keeps its version; then open cases are re-assigned with the
database's rule.

``export_grids`` writes the current unit grids as a WGS-84 GeoJSON FeatureCollection with their
codes, names, version and parent areas; it reads back through ``import_grids`` unchanged.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.config import STORAGE_SRID
from gis import codes
from gis.crs import BD09, GCJ02, STORAGE_CRS, WGS84, CoordinateError, canonical, from_wgs84, to_wgs84_many
from gis.text import Msg, in_lang

CODE_COLUMNS = ("code", "grid_code", "网格编码", "编码")
NAME_COLUMNS = ("name", "grid_name", "网格名称", "名称")
# The parent areas and the responsibility grid, as export-grids writes them (and common Chinese
# headers; each fits a Shapefile's 10-byte field names in GBK).
PARENT_COLUMNS = {
    "district_code": ("district_code", "区县编码"), "district_name": ("district_name", "区县名称"),
    "subdistrict_code": ("subdistrict_code", "街道编码"), "subdistrict_name": ("subdistrict_name", "街道名称"),
    "community_code": ("community_code", "社区编码"), "community_name": ("community_name", "社区名称"),
    "community_kind": ("community_kind",),
    "responsibility_code": ("responsibility_code", "责任网格编码", "责任网格"),
    "responsibility_name": ("responsibility_name", "责任网格名称"),
}
# Overlaps smaller than this are always noise; above it, the tolerance grows with the length of
# boundary involved times the precision of the conversion (see ``precision_m``).
OVERLAP_TOLERANCE_M2 = 1.0
# A GCJ-02 (or BD-09) file read as WGS-84 moves every grid by the obfuscation's own offset at that
# place; a redraw whose every grid moved by that offset to within this is refused.
DATUM_SHIFT_MATCH_M = 5.0
DATUM_SHIFT_SHARE = 0.8   # this share of a file's grids one offset away: the file's datum, not a redraw


def precision_m(source: str | None) -> float:
    """How far (metres) a vertex may move through reading and converting a file of ``source``.

    Coordinates read as they are (WGS-84) are exact but for the text form of a double; a
    conversion (pyproj, or the iterated GCJ-02/BD-09 inverse, both far below 1 mm) is allowed
    2 mm. Gaps and overlaps narrower than this along a boundary are noise, and a redrawn grid
    whose every vertex is within it of the current one is unchanged.
    """
    return 0.001 if source in (None, WGS84) else 0.002


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a grid file; ``feature`` is 1-based, 0 for the file as a whole."""
    feature: int
    code: str | None
    message: str  # English; a ``gis.text.Msg`` carries its Chinese twin

    def __str__(self) -> str:
        where = "file" if self.feature == 0 else f"feature {self.feature}" + (f" ({self.code})" if self.code else "")
        return f"{where}: {self.message}"

    def text(self, lang: str | None = "zh") -> str:
        """The problem in ``lang`` ('en' as ``str``; else 简体中文)."""
        if lang == "en":
            return str(self)
        where = "文件" if self.feature == 0 else f"第 {self.feature} 个要素" + (f"（{self.code}）" if self.code else "")
        return f"{where}：{in_lang(self.message, lang)}"


class GridImportError(ValueError):
    """A grid file that cannot be imported; ``problems`` lists everything found."""

    def __init__(self, path: str | Path, problems: list[Problem]):
        self.path, self.problems = str(path), problems
        if len(problems) == 1 and problems[0].feature == 0:  # the file as a whole: one line
            super().__init__(f"{path}: {problems[0].message}; nothing was imported")
            return
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s), nothing was imported:\n{lines}")


@dataclass
class GridFeature:
    feature: int
    code: str | None  # None for the further parts of a split multi-part feature, until numbered
    name: str
    geom: shapely.Polygon
    attrs: dict[str, str] = field(default_factory=dict)  # parent areas, responsibility grid
    part: int = 1  # 1, or the part number (largest first) of a split multi-part feature


@dataclass
class ImportResult:
    features: int = 0
    created: int = 0
    redrawn: int = 0
    renamed: int = 0
    unchanged: int = 0
    cases_moved: int = 0
    change_id: int | None = None
    areas_created: list[str] = field(default_factory=list)  # "community 211103001001 科技社区", ...
    responsibility_created: int = 0
    responsibility_linked: int = 0
    split: list[str] = field(default_factory=list)  # "feature 3 (code): parts → code, code2, code3"
    warnings: list[str] = field(default_factory=list)

    @property
    def nothing_changed(self) -> bool:
        """Every grid of the file already as it is: no version, name, area, link or case to write."""
        return not (self.created or self.redrawn or self.renamed or self.cases_moved or self.areas_created
                    or self.responsibility_created or self.responsibility_linked or self.split)


# --- reading and checking a file --------------------------------------------------------------

def read_grid_file(path: str | Path, *, crs: str | None = None, layer: str | None = None,
                   encoding: str | None = None) -> list[GridFeature]:
    """The features of a grid file in WGS-84, checked on their own (not against the database).

    Raises GridImportError listing every problem found.
    """
    features, problems, _, _ = _read(path, crs, layer, encoding)
    if problems:
        raise GridImportError(path, problems)
    return features


MAX_FEATURES = 100_000  # a district has about a thousand unit grids; a city a few tens of thousands


def max_file_bytes() -> int:
    """The largest grid file accepted (default 200 MiB; ``GRIDGOV_MAX_GRID_FILE_MB``)."""
    import os

    return int(float(os.environ.get("GRIDGOV_MAX_GRID_FILE_MB", "200")) * 2**20)


# --- what may be read at all --------------------------------------------------------------------
# GDAL opens a hundred formats, some of which read other files or the network when opened (VRT,
# CSV with open options, /vsicurl/, WFS, PostgreSQL connection strings...). import-grids takes
# only three, recognised by their first bytes as well as their names, before GDAL sees the file.

ALLOWED_DRIVERS = ("GeoJSON", "GPKG", "ESRI Shapefile")
MAX_NAME_CHARS = 100  # grid, community, subdistrict, district and responsibility grid names
MAX_CODE_CHARS = 32  # area and responsibility codes (a grid code has 15 digits)
MAX_ZIP_MEMBERS = 200
# The parts of a Shapefile a zip may hold (a ``.xml`` is its metadata); anything else is refused.
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".xml")
_KINDS = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".zip": "zip", ".shp": "shp"}
_KIND_NAMES = {"geojson": "GeoJSON", "gpkg": "GeoPackage", "zip": "zip", "shp": "Shapefile"}


NO_FEATURES = Msg("the file has no features", "文件里没有要素")


class GridFileRefused(ValueError):
    """A path that is not a local GeoJSON, GeoPackage or (zipped) Shapefile; one line saying why
    (``args[0]``, a ``Msg``: ``gis.text.in_lang(e, lang)`` gives it in either language)."""


def check_grid_file(path: str | Path) -> tuple[str, Path]:
    """The kind (``geojson``, ``gpkg``, ``zip``, ``shp``) and the absolute local path of a grid
    file, once its name, place, size and first bytes agree; GridFileRefused otherwise."""
    raw = str(path)
    if raw.startswith("/vsi") or "://" in raw or (":" in raw.split("/")[0] and not Path(raw).exists()):
        raise GridFileRefused(Msg("remote files, GDAL virtual paths (/vsi…) and connection strings are not "
                                  "accepted: download the file and give its local path",
                                  "不接受远程文件、GDAL 虚拟路径（/vsi…）和连接字符串：请先下载文件，再给出本地路径"))
    p = Path(raw).expanduser()
    if not p.exists():
        raise GridFileRefused(Msg("no such file: check the path", "文件不存在：请检查路径"))
    p = p.resolve()  # absolute: GDAL never reads a prefix such as "PG:" or "CSV:" in it
    if p.is_dir():
        raise GridFileRefused(Msg("is a folder: give the .geojson, .gpkg or .zip file itself",
                                  "这是一个文件夹：请给出 .geojson、.gpkg 或 .zip 文件本身"))
    if not p.is_file():
        raise GridFileRefused(Msg("is not a regular file (a device or a pipe): give a .geojson, .gpkg or .zip file",
                                  "不是普通文件（设备或管道）：请给出 .geojson、.gpkg 或 .zip 文件"))
    if str(p).startswith("/vsi"):
        raise GridFileRefused(Msg("GDAL virtual paths (/vsi…) are not accepted", "不接受 GDAL 虚拟路径（/vsi…）"))
    kind = _KINDS.get(p.suffix.lower())
    if kind is None:
        raise GridFileRefused(Msg(f"{p.suffix or 'a file without an extension'} is not accepted: give GeoJSON "
                                  "(.geojson), GeoPackage (.gpkg) or a zipped Shapefile (.zip)",
                                  f"不接受{p.suffix or '没有扩展名的文件'}：请给出 GeoJSON（.geojson）、"
                                  "GeoPackage（.gpkg）或压缩的 Shapefile（.zip）"))
    size = p.stat().st_size
    if kind == "shp":
        size += sum(p.with_suffix(ext).stat().st_size for ext in (".dbf", ".shx") if p.with_suffix(ext).exists())
    if size > max_file_bytes():
        raise GridFileRefused(_too_big(size))
    if size == 0:
        raise GridFileRefused(Msg("the file is empty (0 bytes)", "文件是空的（0 字节）"))
    with p.open("rb") as f:
        head = f.read(100)
    found = _sniff(head)
    if found != kind:
        what = _KIND_NAMES.get(found or "", "something else (e.g. CSV, VRT or XML)")
        what_zh = _KIND_NAMES.get(found or "", "别的格式（如 CSV、VRT 或 XML）")
        raise GridFileRefused(Msg(f"cannot be read as {_KIND_NAMES[kind]}: its content is {what}; only GeoJSON, "
                                  "GeoPackage and zipped Shapefile are accepted",
                                  f"不能按 {_KIND_NAMES[kind]} 读取：其内容是 {what_zh}；只接受 GeoJSON、"
                                  "GeoPackage 和压缩的 Shapefile"))
    return kind, p


def _too_big(size: int) -> Msg:
    cap = max_file_bytes() / 2**20
    return Msg(f"the file is {size / 2**20:.1f} MiB, more than the {cap:.0f} MiB a grid layer "
               "may be (set GRIDGOV_MAX_GRID_FILE_MB to allow more)",
               f"文件有 {size / 2**20:.1f} MiB，超过网格图层的上限 {cap:.0f} MiB（可用 GRIDGOV_MAX_GRID_FILE_MB 调大）")


def _sniff(head: bytes) -> str | None:
    """The kind a file's first bytes show: a JSON object, an SQLite GeoPackage, a zip, a .shp."""
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg" if head[68:72] in (b"GPKG", b"GP10", b"GP11") else None
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:4] == b"\x00\x00\x27\x0a":  # the Shapefile main header's file code, 9994
        return "shp"
    text_head = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text_head.startswith(b"{"):
        return "geojson"
    return None


def _extract_shapefile_zip(path: Path, into: Path) -> Path:
    """Unpack the Shapefile of a zip into ``into`` after checking every member: only Shapefile
    parts, no ``..`` or absolute names, and at most the size limit once uncompressed (summed
    from the zip's directory before anything is written, and counted again while writing, in
    case the directory lies). The .shp to read, or the folder when it holds several."""
    import zipfile
    from pathlib import PurePosixPath

    limit = max_file_bytes()
    try:
        z = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise GridFileRefused(Msg(f"cannot be read as a zip: {e}", f"不能按 zip 读取：{e}")) from None
    with z:
        members = [m for m in z.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
        if len(members) > MAX_ZIP_MEMBERS:
            raise GridFileRefused(Msg(f"the zip holds {len(members):,} files; a zipped Shapefile holds a few",
                                      f"zip 里有 {len(members):,} 个文件；压缩的 Shapefile 只有几个"))
        total = 0
        for m in members:
            name = m.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise GridFileRefused(Msg(f"the zip member {name[:80]!r} has an absolute path or '..': refused",
                                          f"zip 成员 {name[:80]!r} 带绝对路径或 '..'：拒绝"))
            if PurePosixPath(name).suffix.lower() not in SHAPEFILE_PARTS:
                raise GridFileRefused(Msg(f"the zip member {name[:80]!r} is not part of a Shapefile (only "
                                          f"{', '.join(SHAPEFILE_PARTS)}): a zip must hold a Shapefile and nothing "
                                          "else", f"zip 成员 {name[:80]!r} 不属于 Shapefile（只能是 "
                                          f"{'、'.join(SHAPEFILE_PARTS)}）：zip 里只能有一个 Shapefile"))
            total += m.file_size
        if total > limit:
            raise GridFileRefused(Msg(f"the zip unpacks to {total / 2**20:.1f} MiB, more than the "
                                      f"{limit / 2**20:.0f} MiB a grid layer may be (set GRIDGOV_MAX_GRID_FILE_MB "
                                      "to allow more)", f"zip 解压后有 {total / 2**20:.1f} MiB，超过网格图层的上限 "
                                      f"{limit / 2**20:.0f} MiB（可用 GRIDGOV_MAX_GRID_FILE_MB 调大）"))
        shps = [m for m in members if m.filename.lower().endswith(".shp")]
        if not shps:
            raise GridFileRefused(Msg("the zip holds no .shp file: zip the Shapefile's .shp, .shx, .dbf and .prj",
                                      "zip 里没有 .shp 文件：请把 Shapefile 的 .shp、.shx、.dbf 和 .prj 一起压缩"))
        written = 0
        for m in members:
            target = into.joinpath(*PurePosixPath(m.filename.replace("\\", "/")).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(m) as src, target.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > limit:
                        raise GridFileRefused(Msg(f"the zip unpacks to more than the {limit / 2**20:.0f} MiB a "
                                                  "grid layer may be (its directory understates the sizes)",
                                                  f"zip 解压后超过网格图层的上限 {limit / 2**20:.0f} MiB"
                                                  "（其目录少报了大小）"))
                    dst.write(chunk)
    folders = {into.joinpath(*PurePosixPath(m.filename.replace("\\", "/")).parts).parent for m in shps}
    if len(folders) > 1:
        raise GridFileRefused(Msg("the zip holds Shapefiles in several folders: zip one folder's Shapefile",
                                  "zip 里的 Shapefile 分在几个文件夹：请只压缩一个文件夹的 Shapefile"))
    for m in shps:
        with into.joinpath(*PurePosixPath(m.filename.replace("\\", "/")).parts).open("rb") as f:
            if _sniff(f.read(100)) != "shp":
                raise GridFileRefused(Msg(f"the zip member {m.filename[:80]!r} is not a Shapefile",
                                          f"zip 成员 {m.filename[:80]!r} 不是 Shapefile"))
    if len(shps) == 1:
        return into.joinpath(*PurePosixPath(shps[0].filename.replace("\\", "/")).parts)
    return folders.pop()


def _read(path: str | Path, crs: str | None, layer: str | None, encoding: str | None = None,
          split_multipart: bool = False) -> tuple[list[GridFeature], list[Problem], set[str], str | None]:
    """The good features of a file, every problem of the others (a file-level problem, with
    feature 0, means no feature could be read), every well-formed code in the file, and the
    system the file was read in."""
    import tempfile

    try:
        kind, local = check_grid_file(path)
    except GridFileRefused as e:
        return [], [Problem(0, None, e.args[0])], set(), None
    if kind != "zip":
        return _read_checked(local, path, crs, layer, encoding, split_multipart)
    with tempfile.TemporaryDirectory(prefix="gridgov-import-") as tmp:
        try:
            inner = _extract_shapefile_zip(local, Path(tmp))
        except GridFileRefused as e:
            return [], [Problem(0, None, e.args[0])], set(), None
        return _read_checked(inner, path, crs, layer, encoding, split_multipart)


def _read_checked(path: Path, shown: str | Path, crs: str | None, layer: str | None, encoding: str | None,
                  split_multipart: bool) -> tuple[list[GridFeature], list[Problem], set[str], str | None]:
    """``_read`` of a local file (or a folder of Shapefiles unpacked from a zip) that passed the
    entry checks; ``shown`` is the name the user gave."""
    import pyogrio

    if encoding:
        import codecs

        try:  # GDAL quietly reads an encoding it does not know as bytes: check the name first
            codecs.lookup(encoding)
        except LookupError as e:
            return [], [Problem(0, None, _decode_message(path, encoding, e))], set(), None
    try:
        layers = pyogrio.list_layers(path)
        info = pyogrio.read_info(path, layer=layer if layer is not None else 0, encoding=encoding) \
            if len(layers) else {}
        if info and info.get("features", 0) > MAX_FEATURES:
            return [], [Problem(0, None, Msg(f"the layer has {info['features']:,} features, more than the "
                                             f"{MAX_FEATURES:,} unit grids one import may hold",
                                             f"图层有 {info['features']:,} 个要素，超过一次导入最多的 "
                                             f"{MAX_FEATURES:,} 个单元网格"))], set(), None
        if layer is None and len(layers) > 1:
            names = ", ".join(str(n) for n in layers[:, 0])
            names_zh = "、".join(f"「{n}」" for n in layers[:, 0])
            return [], [Problem(0, None, Msg(f"the file has {len(layers)} layers ({names}); choose one with --layer",
                                             f"文件有 {len(layers)} 个图层（{names_zh}）：请选其中一个"))], \
                set(), None
        if info and info.get("driver") not in ALLOWED_DRIVERS:
            return [], [Problem(0, None, Msg(f"GDAL read it as {info.get('driver')}, not as GeoJSON, GeoPackage "
                                             "or Shapefile; only those are accepted",
                                             f"GDAL 把它读成 {info.get('driver')}，不是 GeoJSON、GeoPackage 或 "
                                             "Shapefile；只接受这三种"))], set(), None
        df = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except (UnicodeDecodeError, LookupError) as e:
        return [], [Problem(0, None, _decode_message(path, encoding, e))], set(), None
    except Exception as e:  # pyogrio raises several DataSource/Field errors
        return [], [Problem(0, None, Msg(f"cannot be read as GeoJSON, GeoPackage or Shapefile: {e}",
                                         f"不能按 GeoJSON、GeoPackage 或 Shapefile 读取：{e}"))], set(), None

    problems: list[Problem] = []
    driver = (info or {}).get("driver", "")
    if len(df) == 0:
        return [], [Problem(0, None, NO_FEATURES)], set(), None
    cols = {str(c).strip().lower(): c for c in df.columns if c != "geometry"}
    code_col = next((cols[c] for c in CODE_COLUMNS if c in cols), None)
    name_col = next((cols[c] for c in NAME_COLUMNS if c in cols), None)
    if code_col is None or name_col is None:
        missing = [(w, c) for w, c, col in (("code", CODE_COLUMNS, code_col), ("name", NAME_COLUMNS, name_col))
                   if col is None]
        what = " and ".join(f"no grid {w} attribute (one of {', '.join(c)})" for w, c in missing)
        what_zh = "；".join(f"没有网格{'编码' if w == 'code' else '名称'}字段（{'、'.join(c)} 之一）" for w, c in missing)
        cols_found = [str(c) for c in df.columns if c != "geometry"]
        found, found_zh = ", ".join(cols_found) or "none", "、".join(cols_found) or "无"
        hint = hint_zh = ""
        if driver == "ESRI Shapefile":
            read_as = encoding or info.get("encoding") or "UTF-8"
            hint = (f"; the Shapefile's text was read as {read_as}"
                    + (" (--encoding)" if encoding else "") + ": if the names above look garbled (a Shapefile "
                    "without a .cpg file is read as ISO-8859-1), say the file's encoding with --encoding (e.g. GBK)")
            hint_zh = (f"；Shapefile 的文字按 {read_as} 读取：如果上面的字段名是乱码（没有 .cpg 文件的 Shapefile "
                       "按 ISO-8859-1 读取），请指明文件的编码（如 GBK）")
        problems.append(Problem(0, None, Msg(f"{what}; the file's attributes are: {found}{hint}",
                                             f"{what_zh}；文件的字段有：{found_zh}{hint_zh}")))
    attr_cols = {key: next((cols[c] for c in names if c in cols), None) for key, names in PARENT_COLUMNS.items()}
    source = _source_crs(df.crs, crs, problems, geojson=driver == "GeoJSON" or Path(shown).suffix.lower()
                         in (".geojson", ".json"))
    if problems:
        return [], problems, set(), None

    out: list[GridFeature] = []
    first_use: dict[str, int] = {}
    geoms = list(df.geometry)
    wgs = _to_wgs84(geoms, source, problems)
    attrs = [{key: _text(df[col].iloc[i]) for key, col in attr_cols.items() if col is not None}
             for i in range(len(df))]
    for k, (raw_code, raw_name, original, converted) in enumerate(
            zip(df[code_col], df[name_col], geoms, wgs), start=1):
        code, msg = _code(raw_code)
        if msg:
            problems.append(Problem(k, code, msg))
        elif code in first_use:
            problems.append(Problem(k, code, Msg(f"duplicate grid code: also used by feature {first_use[code]}",
                                                 f"网格编码重复：第 {first_use[code]} 个要素也用了它")))
        else:
            first_use[code] = k
        name = _text(raw_name)
        if not name:
            problems.append(Problem(k, code, Msg("missing grid name", "缺少网格名称")))
        elif len(name) > MAX_NAME_CHARS:
            problems.append(Problem(k, code, Msg(f"the grid name is {len(name):,} characters long, more than the "
                                                 f"{MAX_NAME_CHARS} a name may have",
                                                 f"网格名称有 {len(name):,} 个字符，超过名称上限 {MAX_NAME_CHARS}")))
            name = ""
        for key, value in attrs[k - 1].items():
            limit = MAX_CODE_CHARS if key.endswith("_code") else MAX_NAME_CHARS
            if len(value) > limit:
                is_code = limit == MAX_CODE_CHARS
                problems.append(Problem(k, code, Msg(f"{key} is {len(value):,} characters long, more than the "
                                                     f"{limit} a {'code' if is_code else 'name'} may have",
                                                     f"字段「{key}」有 {len(value):,} 个字符，超过{'编码' if is_code else '名称'}"
                                                     f"上限 {limit}")))
                name = ""
        parts, gmsg = _polygons(original, converted, split_multipart)
        if gmsg:
            problems.append(Problem(k, code, gmsg))
        if not msg and name and parts:
            a = attrs[k - 1]
            for n, part in enumerate(parts, start=1):
                out.append(GridFeature(k, code if n == 1 else None, name if n == 1 else f"{name}-{n}", part, a, n))
    problems += _overlaps_within(out)
    return out, problems, set(first_use), source


def _text(raw) -> str:
    return "" if raw is None or (isinstance(raw, float) and math.isnan(raw)) else str(raw).strip()


def _decode_message(path, encoding: str | None, e: Exception) -> Msg:
    """A Shapefile cuts field names at 10 bytes: in UTF-8 a Chinese character is 3 bytes, so
    "网格编码" (12 bytes) ends in a broken character that no decoder accepts."""
    if isinstance(e, LookupError):
        return Msg(f"unknown text encoding {encoding!r} (--encoding): use e.g. GBK, GB18030 or UTF-8",
                   f"未知的文字编码 {encoding!r}：请用 GBK、GB18030 或 UTF-8 等")
    byte = e.object[e.start:e.start + 1]
    return Msg(f"the attribute names or values cannot be read as {encoding or 'the encoding the file declares'} "
               f"(the byte {byte!r} at position {e.start} of {e.object!r} is not valid). "
               "A Shapefile cuts field names at 10 bytes, which splits a Chinese name written in UTF-8 "
               "(3 bytes a character) in the middle of a character: rename the fields in your GIS tool to "
               "code and name (or names of at most 3 Chinese characters), or, if the file is in another "
               "encoding, say which with --encoding (e.g. GBK)",
               f"字段名或字段值不能按{encoding or '文件声明的编码'}读取（{e.object!r} 第 {e.start} 位的字节 "
               f"{byte!r} 无效）。Shapefile 的字段名最多 10 个字节，按 UTF-8 写的中文名（每字 3 字节）会在字的中间"
               "被截断：请在 GIS 软件里把字段改名为 code 和 name（或不超过 3 个汉字的名称）；如果文件是别的编码，"
               "请指明（如 GBK）")


def _source_crs(file_crs, given: str | None, problems: list[Problem], *, geojson: bool = False) -> str | None:
    """The system the coordinates are in: --crs if given, else the file's own."""
    if geojson and not given:
        # RFC 7946 says WGS-84, but Chinese web maps export GCJ-02 or BD-09 into the same format
        # with nothing to tell them apart: read as WGS-84, every grid would move by up to 500 m.
        problems.append(Problem(0, None, Msg(
            "a GeoJSON file does not say which datum its coordinates are in: state it with --crs (WGS84 for "
            "GPS surveys and export-grids files, GCJ02 for AMap/Tencent, BD09 for Baidu, or EPSG:<code>)",
            "GeoJSON 文件不说明坐标所用的基准：请指明坐标系（GPS 测量和本系统导出的文件用 WGS84，高德/腾讯用 "
            "GCJ02，百度用 BD09，或 EPSG:<编号>）")))
        return None
    file_name = None
    if file_crs is not None:
        epsg = file_crs.to_epsg()
        file_name = f"EPSG:{epsg}" if epsg else file_crs.to_wkt()
    if given:
        try:
            given_c = canonical(given)
        except CoordinateError as e:
            problems.append(Problem(0, None, e.args[0]))
            return None
        # GeoJSON always reads as WGS-84 (STORAGE_CRS), so --crs may say what it really is (e.g. GCJ02);
        # a file that declares some other system and a --crs that disagrees is a conflict.
        if file_name and file_name != STORAGE_CRS and _canonical_or_none(file_name) != given_c:
            problems.append(Problem(0, None, Msg(f"the file says its coordinates are in {file_name} but --crs says "
                                                 f"{given}", f"文件说它的坐标是 {file_name}，但指定的坐标系是 {given}")))
            return None
        return given_c
    if file_crs is None:
        problems.append(Problem(0, None, Msg("the file has no coordinate system (e.g. a Shapefile without .prj); "
                                             "say which with --crs (WGS84, GCJ02, BD09 or EPSG:<code>)",
                                             "文件没有坐标系（如没有 .prj 的 Shapefile）：请指明坐标系"
                                             "（WGS84、GCJ02、BD09 或 EPSG:<编号>）")))
        return None
    if file_name.startswith("EPSG:"):
        return canonical(file_name)
    return file_crs.to_wkt()


def _canonical_or_none(name: str) -> str | None:
    try:
        return canonical(name)
    except CoordinateError:
        return None


def _to_wgs84(geoms: list, source: str, problems: list[Problem]) -> list:
    """Each geometry converted to WGS-84 (None where it cannot be, with a problem noted)."""
    out = []
    for k, g in enumerate(geoms, start=1):
        if g is None or g.is_empty:
            out.append(None)
            continue
        g = shapely.force_2d(g)
        try:
            out.append(_convert(g, source))
        except CoordinateError as e:
            problems.append(Problem(k, None, Msg(f"cannot be converted to WGS-84: {e}",
                                                 f"不能换算成 WGS-84：{in_lang(e, 'zh')}")))
            out.append(None)
    return out


def _convert(g, source: str):
    if source == WGS84:
        xs, ys = shapely.get_coordinates(g).T
        to_wgs84_many(xs[:1], ys[:1], WGS84)  # range and swapped-order check on one vertex
        bad = (np.abs(xs) > 180) | (np.abs(ys) > 90)
        if bad.any():
            raise CoordinateError(Msg(f"vertex ({xs[bad][0]}, {ys[bad][0]}) is out of range for WGS84",
                                      f"顶点（{xs[bad][0]}, {ys[bad][0]}）超出 WGS84 的范围"))
        return g
    if source in (GCJ02, BD09) or source.startswith("EPSG:"):
        return shapely.transform(g, lambda c: np.column_stack(to_wgs84_many(c[:, 0], c[:, 1], source)))
    from pyproj import Transformer

    tr = Transformer.from_crs(source, STORAGE_CRS, always_xy=True)
    return shapely.transform(g, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))


def _code(raw) -> tuple[str | None, str | None]:
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None, Msg("missing grid code", "缺少网格编码")
    if isinstance(raw, (int, np.integer)) or (isinstance(raw, float) and raw.is_integer()):
        raw = str(int(raw))
    code = str(raw).strip()
    if len(code) > MAX_CODE_CHARS:
        return f"{code[:16]}…", Msg(f"the grid code is {len(code):,} characters long; a grid code has 15 digits",
                                    f"网格编码有 {len(code):,} 个字符；网格编码是 15 位数字")
    try:
        codes.parse(code)
    except ValueError as e:
        return code, e.args[0]
    return code, None


def _polygons(original, geom, split_multipart: bool) -> tuple[list[shapely.Polygon], str | None]:
    """The polygon(s) a feature becomes: one, or with ``split_multipart`` one per part, largest first."""
    if original is None or original.is_empty:
        return [], Msg("no geometry", "没有几何图形")
    kind = original.geom_type
    if kind == "MultiPolygon":
        if len(original.geoms) != 1 and not split_multipart:
            return [], Msg(f"a MultiPolygon of {len(original.geoms)} parts: a unit grid is one polygon "
                           "(--split-multipart makes each further part a grid of its own, with the next free codes "
                           "of its community)", f"是由 {len(original.geoms)} 块组成的多面（MultiPolygon）：单元网格只能是"
                           "一个多边形（拆分多面可把其余每块各作一个网格，用其社区的下一个空闲编码）")
        kind = "Polygon"
    if kind != "Polygon":
        return [], Msg(f"a {original.geom_type}, not a polygon", f"是 {original.geom_type}，不是多边形")
    if geom is None:
        return [], None  # the conversion problem is already listed
    if not geom.is_valid:
        why = shapely.is_valid_reason(geom)
        return [], Msg(f"invalid geometry: {why}", f"几何图形无效：{why}")
    parts = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
    return sorted(parts, key=lambda p: -p.area), None


def _m2_per_deg2(lat: float) -> float:
    return 111320.0 * math.cos(math.radians(lat)) * 110574.0


def _overlaps_within(features: list[GridFeature]) -> list[Problem]:
    """Pairs of features of the file whose interiors overlap (beyond floating-point noise)."""
    if len(features) < 2:
        return []
    geoms = [f.geom for f in features]
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    out = []
    for i, j in zip(a.tolist(), b.tolist()):
        if i < j and shapely.relate_pattern(geoms[i], geoms[j], "2********"):
            area = shapely.intersection(geoms[i], geoms[j]).area * _m2_per_deg2(geoms[i].centroid.y)
            if area > OVERLAP_TOLERANCE_M2:
                fi, fj = features[i], features[j]
                out.append(Problem(fj.feature, fj.code,
                                   Msg(f"overlaps feature {fi.feature} ({fi.code}) by {area:.2f} m²",
                                       f"与第 {fi.feature} 个要素（{fi.code}）重叠 {area:.2f} m²")))
    return out


# --- importing --------------------------------------------------------------------------------

def import_grids(conn: Connection, path: str | Path, *, crs: str | None = None, layer: str | None = None,
                 encoding: str | None = None, split_multipart: bool = False,
                 actor_id: int | None = None) -> ImportResult:
    """Import a grid file in the caller's transaction; all or nothing.

    Missing districts, subdistricts and communities are created from the file's parent columns
    (``district_code``/``district_name`` … ``community_name``, as export-grids writes them; their
    outlines are the unions of their grids), and ``responsibility_code`` links each grid to its
    responsibility grid (created if missing). ``split_multipart`` makes each further part of a
    multi-part feature a grid of its own with the next free code of its community.

    Raises GridImportError (nothing written) listing every problem, each with its feature.
    """
    features, problems, file_codes, source = _read(path, crs, layer, encoding, split_multipart)
    if not features and not problems:
        problems = [Problem(0, None, NO_FEATURES)]
    if any(p.feature == 0 for p in problems) or not features:
        raise GridImportError(path, problems)
    # A savepoint: areas are created before the checks against the database, and a refused file
    # must leave nothing behind even in a caller's longer transaction.
    savepoint = conn.begin_nested()
    try:
        result = ImportResult(features=len({f.feature for f in features}))
        problems += _number_split_parts(conn, features, result)
        features = [f for f in features if f.code is not None]  # a part left unnumbered is a problem above
        problems += _create_areas(conn, features, result)
        _load_temp_table(conn, features)
        problems += _problems_against_database(conn, file_codes, precision_m(source))
        if problems:
            raise GridImportError(path, sorted(problems, key=lambda p: (p.feature, p.message)))
        _write(conn, Path(path).name, actor_id, precision_m(source), result)
        conn.execute(text("DROP TABLE _grid_import"))
        if result.nothing_changed:
            # every grid as it is: no boundary change is recorded (an empty one listed in the history
            # would count as a conflicting change for every open draft over these communities)
            savepoint.rollback()
            result.change_id = None
            return result
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return result


def _number_split_parts(conn: Connection, features: list[GridFeature], result: ImportResult) -> list[Problem]:
    """Give the further parts of split features the next free codes of their communities.

    A code once used is never reused, so "free" is above every code of the community in the
    database (retired grids included) and in the file.
    """
    extra = [f for f in features if f.code is None]
    if not extra:
        return []
    first = {f.feature: f.code for f in features if f.part == 1}
    comms = sorted({codes.parent(first[f.feature], "community") for f in extra})
    used = {r[0]: int(r[1]) for r in conn.execute(text(
        "SELECT left(code, :w), max(right(code, :g)::int) FROM unit_grid WHERE left(code, :w) = ANY(:c) GROUP BY 1"),
        {"w": codes.width("community"), "g": dict(codes.LAYOUT)["grid"], "c": comms})}
    for f in features:
        if f.code is not None:
            c = codes.parent(f.code, "community")
            used[c] = max(used.get(c, 0), int(f.code[codes.width("community"):]))
    problems, listed = [], {}
    for f in extra:
        c = codes.parent(first[f.feature], "community")
        used[c] = used.get(c, 0) + 1
        try:
            f.code = codes.compose(c, used[c], "grid")
        except ValueError as e:
            problems.append(Problem(f.feature, first[f.feature], f"cannot split: {e}"))
            continue
        listed.setdefault(f.feature, [first[f.feature]]).append(f.code)
    result.split = [f"feature {k}: {len(v)} parts → {', '.join(v)} (the largest keeps {v[0]})"
                    for k, v in sorted(listed.items())]
    return problems


_LEVEL_TABLE = {"district": ("district", None), "subdistrict": ("subdistrict", "district"),
                "community": ("community", "subdistrict")}


def _create_areas(conn: Connection, features: list[GridFeature], result: ImportResult) -> list[Problem]:
    """Create the district, subdistricts and communities the file names but the database lacks.

    Each level's code is the grid code's prefix; a parent code column that disagrees with it is
    a problem of that feature. A new area needs its name in the file; an existing one keeps its
    name (a different name in the file is a warning, not a rename).
    """
    problems: list[Problem] = []
    wanted: dict[tuple[str, str], tuple[str, int, str]] = {}  # (level, code) -> (name, feature, kind)
    for f in features:
        for level in ("district", "subdistrict", "community"):
            code = codes.parent(f.code, level)
            given = f.attrs.get(f"{level}_code", "")
            if given and given != code:
                problems.append(Problem(f.feature, f.code, f"{level}_code {given} is not the code's prefix {code}"))
                continue
            name = f.attrs.get(f"{level}_name", "")
            kind = f.attrs.get("community_kind", "") if level == "community" else ""
            seen = wanted.get((level, code))
            if seen and name and seen[0] and seen[0] != name:
                problems.append(Problem(f.feature, f.code, f"{level} {code} is named {name!r} here but "
                                                           f"{seen[0]!r} by feature {seen[1]}"))
            elif not seen or (name and not seen[0]):
                wanted[(level, code)] = (name, f.feature, kind)
    if problems:
        return problems
    code_of = {f.feature: f.code for f in features if f.part == 1}
    for level in ("district", "subdistrict", "community"):
        table, parent = _LEVEL_TABLE[level]
        todo = sorted((code, v) for (lv, code), v in wanted.items() if lv == level)
        existing = dict(conn.execute(text(f"SELECT code, name FROM {table} WHERE code = ANY(:c)"),
                                     {"c": [c for c, _ in todo]}).all())
        for code, (name, feature, kind) in todo:
            if code in existing:
                if name and name != existing[code]:
                    result.warnings.append(f"{level} {code} is called {existing[code]!r} here; the file's "
                                           f"{name!r} was not applied")
                continue
            if not name:
                problems.append(Problem(feature, code_of[feature], f"{level} {code} (the code's prefix) does not exist: give "
                                                       f"its name in a {level}_name column (with the parent columns "
                                                       "district_code/_name, subdistrict_code/_name, "
                                                       "community_code/_name, as export-grids writes them) to create it"))
                continue
            if problems:  # nothing is created once an area cannot be; the import is refused anyway
                continue
            if level == "district":
                # The outline is derived: the union of the district's grids in the file, recomputed
                # from the current grids after the import (refresh_area_geoms).
                geoms = [f.geom for f in features if f.code.startswith(code)]
                conn.execute(text("INSERT INTO district(code, name, geom) VALUES (:c, :n, "
                                  f"ST_Multi(ST_GeomFromWKB(:g, {STORAGE_SRID})))"),
                             {"c": code, "n": name, "g": shapely.to_wkb(shapely.union_all(geoms))})
            elif level == "subdistrict":
                conn.execute(text("INSERT INTO subdistrict(district_id, code, name) "
                                  "SELECT id, :c, :n FROM district WHERE code = :p"),
                             {"c": code, "n": name, "p": codes.parent(code, "district")})
            else:
                conn.execute(text("INSERT INTO community(subdistrict_id, code, name, kind) "
                                  "SELECT id, :c, :n, :k FROM subdistrict WHERE code = :p"),
                             {"c": code, "n": name, "k": kind if kind in ("community", "village") else "community",
                              "p": codes.parent(code, "subdistrict")})
            result.areas_created.append(f"{level} {code} {name}")
    return problems


def _load_temp_table(conn: Connection, features: list[GridFeature]) -> None:
    conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS _grid_import (feature int, code text, name text, "
                      f"community_code text, resp_code text, resp_name text, unchanged boolean NOT NULL DEFAULT false, "
                      f"geom geometry(Polygon, {STORAGE_SRID})) ON COMMIT DROP"))
    conn.execute(text("TRUNCATE _grid_import"))
    conn.execute(text(
        "INSERT INTO _grid_import(feature, code, name, community_code, resp_code, resp_name, geom) "
        f"SELECT x.f, x.c, x.n, left(x.c, :w), NULLIF(x.rc, ''), NULLIF(x.rn, ''), "
        f"ST_GeomFromWKB(decode(x.g, 'hex'), {STORAGE_SRID}) "
        "FROM unnest(CAST(:f AS int[]), CAST(:c AS text[]), CAST(:n AS text[]), CAST(:rc AS text[]), "
        "CAST(:rn AS text[]), CAST(:g AS text[])) AS x(f, c, n, rc, rn, g)"),
        {"w": codes.width("community"), "f": [f.feature for f in features], "c": [f.code for f in features],
         "n": [f.name for f in features], "rc": [f.attrs.get("responsibility_code", "") for f in features],
         "rn": [f.attrs.get("responsibility_name", "") for f in features],
         "g": shapely.to_wkb([f.geom for f in features], hex=True).tolist()})
    conn.execute(text("CREATE INDEX ON _grid_import USING gist (geom)"))
    conn.execute(text("ANALYZE _grid_import"))


def _problems_against_database(conn: Connection, file_codes: set[str], precision: float) -> list[Problem]:
    # (a missing community is reported by _create_areas, which creates it when the file names it)
    problems: list[Problem] = []
    # overlaps with current grids that this file does not redraw; the tolerance grows with the
    # length of the shared boundary (a thin sliver of conversion noise along it)
    rows = conn.execute(text("""
        SELECT i.feature, i.code, g.code AS other, ST_Area(x.geom::geography) AS m2,
               ST_Perimeter(x.geom::geography) / 2 AS length_m
        FROM _grid_import i
        JOIN grid_version gv ON gv.valid_to IS NULL AND ST_Intersects(gv.geom, i.geom)
        JOIN unit_grid g ON g.id = gv.grid_id
        CROSS JOIN LATERAL (SELECT ST_Intersection(i.geom, gv.geom) AS geom) x
        WHERE g.code <> ALL(:file_codes) AND ST_Relate(gv.geom, i.geom, '2********')
        ORDER BY i.feature, g.code"""), {"file_codes": sorted(file_codes)})
    problems += [Problem(r.feature, r.code, f"overlaps current grid {r.other} by {r.m2:.2f} m²")
                 for r in rows if r.m2 > max(OVERLAP_TOLERANCE_M2, r.length_m * precision)]
    problems += _responsibility_problems(conn)
    problems += _datum_shift_problems(conn)
    problems += _retired_code_problems(conn)
    problems += _scheduled_change_problems(conn)
    return sorted(problems, key=lambda p: (p.feature, p.message))


def _retired_code_problems(conn: Connection) -> list[Problem]:
    """A retired code is never reused (docs/planning.md): bringing one back would put a new grid, and
    its name, under the history of the old one. A grid to restore is published again by a rollback."""
    rows = conn.execute(text("""
        SELECT i.feature, i.code, g.retired_at FROM _grid_import i JOIN unit_grid g ON g.code = i.code
        WHERE g.retired_at IS NOT NULL ORDER BY i.feature""")).all()
    return [Problem(r.feature, r.code, f"grid code {r.code} was retired on {r.retired_at:%Y-%m-%d} and is never "
                                       "reused: give this grid a new code (or restore the old grids with "
                                       "boundary-rollback)") for r in rows]


def _scheduled_change_problems(conn: Connection) -> list[Problem]:
    """A change published to take effect later over a community of the file: applied after this
    import, it would write its own copy of the grids over the imported ones (and tear the edges
    they share with grids it does not hold). The import waits for it, or it is cancelled first."""
    rows = conn.execute(text("""
        SELECT bc.id, bc.effective_at, COALESCE(p.full_name, '(' || bc.kind || ')') AS by,
               ARRAY(SELECT c.code FROM community c WHERE c.id = ANY(bc.community_ids)
                     AND c.code IN (SELECT community_code FROM _grid_import) ORDER BY 1) AS codes
        FROM boundary_change bc LEFT JOIN person p ON p.id = bc.created_by
        WHERE bc.status = 'scheduled' AND bc.community_ids && ARRAY(
            SELECT c.id FROM community c WHERE c.code IN (SELECT community_code FROM _grid_import))
        ORDER BY bc.id""")).all()
    return [Problem(0, None, f"boundary change #{r.id} by {r.by} is scheduled to take effect at "
                             f"{r.effective_at:%Y-%m-%d %H:%M %z} over community {', '.join(r.codes)}: applied after "
                             "this import it would overwrite the imported grids; import once it is live, or cancel "
                             "it first") for r in rows]


def _responsibility_problems(conn: Connection) -> list[Problem]:
    """A responsibility grid lies inside one community: the file may not spread one over two."""
    rows = conn.execute(text("""
        SELECT i.feature, i.code, i.resp_code, c.code AS existing_comm,
               (SELECT string_agg(DISTINCT j.community_code, ', ') FROM _grid_import j
                 WHERE j.resp_code = i.resp_code AND j.community_code <> i.community_code) AS other_comm
        FROM _grid_import i
        LEFT JOIN responsibility_grid r ON r.code = i.resp_code
        LEFT JOIN community c ON c.id = r.community_id
        WHERE i.resp_code IS NOT NULL ORDER BY i.feature""")).all()
    out = []
    for r in rows:
        comm = r.code[:codes.width("community")]
        if r.existing_comm and r.existing_comm != comm:
            out.append(Problem(r.feature, r.code, f"responsibility grid {r.resp_code} belongs to community "
                                                  f"{r.existing_comm}, not {comm}: a responsibility grid is "
                                                  "made of unit grids of one community"))
        elif r.other_comm:
            out.append(Problem(r.feature, r.code, f"responsibility grid {r.resp_code} is also given to grids of "
                                                  f"community {r.other_comm}: a responsibility grid is made of "
                                                  "unit grids of one community"))
    return out


def _datum_shift_problems(conn: Connection) -> list[Problem]:
    """Refuse a redraw that moves every grid by the GCJ-02 (or BD-09) offset of its place: a file
    in one system read as the other, not a planner's redraw."""
    rows = conn.execute(text("""
        SELECT ST_X(ST_Centroid(gv.geom)) AS x0, ST_Y(ST_Centroid(gv.geom)) AS y0,
               ST_X(ST_Centroid(i.geom)) AS x1, ST_Y(ST_Centroid(i.geom)) AS y1
        FROM _grid_import i JOIN unit_grid g ON g.code = i.code
        JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL""")).all()
    hint = datum_shift_hint(rows)
    return [Problem(0, None, hint)] if hint else []


@dataclass(frozen=True)
class Moved:
    """A grid's centroid now (x0, y0) and in the file (x1, y1), degrees WGS-84 as read."""
    x0: float
    y0: float
    x1: float
    y1: float


def datum_shift_hint(rows: list) -> str | None:
    """Why a file's grids all (or nearly all: a redraw traced on a GCJ-02 map moves one or two
    grids for real) sit one GCJ-02 / BD-09 offset away from the current ones, or None. ``rows``:
    ``Moved``-like (x0, y0, x1, y1) per grid found in both."""
    if not rows:
        return None
    need = max(1, math.ceil(DATUM_SHIFT_SHARE * len(rows)))
    for system, name in ((GCJ02, "GCJ-02"), (BD09, "BD-09")):
        for sign, reading in ((1, f"{name} coordinates read as WGS-84: import with --crs {system}"),
                              (-1, f"WGS-84 coordinates read as {name}: import with --crs WGS84")):
            hits = [r for r in rows if _shift_matches(r, system, sign)]
            if len(hits) >= need:
                m = _metres(hits[0].x1 - hits[0].x0, hits[0].y1 - hits[0].y0, hits[0].y0)
                which = f"every redrawn grid ({len(rows)})" if len(hits) == len(rows) else \
                    f"{len(hits)} of the {len(rows)} redrawn grids"
                return f"{which} moved by the {name} offset of its place (about {m:.0f} m): this looks like {reading}"
    return None


def _metres(dx: float, dy: float, lat: float) -> float:
    return math.hypot(dx * 111320.0 * math.cos(math.radians(lat)), dy * 110574.0)


def _shift_matches(r, system: str, sign: int) -> bool:
    try:
        ox, oy = from_wgs84(r.x0, r.y0, system)
    except CoordinateError:  # outside China: the offset is not defined there
        return False
    ex, ey = sign * (ox - r.x0), sign * (oy - r.y0)
    return _metres(r.x1 - r.x0 - ex, r.y1 - r.y0 - ey, r.y0) < DATUM_SHIFT_MATCH_M


def _write(conn: Connection, source: str, actor_id: int | None, precision: float, res: ImportResult) -> None:
    at = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    # Unchanged: every vertex within the conversion's precision of the current boundary (the
    # Hausdorff distance in degrees times a degree's largest length in metres is an upper bound).
    res.unchanged = conn.execute(text("""
        UPDATE _grid_import i SET unchanged = true
        FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
        WHERE g.code = i.code AND g.retired_at IS NULL
          AND ST_HausdorffDistance(gv.geom, i.geom) * 111320.0 <= :p"""), {"p": precision}).rowcount
    # What the redrawn grids covered and the new ones do not; slivers along the boundary narrower
    # than the conversion's precision are noise, so the tolerance is the boundary's length times it.
    gap = conn.execute(text("""
        WITH old AS (SELECT ST_Union(gv.geom) AS geom FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
                     JOIN _grid_import i ON i.code = g.code AND NOT i.unchanged WHERE gv.valid_to IS NULL)
        SELECT ST_Area(ST_Difference(old.geom, (SELECT ST_Union(geom) FROM _grid_import))::geography) AS m2,
               ST_Perimeter(old.geom::geography) AS length_m
        FROM old""")).one()
    if gap.m2 and gap.m2 > max(OVERLAP_TOLERANCE_M2, gap.length_m * precision):
        res.warnings.append(f"the redrawn grids leave {gap.m2:.2f} m² uncovered that was covered before: "
                            "reports there will be outside the jurisdiction until another grid covers it")
    res.change_id = conn.execute(text(
        "INSERT INTO boundary_change(kind, note, created_by, created_at, effective_at, applied_at) "
        "VALUES ('import', :n, :a, :t, :t, :t) RETURNING id"),
        {"n": f"import-grids {source}", "a": actor_id, "t": at}).scalar_one()
    res.renamed = conn.execute(text(
        "UPDATE unit_grid g SET name = i.name FROM _grid_import i WHERE g.code = i.code AND g.name <> i.name")).rowcount
    res.created = conn.execute(text(
        "INSERT INTO unit_grid(community_id, code, name, created_at) "
        "SELECT c.id, i.code, i.name, :t FROM _grid_import i JOIN community c ON c.code = i.community_code "
        "WHERE NOT EXISTS (SELECT 1 FROM unit_grid g WHERE g.code = i.code) ORDER BY i.code"), {"t": at}).rowcount
    conn.execute(text(
        "UPDATE grid_version gv SET valid_to = :t FROM unit_grid g JOIN _grid_import i ON i.code = g.code "
        "WHERE gv.grid_id = g.id AND gv.valid_to IS NULL AND NOT i.unchanged"), {"t": at})
    inserted = conn.execute(text("""
        INSERT INTO grid_version(grid_id, version_no, geom, valid_from, change_id)
        SELECT g.id, COALESCE((SELECT max(version_no) FROM grid_version v WHERE v.grid_id = g.id), 0) + 1,
               i.geom, :t, :chg
        FROM _grid_import i JOIN unit_grid g ON g.code = i.code WHERE NOT i.unchanged ORDER BY i.code"""),
        {"t": at, "chg": res.change_id}).rowcount
    res.redrawn = inserted - res.created
    conn.execute(text("UPDATE unit_grid g SET retired_at = NULL FROM _grid_import i "
                      "WHERE g.code = i.code AND g.retired_at IS NOT NULL"))
    res.responsibility_created = conn.execute(text("""
        INSERT INTO responsibility_grid(community_id, code, name)
        SELECT DISTINCT ON (i.resp_code) c.id, i.resp_code, COALESCE(i.resp_name, i.resp_code)
        FROM _grid_import i JOIN community c ON c.code = i.community_code
        WHERE i.resp_code IS NOT NULL AND NOT EXISTS (SELECT 1 FROM responsibility_grid r WHERE r.code = i.resp_code)
        ORDER BY i.resp_code, i.resp_name NULLS LAST""")).rowcount
    res.responsibility_linked = conn.execute(text("""
        UPDATE unit_grid g SET responsibility_grid_id = r.id FROM _grid_import i JOIN responsibility_grid r
          ON r.code = i.resp_code
        WHERE g.code = i.code AND g.responsibility_grid_id IS DISTINCT FROM r.id""")).rowcount
    affected = [r[0] for r in conn.execute(text(
        "SELECT DISTINCT c.id FROM _grid_import i JOIN community c ON c.code = i.community_code"))]
    conn.execute(text("UPDATE boundary_change SET community_ids = :c WHERE id = :i"),
                 {"c": sorted(affected), "i": res.change_id})
    refresh_area_geoms(conn, community_ids=affected)
    from gis.assign import reassign_cases

    res.cases_moved = reassign_cases(conn, at=at, actor_id=actor_id, change_id=res.change_id)


def refresh_area_geoms(conn: Connection, *, district_code: str | None = None,
                       community_ids: list[int] | None = None) -> None:
    """Set community, subdistrict and district polygons to the unions of their current grids.

    Either every area of ``district_code`` or the given communities and their parents.
    """
    if district_code is not None:
        community_ids = [r[0] for r in conn.execute(text(
            "SELECT c.id FROM community c JOIN subdistrict s ON s.id = c.subdistrict_id "
            "JOIN district d ON d.id = s.district_id WHERE d.code = :d"), {"d": district_code})]
    if not community_ids:
        return
    conn.execute(text("""
        UPDATE community c SET geom = u.geom FROM (
            SELECT g.community_id, ST_Multi(ST_Union(gv.geom)) AS geom
            FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
            WHERE g.community_id = ANY(:ids) GROUP BY g.community_id) u
        WHERE c.id = u.community_id"""), {"ids": community_ids})
    conn.execute(text("""
        UPDATE subdistrict s SET geom = u.geom FROM (
            SELECT c.subdistrict_id, ST_Multi(ST_Union(gv.geom)) AS geom
            FROM community c JOIN unit_grid g ON g.community_id = c.id
            JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
            WHERE c.subdistrict_id IN (SELECT subdistrict_id FROM community WHERE id = ANY(:ids))
            GROUP BY c.subdistrict_id) u
        WHERE s.id = u.subdistrict_id"""), {"ids": community_ids})
    conn.execute(text("""
        UPDATE district d SET geom = u.geom FROM (
            SELECT s.district_id, ST_Multi(ST_Union(gv.geom)) AS geom
            FROM subdistrict s JOIN community c ON c.subdistrict_id = s.id
            JOIN unit_grid g ON g.community_id = c.id
            JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
            WHERE s.district_id IN (SELECT s2.district_id FROM subdistrict s2 JOIN community c2
                                    ON c2.subdistrict_id = s2.id WHERE c2.id = ANY(:ids))
            GROUP BY s.district_id) u
        WHERE d.id = u.district_id"""), {"ids": community_ids})


# --- exporting --------------------------------------------------------------------------------

EXPORT_SQL = """
SELECT g.code, g.name, gv.version_no AS version, gv.valid_from,
       c.code AS community_code, c.name AS community_name, c.kind AS community_kind,
       s.code AS subdistrict_code, s.name AS subdistrict_name,
       d.code AS district_code, d.name AS district_name,
       r.code AS responsibility_code, r.name AS responsibility_name,
       ST_AsBinary(gv.geom) AS wkb
FROM unit_grid g
JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
JOIN community c ON c.id = g.community_id
JOIN subdistrict s ON s.id = c.subdistrict_id
JOIN district d ON d.id = s.district_id
LEFT JOIN responsibility_grid r ON r.id = g.responsibility_grid_id
{where}
ORDER BY g.code
"""


def export_grids(conn: Connection, out: str | Path, *, district_code: str | None = None) -> int:
    """Write the current unit grids to ``out`` as a GeoJSON FeatureCollection (WGS-84, RFC 7946
    axis order lon, lat; coordinates written exactly, so shared edges stay identical)."""
    where = "WHERE d.code = :d" if district_code else ""
    rows = conn.execute(text(EXPORT_SQL.format(where=where)), {"d": district_code}).mappings().all()
    features = []
    for r in rows:
        props = {k: v for k, v in r.items() if k != "wkb"}
        props["valid_from"] = r["valid_from"].isoformat()
        features.append({"type": "Feature", "properties": props,
                         "geometry": mapping(shapely.from_wkb(bytes(r["wkb"])))})
    doc = {"type": "FeatureCollection", "name": "unit_grids", "features": features}
    Path(out).write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return len(features)
