"""Indexes for the dispatch desk's queries at a million cases (issue 8, page speed).

Measured with EXPLAIN ANALYZE on 1,000,000 played cases (about 45,000 open; docs/measurements.md):

- ``cases_duplicate_of_idx``: the case panel lists a case's duplicates (``duplicate_of = :id``);
  without an index that is a scan of every case (1.6 s) on every panel drawn. Partial: only
  merged cases have one.
- ``cases_open_scope_idx``: the queue badges count the open cases of the dispatcher's area by
  queue (``dispatch.queries.queue_counts``); the open cases are a few per cent of all, so a
  partial index holding the columns the counts test answers them from the index alone instead
  of reading the whole table (0.4–1.7 s).
- ``cases_department_work_idx``: a department's work queue, nearest deadline first
  (``dispatch.queries.department_queue``): the cases it holds while they are with a department.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TERMINAL = "('closed', 'rejected', 'merged')"
WITH_DEPARTMENT = "('dispatched', 'disposing', 'awaiting_verification', 'rework', 'postponed')"


def upgrade() -> None:
    op.execute(f"""
    CREATE INDEX cases_duplicate_of_idx ON cases(duplicate_of) WHERE duplicate_of IS NOT NULL;
    CREATE INDEX cases_open_scope_idx ON cases(subdistrict_id, community_id)
        INCLUDE (status, level, outside_jurisdiction, supervised, due_at, warn_at)
        WHERE status NOT IN {TERMINAL};
    CREATE INDEX cases_department_work_idx ON cases(department_id, due_at)
        WHERE status IN {WITH_DEPARTMENT};
    """)


def downgrade() -> None:
    op.execute("""
    DROP INDEX IF EXISTS cases_department_work_idx;
    DROP INDEX IF EXISTS cases_open_scope_idx;
    DROP INDEX IF EXISTS cases_duplicate_of_idx;
    """)
