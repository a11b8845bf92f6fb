"""Hand-built districts of unit squares you can check by eye, far from the sample district.

Squares are ``size`` degrees on a side, laid out from (x0, y0) = (0, 0) on the Gulf of Guinea,
so they never overlap the sample district near 122°E, 41°N.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from db import config
from db.cluster import drop_database, ensure_database
from db.migrate import upgrade
from db.schedule import unschedule

EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)


def square(x: float, y: float, size: float = 1.0) -> str:
    return f"POLYGON(({x} {y},{x + size} {y},{x + size} {y + size},{x} {y + size},{x} {y}))"


def make_grids(conn: Connection, cells: dict[str, str], *, district_code: str = "999999") -> dict[str, int]:
    """Create a district → one subdistrict → one community holding the given grids.

    ``cells`` maps the 3-digit grid sequence to a WKT polygon. Returns {grid code: grid id}.
    """
    did = conn.execute(text(
        "INSERT INTO district(code, name, geom) VALUES (:c, '测试区', "
        "ST_Multi(ST_GeomFromText('POLYGON((-1 -1, 9 -1, 9 9, -1 9, -1 -1))', 4326))) RETURNING id"),
        {"c": district_code}).scalar_one()
    sid = conn.execute(text(
        "INSERT INTO subdistrict(district_id, code, name) VALUES (:d, :c, '测试街道') RETURNING id"),
        {"d": did, "c": district_code + "001"}).scalar_one()
    cid = conn.execute(text(
        "INSERT INTO community(subdistrict_id, code, name) VALUES (:s, :c, '测试社区') RETURNING id"),
        {"s": sid, "c": district_code + "001001"}).scalar_one()
    ids = {}
    for seq, wkt in cells.items():
        code = district_code + "001001" + seq
        gid = conn.execute(text(
            "INSERT INTO unit_grid(community_id, code, name) VALUES (:c, :code, :name) RETURNING id"),
            {"c": cid, "code": code, "name": f"网格{seq}"}).scalar_one()
        conn.execute(text(
            "INSERT INTO grid_version(grid_id, version_no, geom, valid_from) "
            "VALUES (:g, 1, ST_GeomFromText(:w, 4326), :t)"), {"g": gid, "w": wkt, "t": EPOCH})
        ids[code] = gid
    return ids


def report(conn: Connection, lon: float, lat: float, **kw) -> dict:
    """Insert a case at (lon, lat) in WGS-84 the way every writer does; returns the stored row."""
    row = conn.execute(text(
        "INSERT INTO cases(channel, description, received_x, received_y, received_crs, geom) "
        "VALUES (:ch, :d, :x, :y, 'EPSG:4326', ST_SetSRID(ST_MakePoint(:x, :y), 4326)) "
        "RETURNING *"), {"ch": kw.get("channel", "hotline"), "d": kw.get("description", ""), "x": lon, "y": lat})
    return row.mappings().one()


@contextmanager
def scratch_database(suffix: str, *, migrate: bool = True, cron: bool = False) -> Iterator[str]:
    """A fresh database ``<test database>_<suffix>`` on the test server, made by the owner role
    (migrated unless ``migrate=False``) and dropped afterwards; yields its owner URL. The pg_cron
    job the migrations schedule (where the server has pg_cron) is removed unless ``cron``: a
    scratch database's committed scheduled changes are applied by the test, not by the clock."""
    url = make_url(config.test_owner_database_url())
    scratch = url.set(database=f"{url.database}_{suffix}").render_as_string(hide_password=False)
    try:
        drop_database(scratch)
        ensure_database(scratch)
        if migrate:
            upgrade(scratch)
            if not cron:
                unschedule(scratch)
        yield scratch
    finally:
        drop_database(scratch)  # and its pg_cron jobs
