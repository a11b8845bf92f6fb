"""The loaded sample district in PostGIS: the same invariants, the accounts, the reports, and a
loader that never duplicates or wipes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from sqlalchemy import text

import manage
from gis.crs import to_wgs84
from sample_data.accounts import ACCOUNTS, sample_password
from sample_data.load import (
    DEFAULT_CASES,
    SampleDataPresent,
    copy_reports,
    load_sample,
    retire_known_passwords,
)
from sample_data.reports import Reports, generate_reports

D = "211103"


def scalar(conn, sql, **kw):
    return conn.execute(text(sql), kw).scalar_one()


def test_counts_in_the_database(conn, sample_loaded):
    assert scalar(conn, "SELECT count(*) FROM subdistrict s JOIN district d ON d.id = s.district_id "
                        "WHERE d.code = :d", d=D) == 8
    assert scalar(conn, "SELECT count(*) FROM subdistrict WHERE code LIKE '211103%' AND is_agricultural") == 2
    kinds = dict(conn.execute(text("SELECT kind, count(*) FROM community WHERE code LIKE '211103%' GROUP BY kind")).all())
    assert kinds == {"community": 78, "village": 14}
    assert scalar(conn, "SELECT count(*) FROM unit_grid WHERE code LIKE '211103%'") == 1035
    assert scalar(conn, "SELECT count(*) FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id "
                        "AND gv.valid_to IS NULL WHERE g.code LIKE '211103%'") == 1035
    assert scalar(conn, "SELECT count(*) FROM responsibility_grid WHERE code LIKE '211103%'") == 586
    assert scalar(conn, "SELECT count(*) FROM person p JOIN responsibility_grid_worker w ON w.person_id = p.id "
                        "WHERE p.role = 'grid_worker'") == 599
    doubled = scalar(conn, "SELECT count(*) FROM (SELECT responsibility_grid_id FROM responsibility_grid_worker "
                           "GROUP BY 1 HAVING count(*) = 2) x")
    assert doubled == 13
    assert scalar(conn, "SELECT count(*) FROM unit_grid WHERE code LIKE '211103%' AND responsibility_grid_id IS NULL") == 0


def test_grids_tile_the_district_in_postgis(conn, sample_loaded):
    overlaps = scalar(conn, """
        SELECT count(*) FROM grid_version a JOIN grid_version b
          ON a.id < b.id AND a.valid_to IS NULL AND b.valid_to IS NULL AND a.geom && b.geom
         AND ST_Relate(a.geom, b.geom, '2********')
        JOIN unit_grid ga ON ga.id = a.grid_id WHERE ga.code LIKE '211103%'""")
    assert overlaps == 0
    row = conn.execute(text("""
        SELECT ST_NumGeometries(d.geom) AS parts, ST_NumInteriorRings(ST_GeometryN(d.geom, 1)) AS holes,
               ST_Area(d.geom) AS district, (SELECT sum(ST_Area(gv.geom)) FROM grid_version gv
                 JOIN unit_grid g ON g.id = gv.grid_id WHERE gv.valid_to IS NULL AND g.code LIKE '211103%') AS grids,
               ST_Equals(d.geom, (SELECT ST_Union(gv.geom) FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
                 WHERE gv.valid_to IS NULL AND g.code LIKE '211103%')) AS is_union
        FROM district d WHERE d.code = :d"""), {"d": D}).one()
    assert (row.parts, row.holes, row.is_union) == (1, 0, True)
    assert row.grids == pytest.approx(row.district, rel=1e-12)
    assert scalar(conn, "SELECT count(*) FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id "
                        "WHERE g.code LIKE '211103%' AND NOT ST_IsValid(gv.geom)") == 0


def test_areas_nest_and_are_the_unions_of_their_grids(conn, sample_loaded):
    assert scalar(conn, """
        SELECT count(*) FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
        JOIN community c ON c.id = g.community_id
        WHERE g.code LIKE '211103%' AND (NOT ST_Covers(c.geom, gv.geom) OR left(g.code, 12) <> c.code)""") == 0
    assert scalar(conn, """
        SELECT count(*) FROM community c JOIN subdistrict s ON s.id = c.subdistrict_id
        JOIN district d ON d.id = s.district_id
        WHERE d.code = :d AND (NOT ST_Covers(s.geom, c.geom) OR NOT ST_Covers(d.geom, s.geom)
                               OR left(c.code, 9) <> s.code OR left(s.code, 6) <> d.code)""", d=D) == 0
    assert scalar(conn, """
        SELECT count(*) FROM community c WHERE c.code LIKE '211103%' AND NOT ST_Equals(c.geom,
          (SELECT ST_Union(gv.geom) FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id
            AND gv.valid_to IS NULL WHERE g.community_id = c.id))""") == 0


def test_sample_accounts_log_in_with_this_installs_generated_password(conn, sample_loaded):
    rows = conn.execute(text("SELECT username, role, unit_level, password_hash FROM person "
                             "WHERE password_hash IS NOT NULL")).all()
    sample = {r.username: r for r in rows if r.username in {a.username for a in ACCOUNTS}}
    assert set(sample) == {a.username for a in ACCOUNTS}
    ph = PasswordHasher()
    for a in ACCOUNTS:
        r = sample[a.username]
        assert (r.role, r.unit_level) == (a.role, a.unit_level)
        assert r.password_hash.startswith("$argon2id$") and ph.verify(r.password_hash, sample_password())
    roles = {a.role for a in ACCOUNTS}
    assert roles == {"grid_worker", "department_staff", "dispatcher", "command_staff", "planner", "admin"}
    assert {a.unit_level for a in ACCOUNTS if a.role == "dispatcher"} == {"district", "subdistrict", "community"}
    assert scalar(conn, "SELECT count(*) FROM person WHERE role = 'grid_worker' AND password_hash IS NOT NULL") == 1


def test_reports_are_plausible(conn, sample_loaded):
    total = scalar(conn, "SELECT count(*) FROM cases WHERE photo_ref LIKE 'sample/%' OR channel <> 'grid_worker'")
    assert total >= DEFAULT_CASES
    mix = dict(conn.execute(text("SELECT channel, count(*) FROM cases GROUP BY 1")).all())
    assert max(mix, key=mix.get) == "grid_worker" and {"hotline", "wechat", "website"} <= set(mix)
    outside, flagged_ok = conn.execute(text(
        "SELECT count(*) FILTER (WHERE outside_jurisdiction), "
        "bool_and(outside_jurisdiction = (grid_id IS NULL)) FROM cases")).one()
    assert 0.002 * total <= outside <= 0.01 * total and flagged_ok
    span = conn.execute(text("SELECT max(reported_at) - min(reported_at) FROM cases")).scalar_one()
    assert timedelta(days=55) < span <= timedelta(days=61)
    hours = dict(conn.execute(text(
        "SELECT extract(hour FROM reported_at AT TIME ZONE 'Asia/Shanghai')::int, count(*) FROM cases GROUP BY 1")).all())
    assert sum(hours.get(h, 0) for h in range(8, 18)) > 0.7 * total
    # built-up subdistricts get far more reports per km² than the agricultural ones
    dens = dict(conn.execute(text("""
        SELECT s.is_agricultural, count(k.id) / (ST_Area(ST_Union(DISTINCT s.geom)::geography) / 1e6)
        FROM subdistrict s LEFT JOIN cases k ON k.subdistrict_id = s.id
        WHERE s.code LIKE '211103%' GROUP BY 1""")).all())
    assert dens[False] > 5 * dens[True]


def test_gcj02_reports_keep_what_was_received_and_store_wgs84(conn, sample_loaded):
    rows = conn.execute(text("SELECT received_x, received_y, ST_X(geom) AS lon, ST_Y(geom) AS lat, received_crs "
                             "FROM cases WHERE received_crs IN ('GCJ02', 'WGS84') ORDER BY id LIMIT 2000")).all()
    crs = {r.received_crs for r in rows}
    assert crs == {"GCJ02", "WGS84"}
    for r in rows:
        assert (r.lon, r.lat) == pytest.approx(to_wgs84(r.received_x, r.received_y, r.received_crs), abs=1e-12)
        if r.received_crs == "GCJ02":
            assert abs(r.received_x - r.lon) > 1e-4  # really shifted, by a few hundred metres


def test_every_stored_grid_is_the_databases_answer(conn, sample_loaded):
    wrong = scalar(conn, """
        SELECT count(*) FROM cases c LEFT JOIN LATERAL grid_at_point(c.geom) g ON true
        WHERE c.reported_grid_code IS DISTINCT FROM g.grid_code""")
    assert wrong == 0


def test_loading_again_refuses_and_changes_nothing(conn, sample_loaded):
    before = scalar(conn, "SELECT count(*) FROM unit_grid") + scalar(conn, "SELECT count(*) FROM cases")
    with pytest.raises(SampleDataPresent, match="already loaded"):
        load_sample(conn, cases=10)
    assert scalar(conn, "SELECT count(*) FROM unit_grid") + scalar(conn, "SELECT count(*) FROM cases") == before


def test_no_sample_account_takes_the_password_once_published(conn, sample_loaded):
    ph = PasswordHasher()
    for h in conn.execute(text("SELECT password_hash FROM person WHERE username = ANY(:u)"),
                          {"u": [a.username for a in ACCOUNTS]}).scalars():
        with pytest.raises(VerifyMismatchError):
            ph.verify(h, "gridgov-sample")


def test_an_install_still_on_the_published_password_is_moved_to_its_own(conn, sample_loaded):
    ph = PasswordHasher()
    conn.execute(text("UPDATE person SET password_hash = :h WHERE username IN ('admin', 'planner')"),
                 {"h": ph.hash("gridgov-sample")})
    assert retire_known_passwords(conn, sample_password()) == ["admin", "planner"]
    for h in conn.execute(text("SELECT password_hash FROM person WHERE username IN ('admin', 'planner')")).scalars():
        assert ph.verify(h, sample_password())
    assert retire_known_passwords(conn, sample_password()) == []


def test_cli_if_empty_is_a_no_op_and_without_it_stops_clearly(sample_loaded, capsys, monkeypatch):
    for var in ("DATABASE_URL", "TEST_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)  # the project's own cluster
    assert manage.main(["load-sample", "--test", "--if-empty"]) == 0
    out = capsys.readouterr().out
    assert "already loaded" in out
    # the login hint: who, the password and where it is kept
    assert all(a.username in out for a in ACCOUNTS) and sample_password() in out and "sample-password" in out
    assert manage.main(["load-sample", "--test", "--cases", "5"]) == 1
    err = capsys.readouterr().err
    assert "already loaded" in err and "never duplicates" in err


def _boundary_reports(d, rng, n_random: int) -> Reports:
    """Reports on shared vertices and edge midpoints of the sample grids, plus random ones."""
    geoms = [g.geom for g in d.grids]
    pts = []
    for g in geoms[::9]:
        ring = np.asarray(g.exterior.coords)
        pts += [tuple(ring[0]), tuple((ring[1] + ring[2]) / 2)]
    x0, y0, x1, y1 = d.outline.bounds
    pts += [(x0 + rng.random() * (x1 - x0), y0 + rng.random() * (y1 - y0)) for _ in range(n_random)]
    n = len(pts)
    lon, lat = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    at = np.datetime64("2025-06-02T01:00:00", "us") + np.arange(n).astype("timedelta64[s]")  # 09:00 +08
    return Reports(["hotline"] * n, ["0102"] * n, ["边界测试"] * n, [None] * n, [None] * n, [None] * n, [None] * n,
                   [None] * n, lon, lat, ["WGS84"] * n, lon, lat, at, np.zeros(n, bool))


def test_bulk_load_path_agrees_with_the_trigger_on_boundary_points(owner_conn, sample_loaded):
    conn = owner_conn  # the bulk path is the sample loader's, which runs as the owner
    r = _boundary_reports(sample_loaded, np.random.default_rng(3), 300)
    copy_reports(conn, r, {}, bulk=False)
    by_trigger = conn.execute(text(
        "SELECT reported_grid_code, reported_grid_version_id, community_id, subdistrict_id, outside_jurisdiction "
        "FROM cases WHERE description = '边界测试' ORDER BY id")).all()
    copy_reports(conn, r, {}, bulk=True)
    by_bulk = conn.execute(text(
        "SELECT reported_grid_code, reported_grid_version_id, community_id, subdistrict_id, outside_jurisdiction "
        "FROM cases WHERE description = '边界测试' ORDER BY id")).all()[len(by_trigger):]
    assert len(by_bulk) == len(by_trigger) == len(r)
    assert by_bulk == by_trigger
    assert sum(row.outside_jurisdiction for row in by_trigger) > 0  # the bbox reaches outside
    numbers = conn.execute(text("SELECT case_no FROM cases WHERE description = '边界测试' ORDER BY id")).scalars().all()
    assert len(set(numbers)) == len(numbers) and all(len(x) == 15 and x.startswith("20250602") for x in numbers)


def test_reports_are_reproducible(sample_loaded):
    until = datetime(2025, 6, 30, 18, tzinfo=timezone.utc)
    a = generate_reports(sample_loaded, 200, seed=1, until=until)
    b = generate_reports(sample_loaded, 200, seed=1, until=until)
    assert a.description == b.description and np.array_equal(a.reported_at, b.reported_at)
    end = np.datetime64(until.replace(tzinfo=None), "us")
    assert a.reported_at.max() <= end and a.reported_at.min() >= end - np.timedelta64(61, "D")
    assert list(a.reported_at) == sorted(a.reported_at)


def _played(conn, first: int) -> dict:
    """What the player wrote for the cases from id ``first`` on, ids counted from there (two
    loads of the same reports get different ids) and case numbers aside."""
    q = lambda sql: [tuple(r) for r in conn.execute(text(sql), {"f": first})]  # noqa: E731
    return {
        "cases": q("SELECT c.id - :f, c.duplicate_of - :f, (to_jsonb(c) - 'geom' - 'id' - 'case_no' - 'duplicate_of' "
                   "- 'result_photo_ref')::text, replace(c.result_photo_ref, c.id::text, 'ID') "
                   "FROM cases c WHERE c.id >= :f ORDER BY c.id"),
        "events": q("SELECT e.case_id - :f, (to_jsonb(e) - 'id' - 'case_id' - 'data' - 'attachments')::text, "
                    "replace(e.attachments::text, e.case_id::text, 'ID'), e.data - 'duplicate_of', "
                    "(e.data ->> 'duplicate_of')::bigint - :f "
                    "FROM case_event e WHERE e.case_id >= :f ORDER BY e.id"),
        "departments": q("SELECT case_id - :f, department_id, role FROM case_department WHERE case_id >= :f "
                         "ORDER BY 1, 2, 3"),
    }


def test_held_back_reports_played_once_write_what_playing_the_inserted_ones_writes(owner_conn, sample_loaded):
    """``copy_reports(pending=…)`` + ``play_history(pending=…)`` (each case inserted once in its
    final state) writes the same cases, events and departments as inserting the reports and
    playing them (insert, then update), and leaves no work table behind."""
    from sample_data.history import play_history

    conn = owner_conn
    until = datetime(2025, 6, 30, 18, tzinfo=timezone.utc)
    r = generate_reports(sample_loaded, 1500, seed=5, until=until)
    ids = dict(conn.execute(text("SELECT username, id FROM person")).all())
    worker = conn.execute(text("SELECT min(id) FROM person WHERE role = 'grid_worker'")).scalar_one()
    people = {u: ids.get(u, worker) for u in set(r.reporter_username) if u}  # some took an account's name
    top = lambda: conn.execute(text("SELECT COALESCE(max(id), 0) FROM cases")).scalar_one()  # noqa: E731
    sp = conn.begin_nested()
    before = top()
    copy_reports(conn, r, people, bulk=True)
    first = conn.execute(text("SELECT min(id) FROM cases WHERE id > :b"), {"b": before}).scalar_one()
    played = play_history(conn, seed=5, until=until, bulk=True)
    inserted_then_updated = _played(conn, first)
    sp.rollback()

    pending: list[str] = []
    before = top()
    copy_reports(conn, r, people, bulk=True, pending=pending)
    assert len(pending) == 1 and top() == before  # held back: not cases yet
    first = conn.execute(text(f"SELECT min(id) FROM {pending[0]}")).scalar_one()
    assert first > before
    held = play_history(conn, seed=5, until=until, pending=pending[0])
    assert (held["cases"], held["events"], held["bulk"]) == (played["cases"], played["events"], True) == (1500, played["events"], True)
    assert inserted_then_updated["events"] and _played(conn, first) == inserted_then_updated
    assert conn.execute(text("SELECT to_regclass(:t)"), {"t": pending[0]}).scalar() is None
