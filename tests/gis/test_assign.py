"""One point, one grid: the database rule and every other path agree, boundaries included."""
from __future__ import annotations

import geopandas as gpd
import pytest
from shapely import wkt
from shapely.geometry import Point
from sqlalchemy import text

from gis.assign import assign_in_memory, grids_at_points, reassign_cases
from tests.factories import make_grids, report, square

# Four unit squares meeting at (1, 1):   003 | 004
#                                         001 | 002
CELLS = {"001": square(0, 0), "002": square(1, 0), "003": square(0, 1), "004": square(1, 1)}
C = "999999001001"

CASES = [
    ("interior of 001", 0.5, 0.5, C + "001"),
    ("interior of 004", 1.5, 1.5, C + "004"),
    ("edge shared by 001 and 002", 1.0, 0.5, C + "001"),
    ("edge shared by 002 and 004", 1.5, 1.0, C + "002"),
    ("vertex shared by all four", 1.0, 1.0, C + "001"),
    ("outer edge of 002 only", 2.0, 0.5, C + "002"),
    ("outer corner of 004", 2.0, 2.0, C + "004"),
    ("outside every grid", 3.0, 3.0, None),
    ("just outside the outer edge", 2.0000001, 0.5, None),
]


@pytest.fixture
def grids(conn):
    return make_grids(conn, CELLS)


@pytest.mark.parametrize("label,lon,lat,expected", CASES, ids=[c[0] for c in CASES])
def test_trigger_puts_each_point_in_exactly_one_grid(conn, grids, label, lon, lat, expected):
    row = report(conn, lon, lat)
    assert row["grid_code"] == expected
    assert row["reported_grid_code"] == expected
    assert row["outside_jurisdiction"] is (expected is None)
    if expected:
        assert row["grid_id"] == grids[expected]
        assert row["reported_grid_version_id"] is not None


def test_outside_point_is_stored_and_queued_not_snapped(conn, grids):
    row = report(conn, 5.0, 5.0)
    queued = conn.execute(text("SELECT lon, lat FROM outside_jurisdiction_queue WHERE id = :i"), {"i": row["id"]}).one()
    assert (queued.lon, queued.lat) == (5.0, 5.0)


def test_bulk_statement_agrees_with_trigger(conn, grids):
    got = grids_at_points(conn, [(label, lon, lat) for label, lon, lat, _ in CASES])
    assert got == {label: expected for label, _, _, expected in CASES}


def test_in_memory_path_agrees_with_database(conn, grids):
    polys = gpd.GeoDataFrame(
        {"code": [C + s for s in CELLS]}, geometry=[wkt.loads(w) for w in CELLS.values()], crs=4326)
    pts = gpd.GeoDataFrame({"label": [c[0] for c in CASES]},
                           geometry=[Point(lon, lat) for _, lon, lat, _ in CASES], crs=4326)
    mem = assign_in_memory(pts, polys)
    db = grids_at_points(conn, [(label, lon, lat) for label, lon, lat, _ in CASES])
    assert list(mem) == [db[c[0]] for c in CASES]


def test_location_of_an_assigned_case_cannot_be_rewritten(conn, grids):
    row = report(conn, 0.5, 0.5)
    with pytest.raises(Exception, match="immutable"):
        with conn.begin_nested():
            conn.execute(text("UPDATE cases SET geom = ST_SetSRID(ST_MakePoint(1.5, 1.5), 4326) WHERE id = :i"),
                         {"i": row["id"]})


def test_outside_case_can_be_relocated_and_is_then_stamped(conn, grids):
    row = report(conn, 3.0, 3.0)
    after = conn.execute(text(
        "UPDATE cases SET geom = ST_SetSRID(ST_MakePoint(1.5, 1.5), 4326) WHERE id = :i RETURNING grid_code, outside_jurisdiction"),
        {"i": row["id"]}).one()
    assert after.grid_code == C + "004" and after.outside_jurisdiction is False


def test_reassign_moves_open_cases_after_a_redraw_but_keeps_the_stamp(conn, grids):
    row = report(conn, 0.9, 0.5)  # in 001
    # redraw: 002 grows west to x = 0.8, 001 shrinks (new versions, old ones closed)
    conn.execute(text("UPDATE grid_version SET valid_to = now() WHERE grid_id IN (:a, :b) AND valid_to IS NULL"),
                 {"a": grids[C + "001"], "b": grids[C + "002"]})
    conn.execute(text(
        "INSERT INTO grid_version(grid_id, version_no, geom, valid_from) VALUES "
        "(:a, 2, ST_GeomFromText(:wa, 4326), now() + interval '1 microsecond'), "
        "(:b, 2, ST_GeomFromText(:wb, 4326), now() + interval '1 microsecond')"),
        {"a": grids[C + "001"], "b": grids[C + "002"],
         "wa": "POLYGON((0 0,0.8 0,0.8 1,0 1,0 0))", "wb": "POLYGON((0.8 0,2 0,2 1,0.8 1,0.8 0))"})
    before = conn.execute(text("SELECT version FROM cases WHERE id = :i"), {"i": row["id"]}).scalar_one()
    assert reassign_cases(conn) == 1
    after = conn.execute(text("SELECT grid_code, reported_grid_code, version FROM cases WHERE id = :i"),
                         {"i": row["id"]}).one()
    assert after.grid_code == C + "002"
    assert after.reported_grid_code == C + "001"
    # the move is in the case's history and bumps its version (a panel open on it sees the change)
    assert after.version == before + 1
    assert conn.execute(text("SELECT count(*) FROM case_event WHERE case_id = :i AND action = 'regrid'"),
                        {"i": row["id"]}).scalar_one() == 1
    assert reassign_cases(conn) == 0  # nothing left to move: no second event


def test_events_are_append_only(owner_conn):
    """Even the schema's owner is refused by the trigger (the application's role is refused the
    privilege before that: tests/db/test_roles.py)."""
    conn = owner_conn
    make_grids(conn, CELLS)
    row = report(conn, 0.5, 0.5)
    eid = conn.execute(text("INSERT INTO case_event(case_id, action) VALUES (:c, 'report') RETURNING id"),
                       {"c": row["id"]}).scalar_one()
    for sql in ("DELETE FROM case_event WHERE id = :i", "UPDATE case_event SET comment = 'x' WHERE id = :i"):
        with pytest.raises(Exception, match="append-only"):
            with conn.begin_nested():
                conn.execute(text(sql), {"i": eid})
