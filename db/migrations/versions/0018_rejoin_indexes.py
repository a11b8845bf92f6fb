"""Fewer index entries per moved case: the re-assignment's update of open cases (issue 10).

A case moved by ``reassign_open_cases`` changes ``grid_id``, ``community_id`` and
``subdistrict_id``, which are indexed, so its update is never HOT and every index of ``cases``
whose predicate the row meets gets an entry. Three of those entries did not earn their place
for an open case:

- ``cases_geom_gix`` (GiST on every case's point): an open case was in it *and* in
  ``cases_open_geom_gix`` (0007), two GiST inserts per moved case. It is replaced by
  ``cases_closed_geom_gix`` over the terminal cases only (closed, rejected, merged), the exact
  complement of the open one: every point is in exactly one of the two. A reader over every
  status asks for both halves (``db.statuses.any_status_sql``: ``status NOT IN (…) OR status IN
  (…)``), which the planner answers with a BitmapOr of the two partial indexes (the merge
  candidates of the dispatch desk, the planner's 90-day workload).
- ``cases_department_idx`` on every case, NULLs included: a case not yet dispatched has no
  department. Now partial, ``department_id IS NOT NULL``: every reader asks for one department
  (``department_id = …``), which implies the predicate.
- ``cases_open_due_idx`` (open cases by deadline, NULL deadlines included): its readers are the
  overdue and at-risk lists and the wall's deadline classes, whose conditions (``due_at < now``,
  ``due_at >= now``) imply ``due_at IS NOT NULL``, so ``cases_open_overdue_idx`` (0016: open cases
  with a deadline, by deadline) serves them; a scan of every open case uses the other open
  indexes. Dropped.

``case_event_stamp_case`` (0010, narrowed by 0014) now fires only when the writer gives no
channel: ``channel`` is NOT NULL on ``cases``, so a writer that gives it read it from the case
and gives the case's category with it, NULL when the case has none (the re-assignment, the
history player). Before, every ``regrid`` event of a case without a category entered the
trigger to look the same NULL up again.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0018
Revises: 0016
"""
from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None

TERMINAL = "('closed', 'rejected', 'merged')"


def upgrade() -> None:
    op.execute(f"""
    CREATE INDEX cases_closed_geom_gix ON cases USING gist (geom) WHERE status IN {TERMINAL};
    DROP INDEX cases_geom_gix;
    DROP INDEX cases_department_idx;
    CREATE INDEX cases_department_idx ON cases(department_id) WHERE department_id IS NOT NULL;
    DROP INDEX cases_open_due_idx;
    DROP TRIGGER case_event_stamp_case ON case_event;
    CREATE TRIGGER case_event_stamp_case BEFORE INSERT ON case_event
        FOR EACH ROW WHEN (NEW.channel IS NULL)
        EXECUTE FUNCTION case_event_stamp_case();
    """)


def downgrade() -> None:
    op.execute(f"""
    DROP TRIGGER case_event_stamp_case ON case_event;
    CREATE TRIGGER case_event_stamp_case BEFORE INSERT ON case_event
        FOR EACH ROW WHEN (NEW.category_code IS NULL OR NEW.channel IS NULL)
        EXECUTE FUNCTION case_event_stamp_case();
    CREATE INDEX cases_open_due_idx ON cases(due_at) WHERE status NOT IN {TERMINAL};
    DROP INDEX cases_department_idx;
    CREATE INDEX cases_department_idx ON cases(department_id);
    CREATE INDEX cases_geom_gix ON cases USING gist (geom);
    DROP INDEX cases_closed_geom_gix;
    """)
