"""催办 (chase): a dispatcher presses the department on a case it is working on.

Repeatable, unlike 督办 (supervision, a flag set once): each chase is a ``chase`` event with the
dispatcher's words, and the case counts them (``chase_count``) and keeps the last one's time
(``last_chased_at``), so the department's queue can show which cases have been chased and how
often. No state, deadline or holder changes: the indicators' roll-ups take no delta from it.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0032
Revises: 0031
"""
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE cases ADD COLUMN chase_count integer NOT NULL DEFAULT 0 CHECK (chase_count >= 0),
                      ADD COLUMN last_chased_at timestamptz;
    """)


def downgrade() -> None:
    op.execute("ALTER TABLE cases DROP COLUMN IF EXISTS chase_count, DROP COLUMN IF EXISTS last_chased_at")
