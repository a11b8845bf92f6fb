"""答复市民 (public reply): what the sorting unit tells the reporter about a case, in its own words.

The reporter's way back (the status page, the Open311 ``status_notes``) showed states and dates
only: never the staff's comments, which are written for colleagues. A ``reply`` move writes the
text meant for the public (an event with it as the comment, like every move); the case keeps the
latest (``public_reply``, ``public_reply_at``) for the reporter's pages. No state, deadline or
holder changes: the indicators' roll-ups take no delta from it.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0034
Revises: 0033
"""
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE cases ADD COLUMN public_reply text CHECK (char_length(public_reply) BETWEEN 1 AND 1000),
                      ADD COLUMN public_reply_at timestamptz,
                      ADD CONSTRAINT cases_public_reply_dated CHECK ((public_reply IS NULL) = (public_reply_at IS NULL));
    """)


def downgrade() -> None:
    op.execute("ALTER TABLE cases DROP CONSTRAINT IF EXISTS cases_public_reply_dated, "
               "DROP COLUMN IF EXISTS public_reply, DROP COLUMN IF EXISTS public_reply_at")
