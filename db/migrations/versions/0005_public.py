"""The reporter's way back: satisfaction answers on closed cases and reopen requests.

- ``case_satisfaction``: one answer per case (满意 / 基本满意 / 不满意 and a comment), given
  once through the reporter's private status link after the case is closed. An unsatisfied
  answer may ask for the case to be looked at again (``reopen_requested``): the request waits
  for a dispatcher (``reopen_status`` pending → accepted / declined). Recording it changes no
  case status: ``dispatch.service.transition`` stays the only status changer.
- ``intake_request.status_token`` already exists (0003); the public website page writes an
  intake record without an API key for the same token.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0005
Revises: 0003 (another branch adds 0004; the chain is re-linked when they are merged)
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
REOPEN_STATUSES = ("pending", "accepted", "declined")


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE case_satisfaction (
        case_id bigint PRIMARY KEY REFERENCES cases(id) ON DELETE CASCADE,
        rating text NOT NULL CHECK (rating IN {_in(RATINGS)}),
        comment text NOT NULL DEFAULT '' CHECK (length(comment) <= 1000),
        answered_at timestamptz NOT NULL DEFAULT now(),
        reopen_requested boolean NOT NULL DEFAULT false,
        reopen_status text CHECK (reopen_status IN {_in(REOPEN_STATUSES)}),
        decided_at timestamptz,
        decided_by integer REFERENCES person(id),
        -- only an unsatisfied answer may ask for a second look, and then it has a queue state
        CHECK (NOT reopen_requested OR rating = 'unsatisfied'),
        CHECK (reopen_requested = (reopen_status IS NOT NULL)),
        CHECK (coalesce(reopen_status IN ('accepted', 'declined'), false) = (decided_at IS NOT NULL))
    );
    CREATE INDEX case_satisfaction_answered_idx ON case_satisfaction(answered_at);
    CREATE INDEX case_satisfaction_reopen_idx ON case_satisfaction(case_id) WHERE reopen_status = 'pending';
    """)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS case_satisfaction;")
