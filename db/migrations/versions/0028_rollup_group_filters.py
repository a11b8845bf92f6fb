"""A table by grid or person under three filters reads one range of ``case_stat_group`` (issue 12 §2).

- ``case_stat_group_filters_idx`` on ``(grain, dim, level, channel, department_id, day)``: a
  grid or person table filtered by level, channel *and* department (the charts page's three
  filters beyond category and area, the combination ``case_stat_one`` does not hold: it keeps one
  filter or a pair) read every row of its period through the primary key, whose order
  (grain, dim, day, category_code, key_id, …) puts the filters after the day: all categories,
  grids and communities of each day were visited and thrown away. Measured at 1,000,000 cases on
  a quiet machine (docs/measurements.md, *Session 11*): the grid table under level + channel +
  department over a mid-month 30 days 181 → 36 ms; ``filtered_ratio`` 3.54 → 2.2. The index is
  39 MB against the primary key's 405 MB (B-tree deduplication: few distinct filter values per
  day); the counters are not in it, so an event's update of an existing roll-up row stays a
  candidate for a HOT update, and only a new row adds an entry.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0028
Revises: 0027
"""
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX case_stat_group_filters_idx ON case_stat_group (grain, dim, level, channel, department_id, day)")


def downgrade() -> None:
    op.execute("DROP INDEX case_stat_group_filters_idx")
