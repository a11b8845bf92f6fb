"""Alembic environment: the URL comes from the caller (db.migrate) or db.config."""
from alembic import context
from sqlalchemy import create_engine, pool

from db.config import owner_database_url

config = context.config
url = config.get_main_option("sqlalchemy.url") or owner_database_url()  # migrations run as the owner


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
