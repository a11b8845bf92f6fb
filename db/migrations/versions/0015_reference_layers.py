"""Reference layers kept per draft: roads, buildings or any other file a planner loads under the
grids of a draft (``planning.layers``).

- ``draft_reference_layer``: one loaded file (name, the file's own name, the coordinate system it
  was read in, counts, shown or hidden, who, when), belonging to one draft and deleted with it.
- ``draft_reference_feature``: its features, each a PostGIS geometry in WGS-84 (the one storage
  SRID, any geometry type) with its attributes (cut to a few short values) as JSON.

Geometry rather than a GeoJSON blob: stored in the same system and checked by the same database
as every other geometry, and simplified for display by PostGIS (``ST_SimplifyPreserveTopology``)
without reading the whole layer into Python. No spatial index: a layer is only ever read whole.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0015
Revises: 0010
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE draft_reference_layer (
        id serial PRIMARY KEY,
        draft_id integer NOT NULL REFERENCES boundary_draft(id) ON DELETE CASCADE,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        source text NOT NULL DEFAULT '' CHECK (length(source) <= 300),
        crs text NOT NULL,
        n_features integer NOT NULL CHECK (n_features >= 0),
        n_vertices integer NOT NULL CHECK (n_vertices >= 0),
        shown boolean NOT NULL DEFAULT true,
        created_by integer REFERENCES person(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (draft_id, name)
    );
    CREATE TABLE draft_reference_feature (
        layer_id integer NOT NULL REFERENCES draft_reference_layer(id) ON DELETE CASCADE,
        seq integer NOT NULL,
        geom geometry(Geometry, 4326) NOT NULL,
        properties jsonb NOT NULL DEFAULT '{}',
        PRIMARY KEY (layer_id, seq)
    );
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE IF EXISTS draft_reference_feature;
    DROP TABLE IF EXISTS draft_reference_layer;
    """)
