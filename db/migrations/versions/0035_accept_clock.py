"""超时未接收 (not accepted in time): the clock a department has to take up a case it was sent.

Computer-aided dispatch keeps a timer on every unit that has not answered; here the "unit" is the
lead department. A case dispatched to it (``dispatched``), or sent back to it for rework after a
failed verification (``rework``), waits for its 接收 (accept). ``accept_due_at`` is the instant by
which that must happen, computed on the working clock when the case is dispatched or reworked
(``dispatch.deadlines.accept_due``, never after ``due_at``) and stored, as ``warn_at`` is: "not
accepted in time" is ``status IN ('dispatched', 'rework') AND accept_due_at < now`` — two
comparisons, no working-time arithmetic in SQL. Accepting ends the clock by the status alone; a
return clears it, a re-dispatch replaces it.

No index: the queue badges read the open cases through ``cases_open_geom_gix`` (a bitmap, the
heap visited: docs/measurements.md) and the list is a few rows of them. The column is in no index
key, INCLUDE or predicate, so a re-assigned open case enters no new index.

Cases already waiting when this runs get their clock from ``manage.py migrate`` right after
(``dispatch.deadlines.start_missing_accept_clocks``: the working calendar is project code, which
a frozen migration does not import).

Frozen: every constant is written here; no project code is imported.

Revision ID: 0035
Revises: 0034
"""
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE cases ADD COLUMN accept_due_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE cases DROP COLUMN IF EXISTS accept_due_at")
