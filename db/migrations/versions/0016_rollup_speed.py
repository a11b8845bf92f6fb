"""Filtered indicator tables for periods that reach today (issue 12 §2).

- ``cases_open_overdue_idx``: a period that reaches today counts "overdue" live, from the open
  cases past their deadline (``stats.indicators._overdue_now``), under the table's filters and
  grouped by grid, community, department or person. Without it the planner reads every case
  (a parallel sequential scan: 0.14 s at 100,000 cases, ten times that at a million) for a few
  thousand open ones; with it, an index-only scan of the open cases (a few per cent of all)
  holding every column those queries filter and group by.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0016
Revises: 0010 (for now: the integrator re-chains branches when merging)
"""
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TERMINAL = "('closed', 'rejected', 'merged')"


def upgrade() -> None:
    op.execute(f"""
    CREATE INDEX cases_open_overdue_idx ON cases(due_at)
        INCLUDE (grid_id, department_id, handler_id, category_code, level, channel, postponed_at)
        WHERE status NOT IN {TERMINAL} AND due_at IS NOT NULL;
    """)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS cases_open_overdue_idx;")
