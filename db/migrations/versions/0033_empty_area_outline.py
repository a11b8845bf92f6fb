"""An area left with no live grid has no outline.

``apply_boundary_change`` set each touched community's outline (and its subdistrict's) to the
union of its live grids — only for those that still had one. A community whose every grid moved
to another (two communities merged: ``move_grid`` gives each grid a new code in the other one and
retires the old) kept its old outline: the wall and the planner's map went on drawing it, with its
name, over the community that took its grids, and the validator took its land for its own. Now
such a community's outline, and a subdistrict's with no live grid left, is set to NULL (every
reader already skips areas without one); the rows stay (closed cases and the roll-ups name them).

The function is patched where it stands (its text from ``pg_get_functiondef``, one statement
inserted after the subdistricts' update, checked to be found once), so its 130 lines are not
copied here; the downgrade takes the statement out again.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0033
Revises: 0032
"""
from alembic import op
from sqlalchemy import text

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

ANCHOR = """        WHERE s.id = u.subdistrict_id;
"""
ADDED = """        -- an area left with no live grid has no outline (0033): merged into another one
        UPDATE community c SET geom = NULL
            WHERE c.id = ANY(touched) AND c.geom IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id
                              AND gv.valid_to IS NULL WHERE g.community_id = c.id);
        UPDATE subdistrict s SET geom = NULL
            WHERE s.id IN (SELECT subdistrict_id FROM community WHERE id = ANY(touched)) AND s.geom IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM community c JOIN unit_grid g ON g.community_id = c.id
                              JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
                              WHERE c.subdistrict_id = s.id);
"""


def _definition() -> str:
    return op.get_bind().execute(text(
        "SELECT pg_get_functiondef('apply_boundary_change(integer, timestamptz)'::regprocedure)")).scalar_one()


def upgrade() -> None:
    body = _definition()
    if body.count(ANCHOR) != 1 or ADDED in body:
        raise RuntimeError("apply_boundary_change is not the function 0033 expects (0007, 0014)")
    op.execute(body.replace(ANCHOR, ANCHOR + ADDED))


def downgrade() -> None:
    body = _definition()
    if body.count(ADDED) != 1:
        raise RuntimeError("apply_boundary_change does not hold 0033's statement")
    op.execute(body.replace(ADDED, ""))
