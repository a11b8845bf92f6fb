"""Alembic migrations. A package only so the import contract sees them (Alembic skips this file)."""
