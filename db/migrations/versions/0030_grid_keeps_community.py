"""A unit grid keeps its community: the database refuses to change ``unit_grid.community_id``.

A grid's code carries its community (the code layout), so moving a grid to another community
gives it the next free code there and retires the old code (``planning.edits.move_grid``);
``import-grids`` and the publish only ever write a code's own community. This makes that a rule of
the database, for one reason beyond the codes: the indicator roll-ups store each delta under the
community of its grid when it was collected (``case_stat_cut``, ``case_stat_group``,
``case_stat_one``), while the charts put the open cases under their grid's community *now*
(``stats.indicators``: a past period's open count is the open cases now minus the deltas since).
Both agree only while no grid ever changes community; a change in place would shift a past
period's figures by area between the old and the new community with no error anywhere.

A ``BEFORE UPDATE OF community_id`` row trigger with a ``WHEN`` on the change itself, so
``apply_boundary_change``'s update of every published grid (which writes the same community
back) does not enter PL/pgSQL. ``planning.publish`` refuses such a draft first with a message.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0030
Revises: 0029
"""
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE FUNCTION unit_grid_keeps_community() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'unit grid %: a grid keeps its community (its code carries it); to move it to another community, give it a new code there and retire this one', OLD.code
            USING ERRCODE = 'check_violation';
    END $$;
    CREATE TRIGGER unit_grid_keeps_community BEFORE UPDATE OF community_id ON unit_grid
        FOR EACH ROW WHEN (OLD.community_id IS DISTINCT FROM NEW.community_id)
        EXECUTE FUNCTION unit_grid_keeps_community();
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS unit_grid_keeps_community ON unit_grid; "
               "DROP FUNCTION IF EXISTS unit_grid_keeps_community()")
