"""Grid commands for ``manage.py``: import-grids, export-grids, assign.

    python manage.py import-grids FILE [--crs CRS] [--layer NAME] [--encoding ENC] [--split-multipart] [--as USER]
    python manage.py export-grids --out FILE.geojson [--district CODE]
    python manage.py assign --in FILE.csv [--crs CRS]

Each takes ``--test`` to act on the test database.
"""
from __future__ import annotations

import csv
import sys
from typing import IO, Iterable

from sqlalchemy import text

from gis.crs import CoordinateError, to_wgs84
from db.engine import command_engine


# --- import-grids -------------------------------------------------------------------------------

def cmd_import_grids(args) -> int:
    from gis.io import GridImportError, import_grids

    try:
        with command_engine(args.test).begin() as conn:
            actor = None
            if args.actor:
                actor = conn.execute(text("SELECT id FROM person WHERE username = :u AND active"),
                                     {"u": args.actor}).scalar()
                if actor is None:
                    print(f"error: no active user {args.actor!r} (--as)", file=sys.stderr)
                    return 1
            res = import_grids(conn, args.file, crs=args.crs, layer=args.layer, encoding=args.encoding,
                               split_multipart=args.split_multipart, actor_id=actor)
    except GridImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if res.change_id is None:
        print(f"nothing to import from {args.file}: its {res.features} feature(s) are the grids as they are "
              f"({res.unchanged} unchanged); no boundary change recorded")
        return 0
    for area in res.areas_created:
        print(f"created {area}")
    for s in res.split:
        print(f"split {s}")
    print(f"imported {res.features} feature(s) from {args.file}: {res.created} new grid(s), {res.redrawn} redrawn "
          f"(previous versions closed, history kept), {res.unchanged} unchanged (no new version), "
          f"{res.renamed} renamed; boundary change #{res.change_id}")
    if res.responsibility_created or res.responsibility_linked:
        print(f"responsibility grids: {res.responsibility_created} created, "
              f"{res.responsibility_linked} unit grid(s) linked")
    print(f"open cases moved to another grid: {res.cases_moved}")
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


# --- export-grids -------------------------------------------------------------------------------

def cmd_export_grids(args) -> int:
    from gis.io import export_grids

    with command_engine(args.test).connect() as conn:
        n = export_grids(conn, args.out, district_code=args.district)
    print(f"wrote {n} current unit grid(s) to {args.out} (GeoJSON, WGS-84)")
    return 0


# --- assign -------------------------------------------------------------------------------------

def assign_csv(conn, lines: Iterable[str], out: IO[str], err: IO[str], *, default_crs: str = "WGS84") -> int:
    """Read ``id,lon,lat[,crs]`` CSV lines, write ``id,grid_code`` CSV by the database's rule.

    Bad rows are reported on ``err`` with their line number and left out of ``out``; returns 0
    if every row was good, 1 otherwise. A row the csv module cannot read at all (a field over its
    size limit) stops the command with one line, before anything is written to ``out``.
    """
    reader = csv.reader(lines)
    try:
        return _assign_rows(conn, reader, out, err, default_crs)
    except csv.Error as e:  # e.g. a field over the csv module's limit (131,072 characters)
        print(f"error: line {reader.line_num}: {e}; nothing was assigned (id,lon,lat rows are short)", file=err)
        return 1


def _assign_rows(conn, reader, out: IO[str], err: IO[str], default_crs: str) -> int:
    from gis.assign import grids_at_points

    header = next(reader, None)
    if header is None:
        print("error: the CSV is empty; expected a header id,lon,lat[,crs]", file=err)
        return 1
    cols = [h.strip().lower().lstrip("\ufeff") for h in header]
    missing = [c for c in ("id", "lon", "lat") if c not in cols]
    if missing:
        print(f"error: line 1: the header needs columns id,lon,lat (optional crs); missing {', '.join(missing)} "
              f"in {','.join(header)}", file=err)
        return 1
    i_id, i_lon, i_lat = cols.index("id"), cols.index("lon"), cols.index("lat")
    i_crs = cols.index("crs") if "crs" in cols else None
    points, order, seen, bad = [], [], {}, 0
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        problem = None
        if len(row) < len(cols):
            problem = f"expected {len(cols)} columns, found {len(row)}"
        else:
            pid = row[i_id].strip()
            crs = (row[i_crs].strip() if i_crs is not None else "") or default_crs
            if not pid:
                problem = "empty id"
            elif pid in seen:
                problem = f"id {pid!r} already used on line {seen[pid]}"
            else:
                try:
                    lon, lat = to_wgs84(_number(row[i_lon], "lon"), _number(row[i_lat], "lat"), crs)
                except CoordinateError as e:
                    problem = str(e)
        if problem:
            print(f"line {line}: {problem}", file=err)
            bad += 1
            continue
        seen[pid] = line
        points.append((pid, lon, lat))
        order.append(pid)
    found = grids_at_points(conn, points) if points else {}
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["id", "grid_code"])
    for pid in order:
        w.writerow([pid, found.get(pid) or ""])
    if bad:
        print(f"{bad} bad row(s) left out; {len(order)} assigned", file=err)
    return 1 if bad else 0


def _number(value: str, what: str) -> float:
    try:
        return float(value.strip())
    except ValueError:
        raise CoordinateError(f"{what} {value!r} is not a number") from None


def cmd_assign(args) -> int:
    from gis.crs import canonical

    try:
        canonical(args.crs)
    except CoordinateError as e:
        print(f"error: --crs {args.crs!r}: {e}", file=sys.stderr)
        return 2
    with open(args.infile, newline="", encoding="utf-8-sig") as f, command_engine(args.test).begin() as conn:
        try:
            return assign_csv(conn, f, sys.stdout, sys.stderr, default_crs=args.crs)
        except UnicodeDecodeError as e:
            print(f"error: {args.infile} is not UTF-8 text (byte {e.start}): save the CSV as UTF-8", file=sys.stderr)
            return 2


def register_commands(register) -> None:
    def test_flag(p):
        p.add_argument("--test", action="store_true", help="act on the test database")

    def conf_import(p):
        p.add_argument("file", help="GeoJSON, GeoPackage or (zipped) Shapefile with a 15-digit grid code and a name "
                                     "per feature; optional parent-area columns (district_code/_name, "
                                     "subdistrict_code/_name, community_code/_name) create missing areas, "
                                     "responsibility_code links responsibility grids")
        p.add_argument("--crs", help="coordinate system of the file if it has none; required for GeoJSON, which "
                                     "does not say its datum: WGS84, GCJ02, BD09 or EPSG:<code>")
        p.add_argument("--layer", help="layer to read from a file with several")
        p.add_argument("--encoding", help="text encoding of a Shapefile without a .cpg file (e.g. GBK)")
        p.add_argument("--split-multipart", action="store_true",
                       help="make each further part of a multi-part feature a grid of its own, with the next "
                            "free codes of its community (listed); without it such a feature is refused")
        p.add_argument("--as", dest="actor", metavar="USER",
                       help="the planner (or admin) recorded as having made the boundary change")
        test_flag(p)

    def conf_export(p):
        p.add_argument("--out", required=True, help="output FILE.geojson")
        p.add_argument("--district", help="only this district code")
        test_flag(p)

    def conf_assign(p):
        p.add_argument("--in", dest="infile", required=True, help="CSV with columns id,lon,lat and optionally crs")
        p.add_argument("--crs", default="WGS84", help="system of rows without a crs column (default WGS84)")
        test_flag(p)

    register("import-grids", cmd_import_grids,
             "import unit grids from a GeoJSON/GeoPackage/Shapefile (all or nothing; changed grids get a new version)", conf_import)
    register("export-grids", cmd_export_grids, "export the current unit grids as GeoJSON (WGS-84)", conf_export)
    register("assign", cmd_assign, "print id,grid_code for the points of a CSV by the database's rule", conf_assign)
