"""The typed models and the migrated schema agree, and every migration can be undone."""
from __future__ import annotations

from contextlib import suppress

import pytest
from geoalchemy2 import Geometry
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from db import models
from db.cluster import ensure_database
from db import config
from db.migrate import downgrade, upgrade
from db.schedule import unschedule


# Tables the migrations do not own (PostGIS's catalogue, Alembic's bookkeeping).
NOT_OURS = {"spatial_ref_sys", "alembic_version"}
MODELS = sorted((m.class_ for m in models.Base.registry.mappers), key=lambda m: m.__tablename__)


def _partitions(engine) -> set[str]:
    """Month partitions (migration 0024) are storage of their parent's model, not tables of their own."""
    with engine.connect() as c:
        return set(c.execute(text("SELECT relname FROM pg_class WHERE relispartition")).scalars())


def test_every_table_has_one_model(engine):
    tables = set(inspect(engine).get_table_names()) - NOT_OURS - _partitions(engine)
    mapped = [m.__table__.name for m in MODELS]
    assert sorted(mapped) == sorted(set(mapped)), "a table is mapped by more than one class"
    assert set(mapped) == tables, (
        f"tables without a model: {sorted(tables - set(mapped))}; models without a table: {sorted(set(mapped) - tables)}")


def _type_name(engine, t) -> str:
    if isinstance(t, Geometry):
        return f"geometry({t.geometry_type},{t.srid})"
    return t.compile(dialect=engine.dialect)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__tablename__)
def test_model_columns_match_the_database(engine, model):
    table = model.__table__
    db_cols = {c["name"]: c for c in inspect(engine).get_columns(table.name)}
    assert set(table.columns.keys()) == set(db_cols), (
        f"{table.name}: model only {sorted(set(table.columns.keys()) - set(db_cols))}, "
        f"database only {sorted(set(db_cols) - set(table.columns.keys()))}")
    for c in table.columns:
        db_col = db_cols[c.name]
        where = f"{table.name}.{c.name}"
        assert _type_name(engine, c.type) == _type_name(engine, db_col["type"]), f"{where}: type differs"
        if c.primary_key:
            continue
        assert db_col["nullable"] == c.nullable, f"{where}: nullability differs"
        assert (db_col["default"] is not None) == (c.server_default is not None), f"{where}: default differs"


def test_migrations_downgrade_and_upgrade_cleanly():
    url = make_url(config.test_owner_database_url())
    scratch = url.set(database=f"{url.database}_migrations").render_as_string(hide_password=False)
    ensure_database(scratch)
    try:
        upgrade(scratch)
        downgrade(scratch, "base")
        eng = create_engine(scratch)
        with eng.connect() as c:
            left = c.execute(text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
                "AND table_name NOT IN ('spatial_ref_sys', 'alembic_version')")).scalar()
        eng.dispose()
        assert left == 0
        upgrade(scratch)
    finally:
        with suppress(OperationalError):  # its pg_cron job (migration 0014), where the server has pg_cron
            unschedule(scratch)
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{url.database}_migrations" WITH (FORCE)'))
        admin.dispose()
