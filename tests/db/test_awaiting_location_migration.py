"""Migration 0020 on a database that already holds reports made with an address only (待定位): their
events are marked from the log, their roll-up rows move from 辖区外 (key 0) to the 待定位 key,
the result is what a rebuild from the log gives, and a downgrade puts them back."""
from __future__ import annotations

from sqlalchemy import create_engine, text

from db.migrate import downgrade, upgrade
from stats.indicators import AWAITING_KEY, rebuild_stats
from tests.factories import make_grids, scratch_database, square

DAY = "SELECT dim, day, key_id, reported, registered, open FROM case_stat_day WHERE dim = 'grid' ORDER BY 1, 2, 3"
CUT = ("SELECT grain, day, community_id, reported, registered, open FROM case_stat_cut "
       "WHERE (reported, registered, open) <> (0, 0, 0) ORDER BY 1, 2, 3")


def _event(c, case_id, at, action, status, grid, data="{}"):
    c.execute(text("INSERT INTO case_event(case_id, at, actor_role, action, from_status, to_status, grid_id, data) "
                   "VALUES (:c, :at, 'system', :a, NULL, :s, :g, CAST(:d AS jsonb))"),
              {"c": case_id, "at": at, "a": action, "s": status, "g": grid, "d": data})


def _unlocated(c, at, address="某路 1 号"):
    cid = c.execute(text("INSERT INTO cases(channel, category_code, address, reported_at, updated_at) "
                         "VALUES ('hotline', NULL, :a, :t, :t) RETURNING id"), {"a": address, "t": at}).scalar_one()
    _event(c, cid, at, "report", "reported", None, '{"channel": "hotline", "awaiting_location": true}')
    return cid


def _rows(c):
    return [tuple(r) for r in c.execute(text(DAY))], [tuple(r) for r in c.execute(text(CUT))]


def test_0020_moves_the_unlocated_reports_out_of_the_outside_row():
    with scratch_database("awaiting_migration", migrate=False) as url:
        upgrade(url, "0016")
        eng = create_engine(url)
        try:
            with eng.begin() as c:
                grids = make_grids(c, {"001": square(0, 0)})
                gid = next(iter(grids.values()))
                waiting = _unlocated(c, "2025-10-14 09:00+08")
                located = _unlocated(c, "2025-10-14 10:00+08", "某路 2 号")
                c.execute(text("UPDATE cases SET received_x = 0.5, received_y = 0.5, received_crs = 'EPSG:4326', "
                               "geom = ST_SetSRID(ST_MakePoint(0.5, 0.5), 4326) WHERE id = :i"), {"i": located})
                _event(c, located, "2025-10-15 09:00+08", "locate", "reported", gid)
                old = _rows(c)
            # before: both reports under key 0 (辖区外), the located one's open state moved to its grid
            assert [(r[1].day, r[2], r[3], r[5]) for r in old[0]] == [(14, 0, 2, 2), (15, 0, 0, -1), (15, gid, 0, 1)]
            upgrade(url, "head")
            with eng.begin() as c:
                marks = c.execute(text("SELECT case_id, action, awaiting_location FROM case_event ORDER BY at, id")).all()
                assert [tuple(m) for m in marks] == [(waiting, "report", True), (located, "report", True),
                                                     (located, "locate", False)]
                new = _rows(c)
                assert [(r[1].day, r[2], r[3], r[5]) for r in new[0] if (r[3], r[4], r[5]) != (0, 0, 0)] == [
                    (14, AWAITING_KEY, 2, 2), (15, AWAITING_KEY, 0, -1), (15, gid, 0, 1)]
                assert {r[2] for r in new[1]} == {AWAITING_KEY, c.execute(text(
                    "SELECT community_id FROM unit_grid WHERE id = :g"), {"g": gid}).scalar_one()}
                # what the moved rows hold is what a rebuild from the log gives
                rebuild_stats(c)
                again = _rows(c)
                assert [r for r in again[0] if r[3:] != (0, 0, 0)] == [r for r in new[0] if r[3:] != (0, 0, 0)]
                assert again[1] == new[1]
            downgrade(url, "0016")
            with eng.begin() as c:
                back = _rows(c)
                assert [r for r in back[0] if r[3:] != (0, 0, 0)] == old[0] and back[1] == old[1]
        finally:
            eng.dispose()
