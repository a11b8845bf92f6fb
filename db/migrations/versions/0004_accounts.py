"""Accounts: failed sign-ins recorded for throttling, and single sign-on identities per person.

- ``login_failure``: one row per failed sign-in, with the username typed (known or not), the
  person it named (if any) and the client's address; the throttle (``accounts/throttle.py``)
  counts recent rows per username and per address. Rows are kept (an audit trail of attacks);
  a successful sign-in does not delete them, the throttle only looks at a recent window.
- ``person.sso_issuer`` / ``person.sso_subject``: the identity provider's issuer and subject
  (``iss``, ``sub``) an administrator linked to the account (``manage.py link-sso``); single
  sign-on finds the person by this pair only, never by a display name or an e-mail address.

Revision ID: 0004
Revises: 0002 (0003_intake is added on another branch; the chain is fixed when they are merged)
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MAX_USERNAME = 200     # what is stored of a typed username (the form accepts anything)
MAX_ADDRESS = 64       # an IPv6 address with a zone fits


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE login_failure (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        username text NOT NULL CHECK (length(username) <= {MAX_USERNAME}),
        person_id integer REFERENCES person(id) ON DELETE SET NULL,
        client_address text CHECK (length(client_address) <= {MAX_ADDRESS})
    );
    CREATE INDEX login_failure_username_at ON login_failure (lower(username), at);
    CREATE INDEX login_failure_address_at ON login_failure (client_address, at) WHERE client_address IS NOT NULL;

    ALTER TABLE person
        ADD COLUMN sso_issuer text,
        ADD COLUMN sso_subject text,
        ADD CONSTRAINT person_sso_pair CHECK ((sso_issuer IS NULL) = (sso_subject IS NULL)),
        ADD CONSTRAINT person_sso_unique UNIQUE (sso_issuer, sso_subject);
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE person
        DROP CONSTRAINT person_sso_unique,
        DROP CONSTRAINT person_sso_pair,
        DROP COLUMN sso_subject,
        DROP COLUMN sso_issuer;
    DROP TABLE login_failure;
    """)
