"""Test-database hygiene: ``tests.ui.district.purge_district`` also removes the planners' work on
the test district (drafts, published and scheduled boundary changes), so a later test starts
from a clean district and nothing points at rows that are gone."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from planning import drafts
from planning.publish import publish
from tests.ui.district import CODE, build_district, purge_district

LEFT = {
    "drafts": "SELECT count(*) FROM boundary_draft d JOIN district x ON x.id = d.district_id WHERE x.code = :c",
    "draft grids": "SELECT count(*) FROM boundary_draft_grid WHERE code LIKE :p",
    "changes": "SELECT count(*) FROM boundary_change WHERE note LIKE '[purge]%'",
    "change grids": "SELECT count(*) FROM boundary_change_grid WHERE code LIKE :p",
    "unit grids": "SELECT count(*) FROM unit_grid WHERE code LIKE :p",
    "district": "SELECT count(*) FROM district WHERE code = :c",
}


def _left(conn) -> dict[str, int]:
    return {k: conn.execute(text(sql), {"c": CODE, "p": CODE + "%"}).scalar_one() for k, sql in LEFT.items()}


def test_purge_district_removes_drafts_and_boundary_changes(engine):
    """Committed, as the UI tests' district is (``purge_district`` works on committed rows)."""
    try:
        with engine.begin() as conn:
            before = _make_planning(conn)
        assert before["drafts"] == 3 and before["changes"] == 2 and before["change grids"] > 0
    finally:
        with engine.begin() as conn:
            purge_district(conn)
    with engine.connect() as conn:
        assert _left(conn) == dict.fromkeys(LEFT, 0)


def _make_planning(conn) -> dict[str, int]:
    purge_district(conn)
    build_district(conn)
    comms = conn.execute(text("SELECT code FROM community WHERE code LIKE :p ORDER BY code LIMIT 2"),
                         {"p": CODE + "%"}).scalars().all()
    first = conn.execute(text("SELECT code FROM unit_grid WHERE code LIKE :p ORDER BY code LIMIT 1"),
                         {"p": comms[0] + "%"}).scalar_one()
    # one published now (a new version and a retired grid), one scheduled, one left open
    for comm, name, when in ((comms[0], "[purge] now", None), (comms[1], "[purge] later", timedelta(days=30))):
        d = drafts.create_draft(conn, name=name, reason="test", actor_id=None, district_code=CODE,
                                community_codes=[comm])
        if when is None:
            drafts.apply_edit(conn, d, {"op": "split", "code": first, "line": _split_line(conn, first)}, actor_id=None)
        eff = None if when is None else conn.execute(text("SELECT now()")).scalar_one() + when
        publish(conn, d, actor_id=None, reason="test", effective_at=eff, warnings_reason="test")
    drafts.create_draft(conn, name="[purge] open", reason="test", actor_id=None, district_code=CODE)
    return _left(conn)


def _split_line(conn, code: str) -> list[list[float]]:
    """A north–south line through the middle of grid ``code``, a little beyond it."""
    x, y0, y1 = conn.execute(text(
        "SELECT (ST_XMin(gv.geom) + ST_XMax(gv.geom)) / 2, ST_YMin(gv.geom) - 0.0001, ST_YMax(gv.geom) + 0.0001 "
        "FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id WHERE g.code = :c AND gv.valid_to IS NULL"),
        {"c": code}).one()
    return [[x, y0], [x, y1]]
