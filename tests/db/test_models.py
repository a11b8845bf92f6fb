"""The typed models and the migrated schema agree, and every migration can be undone."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from db import models
from db.cluster import ensure_database
from db import config
from db.migrate import downgrade, upgrade


def _model_classes():
    import importlib
    import pkgutil

    import db

    for m in pkgutil.iter_modules(db.__path__):
        if m.name.startswith("models"):
            importlib.import_module(f"db.{m.name}")
    return [m.class_ for m in models.Base.registry.mappers]


@pytest.mark.parametrize("model", _model_classes(), ids=lambda m: m.__tablename__)
def test_model_columns_exist_in_database(engine, model):
    insp = inspect(engine)
    table = model.__table__
    db_cols = {c["name"]: c for c in insp.get_columns(table.name)}
    missing = [c.name for c in table.columns if c.name not in db_cols]
    assert not missing, f"{table.name}: model columns not in the database: {missing}"
    for c in table.columns:
        if not c.primary_key:
            assert db_cols[c.name]["nullable"] == c.nullable, f"{table.name}.{c.name} nullability differs"


def test_migrations_downgrade_and_upgrade_cleanly():
    url = make_url(config.test_database_url())
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
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{url.database}_migrations" WITH (FORCE)'))
        admin.dispose()
