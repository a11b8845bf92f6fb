"""Migration 0029: the charts' live states (``stats.indicators._live_part``) are read from the open
cases' index alone (``cases_open_states_idx``): an index-only scan, for every key and filter of the
charts page — so counting the open cases under an area no longer walks every grid's cases."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from stats.indicators import _live_part

INDEX = "cases_open_states_idx"


def _scans(plan: dict) -> list[dict]:
    """Every node of a JSON plan that reads a relation."""
    out = [plan] if "Relation Name" in plan else []
    for child in plan.get("Plans", []):
        out += _scans(child)
    return out


def _over_open_cases(conn) -> set[str]:
    """Every index of the case table's partitions that holds the open cases only."""
    return set(conn.execute(text(
        "SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "WHERE t.relname LIKE 'cases%' AND pg_get_expr(x.indpred, x.indrelid) "
        "LIKE '%status <> ALL (ARRAY[''closed''::text, ''rejected''::text, ''merged''::text])%'")).scalars())


def _family(conn) -> set[str]:
    """The index and, on partitioned tables, each month partition's index attached to it."""
    return {INDEX} | set(conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST(:i AS regclass)"), {"i": INDEX}).scalars())


@pytest.mark.parametrize("kind", ["now", "all"])
def test_the_live_states_are_an_index_only_scan_of_the_open_cases(world, conn, owner_engine, kind):
    # the visibility map, as autovacuum keeps it in service (a fresh test database has none: the
    # planner would then read the heap for each entry and rather take a plain index scan)
    with owner_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as own:
        own.execute(text("VACUUM cases"))
    world.report("C1", category="0401")
    world.report("C2", category="0102", channel="hotline")
    conn.execute(text("ANALYZE cases"))
    conn.execute(text("SET LOCAL enable_seqscan = off"))  # a small table: the choice between indexes
    conn.execute(text("SET LOCAL enable_bitmapscan = off"))
    family, open_only = _family(conn), _over_open_cases(conn)
    assert family <= open_only
    for key, filters in (("grid", {}), ("community", {"subdistrict_id": world.sub["S1"]}),
                         ("department", {"category_code": "0401", "level": "grid"}),
                         ("person", {"channel": "hotline", "department_id": world.dept["HWC"]}),
                         ("all", {"community_id": world.com["C1"]})):
        sql, params = _live_part(conn, key, filters, kind)
        plan = conn.execute(text("EXPLAIN (FORMAT JSON) " + sql), params).scalar()
        plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
        cases = [n for n in _scans(plan) if n["Relation Name"].startswith("cases")]
        assert cases, (key, filters)
        # the open cases only, by an index (a month holding one or two open cases may take the
        # open cases' GiST, as cheap there); the months that hold them, an index-only scan of 0029's
        for node in cases:
            assert node["Node Type"] in ("Index Only Scan", "Index Scan"), (key, filters, node)
            assert node["Index Name"] in open_only, (key, filters, node)
        assert any(n["Node Type"] == "Index Only Scan" and n["Index Name"] in family for n in cases), (key, filters)
