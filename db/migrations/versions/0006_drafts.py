"""The planner's drafts: named working copies of a scope's grids, edited step by step.

- ``boundary_draft``: one named draft (who, why, which district or communities, the boundary
  change that was live when it began, so a publish can tell whether someone else published over
  the same communities since).
- ``boundary_draft_responsibility`` / ``boundary_draft_grid``: a full copy of the scope's
  responsibility grids and unit grids; the planner edits these rows, never the live
  ``grid_version`` rows, until the draft is published (a new boundary change).
- ``boundary_draft_step``: every edit as asked plus the rows it changed as they were, for undo
  and for the record.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE boundary_draft (
        id serial PRIMARY KEY,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        reason text NOT NULL DEFAULT '' CHECK (length(reason) <= 2000),
        district_id integer NOT NULL REFERENCES district(id),
        scope_community_ids integer[],
        base_change_id integer REFERENCES boundary_change(id),
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'published', 'abandoned')),
        created_by integer REFERENCES person(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE boundary_draft_responsibility (
        draft_id integer NOT NULL REFERENCES boundary_draft(id) ON DELETE CASCADE,
        code text NOT NULL,
        name text NOT NULL,
        community_id integer NOT NULL REFERENCES community(id),
        responsibility_grid_id integer REFERENCES responsibility_grid(id),
        person_ids integer[] NOT NULL DEFAULT '{}',
        PRIMARY KEY (draft_id, code)
    );
    CREATE TABLE boundary_draft_grid (
        draft_id integer NOT NULL REFERENCES boundary_draft(id) ON DELETE CASCADE,
        code text NOT NULL,
        grid_id integer REFERENCES unit_grid(id),
        name text NOT NULL,
        community_id integer NOT NULL REFERENCES community(id),
        responsibility_code text,
        geom geometry(Polygon, 4326) NOT NULL,
        retired boolean NOT NULL DEFAULT false,
        PRIMARY KEY (draft_id, code)
    );
    CREATE INDEX boundary_draft_grid_gix ON boundary_draft_grid USING gist (geom);
    CREATE TABLE boundary_draft_step (
        draft_id integer NOT NULL REFERENCES boundary_draft(id) ON DELETE CASCADE,
        seq integer NOT NULL,
        op jsonb NOT NULL,
        before jsonb NOT NULL,
        actor_id integer REFERENCES person(id),
        at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (draft_id, seq)
    );
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE IF EXISTS boundary_draft_step;
    DROP TABLE IF EXISTS boundary_draft_grid;
    DROP TABLE IF EXISTS boundary_draft_responsibility;
    DROP TABLE IF EXISTS boundary_draft;
    """)
