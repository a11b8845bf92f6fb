"""Alembic revisions, oldest first. A package only so the import contract sees them (Alembic skips this file)."""
