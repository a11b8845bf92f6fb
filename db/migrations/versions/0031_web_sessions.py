"""A signed-in browser tab survives a reload: ``web_session``, one row per sign-in.

A Streamlit session lives in the server's memory and ends with the page: a reload (a phone that
opened its camera app, a video wall after a network blip, ``?lang=en``) started a new one and
asked for the password again. Now a sign-in also makes a random token (32 bytes), kept in the
browser as a session cookie (gone when the browser quits; ``SameSite=Strict``) and here only as
its SHA-256, so a copy of this table signs nobody in. A new page session with the cookie takes
the person back if the row is not revoked, was seen within the idle time and is younger than the
session's maximum age, and the person is still active (``accounts.sessions``). Signing out, the
idle time-out and a deactivated account revoke the row.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0031
Revises: 0030
"""
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE web_session (
        token_sha256 bytea PRIMARY KEY CHECK (length(token_sha256) = 32),
        person_id integer NOT NULL REFERENCES person(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        client_address text
    );
    CREATE INDEX web_session_person_idx ON web_session(person_id) WHERE revoked_at IS NULL;
    COMMENT ON TABLE web_session IS 'signed-in browser sessions (the SHA-256 of the cookie token only), so a reload keeps the sign-in';
    """)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS web_session")
