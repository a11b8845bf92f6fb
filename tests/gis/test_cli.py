"""The grid commands: ``assign`` agrees with the trigger on boundary points, bad rows are named
by line; ``export-grids`` / ``import-grids`` through manage.py."""
from __future__ import annotations

import csv
import io
import json

import geopandas as gpd
import numpy as np
from shapely.geometry import Point
from sqlalchemy import text

import manage
from gis.assign import assign_in_memory
from gis.cli import assign_csv
from gis.crs import from_wgs84
from tests.factories import report


def boundary_points(d, every: int = 5):
    """Vertices shared by two or more grids, midpoints of shared edges, and interior points."""
    owners: dict[tuple[float, float], int] = {}
    for g in d.grids:
        for xy in set(g.geom.exterior.coords):
            owners[xy] = owners.get(xy, 0) + 1
    shared = sorted(xy for xy, n in owners.items() if n >= 2)
    junctions = sorted(xy for xy, n in owners.items() if n >= 3)
    pts = shared[::every * 4] + junctions[::every]
    for g in d.grids[::every]:
        ring = np.asarray(g.geom.exterior.coords)
        pts.append(tuple((ring[0] + ring[1]) / 2))
        c = g.geom.representative_point()
        pts.append((c.x, c.y))
    x0, y0, x1, y1 = d.outline.bounds
    pts += [(x0 - 0.01, y0 - 0.01), (x1 + 0.01, (y0 + y1) / 2)]  # outside
    return [(f"p{k}", float(x), float(y)) for k, (x, y) in enumerate(pts)]


def run_assign(conn, rows, header="id,lon,lat"):
    lines = [header] + [",".join(map(str, r)) for r in rows]
    out, err = io.StringIO(), io.StringIO()
    rc = assign_csv(conn, lines, out, err)
    result = {r["id"]: r["grid_code"] or None for r in csv.DictReader(io.StringIO(out.getvalue()))}
    return rc, result, err.getvalue()


def test_assign_agrees_with_the_trigger_on_shared_edges_and_vertices(conn, sample_loaded):
    pts = [(i, repr(x), repr(y)) for i, x, y in boundary_points(sample_loaded)]
    assert len(pts) > 500
    rc, by_cli, err = run_assign(conn, pts)
    assert rc == 0 and err == ""
    by_trigger = {i: report(conn, float(x), float(y))["grid_code"] for i, x, y in pts}
    assert by_cli == by_trigger
    assert sum(v is None for v in by_cli.values()) >= 2  # the two outside, and outer-edge midpoints just off
    # on a vertex shared by several grids the lowest code wins
    for i, x, y in pts[:50]:
        covering = conn.execute(text(
            "SELECT min(g.code) FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id "
            "WHERE gv.valid_to IS NULL AND ST_Covers(gv.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
            {"x": float(x), "y": float(y)}).scalar_one()
        assert by_cli[i] == covering


def test_in_memory_path_agrees_on_the_sample_boundaries(conn, sample_loaded):
    pts = boundary_points(sample_loaded, every=7)
    grids = gpd.GeoDataFrame({"code": [g.code for g in sample_loaded.grids]},
                             geometry=[g.geom for g in sample_loaded.grids], crs=4326)
    points = gpd.GeoDataFrame({"id": [p[0] for p in pts]}, geometry=[Point(p[1], p[2]) for p in pts], crs=4326)
    mem = dict(zip(points["id"], assign_in_memory(points, grids)))
    _, by_cli, _ = run_assign(conn, [(i, repr(x), repr(y)) for i, x, y in pts])
    assert mem == by_cli


def test_assign_takes_a_crs_column(conn, sample_loaded):
    g = sample_loaded.grids[100]
    c = g.geom.representative_point()
    gx, gy = from_wgs84(c.x, c.y, "GCJ02")
    rc, got, _ = run_assign(conn, [("a", c.x, c.y, ""), ("b", gx, gy, "GCJ02"), ("c", c.x, c.y, "EPSG:4326")],
                            header="id,lon,lat,crs")
    assert rc == 0 and got == {"a": g.code, "b": g.code, "c": g.code}


def test_bad_rows_are_reported_with_their_line_numbers(conn, sample_loaded):
    c = sample_loaded.grids[0].geom.representative_point()
    rows = [("ok", c.x, c.y, ""), ("swapped", c.y, c.x, ""), ("nan", "abc", c.y, ""), ("", c.x, c.y, ""),
            ("ok", c.x, c.y, ""), ("sys", c.x, c.y, "XIAN80"), ("far", 200, 10, "")]
    rc, got, err = run_assign(conn, rows, header="id,lon,lat,crs")
    assert rc == 1
    assert got == {"ok": sample_loaded.grids[0].code}
    lines = err.splitlines()
    assert lines[0].startswith("line 3: ") and "swapped order" in lines[0]
    assert lines[1].startswith("line 4: ") and "lon 'abc' is not a number" in lines[1]
    assert lines[2] == "line 5: empty id"
    assert lines[3] == "line 6: id 'ok' already used on line 2"
    assert lines[4].startswith("line 7: ") and "unknown coordinate system 'XIAN80'" in lines[4]
    assert lines[5].startswith("line 8: ") and "out of range" in lines[5]


def test_a_header_without_the_needed_columns_is_refused(conn):
    rc, got, err = run_assign(conn, [("1", "2")], header="x,y")
    assert rc == 1 and got == {} and "needs columns id,lon,lat" in err


def test_manage_py_commands_end_to_end(sample_loaded, tmp_path, capsys):
    """Through manage.py against the test database; the import is refused, so nothing changes."""
    out = tmp_path / "grids.geojson"
    assert manage.main(["export-grids", "--test", "--out", str(out), "--district", "211103"]) == 0
    assert "wrote 1035 current unit grid(s)" in capsys.readouterr().out
    doc = json.loads(out.read_text("utf-8"))
    doc["features"][1]["properties"]["code"] = doc["features"][0]["properties"]["code"]
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    assert manage.main(["import-grids", "--test", "--crs", "WGS84", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "nothing was imported" in err and "feature 2 (" in err and "duplicate grid code" in err
    csv_in = tmp_path / "pts.csv"
    c = sample_loaded.grids[5].geom.representative_point()
    csv_in.write_text(f"id,lon,lat\nA,{c.x},{c.y}\nB,0,0\n", "utf-8")
    assert manage.main(["assign", "--test", "--in", str(csv_in)]) == 0
    assert capsys.readouterr().out.splitlines() == ["id,grid_code", f"A,{sample_loaded.grids[5].code}", "B,"]
