"""Migration 0011 (待定位) on a database that already holds cases: they keep their grids, stamps and
flags, the one-grid rule still holds for located cases, a case may now start without a position
and get its grid once located; downgrading is refused while such a case exists."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc

from db.migrate import downgrade, upgrade
from tests.factories import make_grids, scratch_database, square

COLUMNS = ("id, case_no, grid_id, grid_code, reported_grid_code, reported_grid_version_id, community_id, "
           "subdistrict_id, outside_jurisdiction, version, ST_AsText(geom) AS wkt, received_x, received_crs")


def _insert(c, x, y):
    return c.execute(text(
        "INSERT INTO cases(channel, received_x, received_y, received_crs, geom) "
        "VALUES ('hotline', :x, :y, 'EPSG:4326', ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"),
        {"x": x, "y": y}).scalar_one()


def _rows(c):
    return [dict(r) for r in c.execute(text(f"SELECT {COLUMNS} FROM cases ORDER BY id")).mappings()]


def test_0011_on_a_database_with_cases():
    with scratch_database("locate_migration", migrate=False) as url:
        upgrade(url, "0010")
        eng = create_engine(url)
        try:
            with eng.begin() as c:
                grids = make_grids(c, {"001": square(0, 0), "002": square(1, 0)})
                inside = [_insert(c, 0.5, 0.5), _insert(c, 1.0, 0.5)]  # in 001; on the shared edge: 001 (lowest)
                outside = _insert(c, 5.5, 5.5)
                before = _rows(c)
            upgrade(url, "head")
            with eng.begin() as c:
                assert _rows(c) == before  # nothing about an existing case changed
                got = {r["id"]: r for r in _rows(c)}
                assert got[inside[1]]["grid_code"] == min(grids) and not got[outside]["grid_id"]
                # the old rules still hold for located cases
                with pytest.raises(sa_exc.IntegrityError, match="immutable"), c.begin_nested():
                    c.execute(text("UPDATE cases SET geom = ST_SetSRID(ST_MakePoint(1.5, 0.5), 4326) WHERE id = :i"),
                              {"i": inside[0]})
                with pytest.raises(sa_exc.IntegrityError), c.begin_nested():
                    c.execute(text("INSERT INTO cases(channel) VALUES ('hotline')"))  # no point, no address
                # new: a case without a position, with its address; located once, by the same rule
                new = c.execute(text("INSERT INTO cases(channel, address) VALUES ('hotline', '某路 1 号') "
                                     "RETURNING id, case_no, grid_id, outside_jurisdiction")).one()
                assert new.case_no and new.grid_id is None and new.outside_jurisdiction is False
                placed = c.execute(text(
                    "UPDATE cases SET received_x = 1.5, received_y = 0.5, received_crs = 'EPSG:4326', "
                    "geom = ST_SetSRID(ST_MakePoint(1.5, 0.5), 4326) WHERE id = :i "
                    "RETURNING grid_code, reported_grid_code, outside_jurisdiction"), {"i": new.id}).one()
                assert placed.grid_code == placed.reported_grid_code == max(grids) and not placed.outside_jurisdiction
                c.execute(text("INSERT INTO cases(channel, address) VALUES ('hotline', '另一路 2 号')"))
            with pytest.raises(Exception, match="待定位"):
                downgrade(url, "0010")
            with eng.begin() as c:
                c.execute(text("DELETE FROM cases WHERE geom IS NULL"))
            downgrade(url, "0010")
            with eng.begin() as c:
                with pytest.raises(sa_exc.IntegrityError), c.begin_nested():
                    c.execute(text("INSERT INTO cases(channel, address) VALUES ('hotline', '某路 3 号')"))
                assert len(_rows(c)) == 4
        finally:
            eng.dispose()
