"""The points of cases are indexed in two halves (migration 0018): open cases and ended ones.

A moved case (boundary publish) enters one GiST, not two; readers over every status ask for
both halves. These check the halves are complements and that such a reader can use them."""
from __future__ import annotations

from sqlalchemy import event, text

from db.statuses import STATUSES, TERMINAL_STATUSES
from dispatch import desk


def _predicates(conn) -> dict[str, str | None]:
    return dict(conn.execute(text("""
        SELECT i.relname, pg_get_expr(x.indpred, x.indrelid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am a ON a.oid = i.relam
        WHERE x.indrelid = 'cases'::regclass AND a.amname = 'gist'""")).all())


def test_every_case_point_is_in_exactly_one_gist_half(conn):
    preds = _predicates(conn)
    assert set(preds) == {"cases_open_geom_gix", "cases_closed_geom_gix"}, preds
    for status in STATUSES:
        inside = [name for name, pred in preds.items()
                  if conn.execute(text(f"SELECT {pred} FROM (SELECT CAST(:s AS text) AS status) x"), {"s": status}).scalar()]
        assert inside == (["cases_closed_geom_gix"] if status in TERMINAL_STATUSES else ["cases_open_geom_gix"]), status


def test_the_merge_candidates_probe_both_halves(world, conn):
    case = world.report("C1")
    seen: list[tuple[str, dict]] = []

    def grab(_conn, _cursor, statement, parameters, _context, _many):
        if "metres" in statement:
            seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", grab)
    try:
        desk.duplicate_candidates(conn, case)
    finally:
        event.remove(conn, "before_cursor_execute", grab)
    (sql, params), = seen
    conn.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + sql, params).scalars())
    for index in ("cases_open_geom_gix", "cases_closed_geom_gix"):
        # cases is partitioned by month (migration 0024): the plan names a month's copy of the index
        names = {index, *conn.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits "
                                           "WHERE inhparent = to_regclass(:i)"), {"i": index}).scalars()}
        assert any(n in plan for n in names), (index, plan)
