"""Old migrations are frozen: they import no project code, and what they seeded is still right."""
from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

VERSIONS = Path(__file__).resolve().parents[2] / "db" / "migrations" / "versions"
# Alembic, SQLAlchemy and the standard library; never a package of this project.
ALLOWED_ROOTS = {"alembic", "sqlalchemy", "__future__", *__import__("sys").stdlib_module_names}


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("*.py")), ids=lambda p: p.name)
def test_migration_imports_no_project_code(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= ALLOWED_ROOTS, f"{path.name} imports {sorted(imported - ALLOWED_ROOTS)}"


def test_seeded_calendar_matches_the_official_calendar(conn):
    """The frozen calendar rows equal what ``chinesecalendar`` says about the same years."""
    from dispatch.calendar import chinese_calendar_days

    first, last = date(2004, 1, 1), date(2026, 12, 31)
    expected = [(d, w, k, n) for d, w, k, n in chinese_calendar_days(first, last)]
    stored = conn.execute(text(
        "SELECT day, is_working, kind, name FROM calendar_day "
        "WHERE source = 'chinesecalendar' AND day BETWEEN :a AND :b ORDER BY day"), {"a": first, "b": last}).all()
    assert [tuple(r) for r in stored] == expected


@pytest.mark.parametrize("table, level", [
    ("district", "district"), ("subdistrict", "subdistrict"), ("community", "community"), ("unit_grid", "grid"),
])
def test_code_checks_agree_with_the_code_layout(conn, table, level):
    """The code lengths frozen into migration 0001 are still those of gis/codes.py's layout."""
    from gis.codes import width

    checks = conn.execute(text(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) AND contype = 'c'"),
        {"t": table}).scalars().all()
    assert any(f"code ~ '^[0-9]{{{width(level)}}}$'" in c for c in checks), checks


def test_seeded_time_limits_are_the_reference_limits(conn):
    """Every reference category has its suggested limit at every level (a change needs a migration)."""
    from db.reference import CATEGORIES

    stored = {(r.category_code, r.level): (float(r.value), r.unit) for r in conn.execute(text(
        "SELECT category_code, level, value, unit FROM time_limit_policy WHERE note = 'seeded from db/reference.py'"))}
    expected = {(c[0], lvl): (float(c[9][0]), c[9][1]) for c in CATEGORIES
                for lvl in ("grid", "community", "subdistrict", "district")}
    assert stored == expected
