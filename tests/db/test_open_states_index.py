"""Migration 0029: the charts' live states (``stats.indicators._live_part``) are read from the open
cases' index alone (``cases_open_states_idx``): an index-only scan, for every key and filter of the
charts page — so counting the open cases under an area no longer walks every grid's cases."""
from __future__ import annotations

import json
import re

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


def _columns(conn, index: str) -> set[str]:
    """The columns an index holds (its key and its INCLUDE columns)."""
    return set(conn.execute(text(
        "SELECT a.attname FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey) "
        "WHERE x.indexrelid = CAST(:i AS regclass)"), {"i": index}).scalars())


@pytest.mark.parametrize("kind", ["now", "all"])
def test_the_live_states_are_an_index_only_scan_of_the_open_cases(world, conn, owner_engine, kind):
    """Every column the live states read is in the index and its predicate is the open cases'
    (so an index-only scan answers them wherever the pages are all-visible), and where the open
    cases are many the planner takes it. (In a month holding a few open cases any index over them
    is as cheap: the planner's pick there is not this index's property.)"""
    # the visibility map, as autovacuum keeps it in service
    with owner_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as own:
        own.execute(text("VACUUM cases"))
    for i in range(20):
        world.report("C1" if i % 2 else "C2", category="0401" if i % 3 else "0102", channel="hotline" if i % 4 else "wechat")
    conn.execute(text("ANALYZE cases"))
    conn.execute(text("SET LOCAL enable_seqscan = off"))  # a small table: the choice between indexes
    conn.execute(text("SET LOCAL enable_bitmapscan = off"))
    family, open_only = _family(conn), _over_open_cases(conn)
    assert family <= open_only  # the index holds the open cases only
    held = _columns(conn, INDEX)
    for key, filters in (("grid", {}), ("community", {"subdistrict_id": world.sub["S1"]}),
                         ("department", {"category_code": "0401", "level": "grid"}),
                         ("person", {"channel": "hotline", "department_id": world.dept["HWC"]}),
                         ("all", {"community_id": world.com["C1"]})):
        sql, params = _live_part(conn, key, filters, kind)
        read = set(re.findall(r"\bc\.(\w+)", sql)) - {"status"}  # (status: the predicate)
        assert read and read <= held, (key, filters, read - held)
        plan = conn.execute(text("EXPLAIN (FORMAT JSON) " + sql), params).scalar()
        plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
        cases = [n for n in _scans(plan) if n["Relation Name"].startswith("cases")]
        assert cases and all(n["Node Type"] in ("Index Only Scan", "Index Scan") for n in cases), (key, filters)
        big = [n for n in cases if n.get("Plan Rows", 0) >= 1000]  # a month with many open cases
        assert all(n["Node Type"] == "Index Only Scan" and n["Index Name"] in family for n in big), (key, filters)
