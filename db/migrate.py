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
    from db.schedule import reload_cron, schedule_maintenance

    # the partitions and fold jobs where pg_cron lives in another database (db.schedule.schedule_maintenance)
    schedule_maintenance(url)
    # pg_cron may have missed the job migration 0014 scheduled (db.schedule.reload_cron)
    reload_cron(url)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
    from db.schedule import schedule_maintenance

    schedule_maintenance(url)  # below 0024 or 0025: their jobs go
