"""Intake rate limits shared by every intake process: token buckets in PostgreSQL.

- ``intake_rate_bucket`` (UNLOGGED: no WAL, emptied by a crash, which only refills every
  bucket): one row per limited party (``a:<address>`` or ``k:<API key id>``) with its tokens,
  whether the last request took one, and when it was last counted.
- ``intake_take_token(who, rate, burst)``: one UPSERT refills the bucket at ``rate`` per second
  up to ``burst`` and takes a token if one is there. Returns 0 when the request may go on, else
  the seconds until a token is back (for ``Retry-After``). The row lock of the UPSERT makes it
  correct across uvicorn workers and hosts sharing the database. Idle rows are swept now and then.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE UNLOGGED TABLE intake_rate_bucket (
        who text PRIMARY KEY CHECK (length(who) BETWEEN 1 AND 300),
        tokens double precision NOT NULL,
        taken boolean NOT NULL,
        at timestamptz NOT NULL
    );

    CREATE FUNCTION intake_take_token(p_who text, p_rate double precision, p_burst double precision)
    RETURNS double precision LANGUAGE plpgsql AS $$
    DECLARE
        t double precision;
        ok boolean;
        now_ timestamptz := clock_timestamp();
        cap double precision := greatest(p_burst, 1.0);
    BEGIN
        IF p_rate IS NULL OR p_rate <= 0 THEN
            RETURN 0;
        END IF;
        INSERT INTO intake_rate_bucket AS b (who, tokens, taken, at) VALUES (p_who, cap - 1, true, now_)
        ON CONFLICT (who) DO UPDATE SET
            tokens = CASE WHEN least(cap, b.tokens + greatest(0, extract(epoch FROM now_ - b.at)) * p_rate) >= 1
                          THEN least(cap, b.tokens + greatest(0, extract(epoch FROM now_ - b.at)) * p_rate) - 1
                          ELSE least(cap, b.tokens + greatest(0, extract(epoch FROM now_ - b.at)) * p_rate) END,
            taken = least(cap, b.tokens + greatest(0, extract(epoch FROM now_ - b.at)) * p_rate) >= 1,
            at = now_
        RETURNING tokens, taken INTO t, ok;
        IF random() < 0.0005 THEN  -- forget the idle: a bucket full for an hour is the default anyway
            DELETE FROM intake_rate_bucket WHERE at < now_ - interval '1 hour';
        END IF;
        IF ok THEN
            RETURN 0;
        END IF;
        RETURN (1 - t) / p_rate;
    END $$;
    """)


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION IF EXISTS intake_take_token(text, double precision, double precision);
    DROP TABLE IF EXISTS intake_rate_bucket;
    """)
