"""Run Alembic migrations programmatically (no alembic.ini needed)."""
from __future__ import annotations

from alembic import command
from alembic.config import Config

from db.config import ROOT


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "db" / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
    # pg_cron may have missed the job migration 0014 scheduled (db.schedule.reload_cron)
    from db.schedule import reload_cron

    reload_cron(url)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
