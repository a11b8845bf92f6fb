"""Intake service (Open311 GeoReport v2): API keys, the intake record of each report,
idempotency keys, possible-duplicate links and the service attributes.

- ``intake_api_key``: one key per channel or integrator, stored as the sha256 of a long random
  key (the key itself is printed once and never stored); revoked keys stay for the record.
- ``intake_request``: what an Open311 client sent besides the case itself (attributes, contact
  e-mail, device and account ids, the client's media URL, the photo's GPS hint) and the private
  status token the reporter can follow the case with. The case is in ``cases`` (written by
  ``dispatch.service.report_case``).
- ``intake_idempotency``: (key, idempotency key) → the hash of the body and the first answer; the
  row is inserted in the same transaction as the case, so two simultaneous identical posts make
  one case (the second insert waits for the first transaction and then finds the row).
- ``case_possible_duplicate``: an open case of the same category within 50 m reported in the
  last 30 days; pending until a dispatcher confirms or rejects it. Never drops a report.
- ``intake_service_attribute``: the Open311 service definitions' attributes per category.

Frozen: every constant is written here; no project code is imported.

Revision ID: 0003
Revises: 0002
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CHANNELS = ("grid_worker", "hotline", "wechat", "website", "other")
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
DUPLICATE_STATUSES = ("pending", "confirmed", "rejected")

# (service_code, code, datatype, required, order, description, description_en, values)
# values: [(key, name, name_en)]
ATTRIBUTES = [
    ("0102", "amount", "singlevaluelist", True, 1, "垃圾数量", "Amount of garbage",
     [("small", "少量（一袋以内）", "Small (one bag)"), ("medium", "中等（一车以内）", "Medium (one cart)"),
      ("large", "大量", "Large")]),
    ("0301", "noise_since", "datetime", False, 1, "噪声开始时间", "Noise since", []),
    ("0401", "goods", "multivaluelist", False, 1, "经营品类", "Goods sold",
     [("food", "食品", "Food"), ("fruit", "水果蔬菜", "Fruit and vegetables"), ("clothing", "服装", "Clothing"),
      ("other", "其他", "Other")]),
    ("0402", "plate", "string", False, 1, "车牌号", "Number plate", []),
    ("0502", "smell_now", "singlevaluelist", True, 1, "现场是否仍有燃气气味", "Can gas still be smelt",
     [("yes", "仍有气味", "Yes"), ("no", "已无气味", "No")]),
    ("1101", "cover_state", "singlevaluelist", True, 1, "井盖状况", "State of the cover",
     [("missing", "缺失", "Missing"), ("broken", "破损", "Broken"), ("displaced", "移位", "Displaced")]),
    ("1101", "on_roadway", "singlevaluelist", False, 2, "是否位于机动车道", "On the carriageway",
     [("yes", "是", "Yes"), ("no", "否", "No")]),
    ("1102", "lamp_count", "number", False, 1, "不亮的路灯数量", "Number of lamps out", []),
]


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE intake_api_key (
        id serial PRIMARY KEY,
        channel text NOT NULL CHECK (channel IN {_in(CHANNELS)}),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        key_sha256 text NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{{64}}$'),
        key_prefix text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
    );

    CREATE TABLE intake_request (
        case_id bigint PRIMARY KEY REFERENCES cases(id) ON DELETE CASCADE,
        api_key_id integer REFERENCES intake_api_key(id),
        status_token text NOT NULL UNIQUE CHECK (length(status_token) BETWEEN 20 AND 100),
        attributes jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        email text CHECK (length(email) <= 200),
        first_name text CHECK (length(first_name) <= 100),
        last_name text CHECK (length(last_name) <= 100),
        device_id text CHECK (length(device_id) <= 200),
        account_id text CHECK (length(account_id) <= 200),
        media_url text CHECK (length(media_url) <= 1000),
        photo_gps_lon double precision,
        photo_gps_lat double precision,
        received_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX intake_request_key_idx ON intake_request(api_key_id);

    CREATE TABLE intake_idempotency (
        api_key_id integer NOT NULL REFERENCES intake_api_key(id) ON DELETE CASCADE,
        idem_key text NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 300),
        body_sha256 text NOT NULL,
        case_id bigint REFERENCES cases(id) ON DELETE CASCADE,
        response jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (api_key_id, idem_key)
    );

    CREATE TABLE case_possible_duplicate (
        case_id bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        candidate_id bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        distance_m double precision NOT NULL CHECK (distance_m >= 0),
        status text NOT NULL DEFAULT 'pending' CHECK (status IN {_in(DUPLICATE_STATUSES)}),
        found_at timestamptz NOT NULL DEFAULT now(),
        decided_at timestamptz,
        decided_by integer REFERENCES person(id),
        PRIMARY KEY (case_id, candidate_id),
        CHECK (case_id <> candidate_id),
        CHECK ((status = 'pending') = (decided_at IS NULL))
    );
    CREATE INDEX case_possible_duplicate_candidate_idx ON case_possible_duplicate(candidate_id);
    CREATE INDEX case_possible_duplicate_pending_idx ON case_possible_duplicate(case_id) WHERE status = 'pending';

    CREATE TABLE intake_service_attribute (
        -- no foreign key: categories are seeded after the migrations (with the reference data),
        -- and an attribute of a category that does not exist is simply never shown
        service_code text NOT NULL CHECK (service_code ~ '^[0-9]{{4}}$'),
        code text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_]{{0,39}}$'),
        datatype text NOT NULL CHECK (datatype IN {_in(DATATYPES)}),
        required boolean NOT NULL DEFAULT false,
        "order" integer NOT NULL DEFAULT 1,
        description text NOT NULL,
        description_en text,
        "values" jsonb NOT NULL DEFAULT '[]'::jsonb,
        PRIMARY KEY (service_code, code),
        CHECK ((datatype IN ('singlevaluelist', 'multivaluelist')) = (jsonb_array_length("values") > 0))
    );
    """)
    rows = [{"s": s, "c": c, "d": d, "r": r, "o": o, "zh": zh, "en": en,
             "v": json.dumps([{"key": k, "name": n, "name_en": ne} for k, n, ne in vals], ensure_ascii=False)}
            for s, c, d, r, o, zh, en, vals in ATTRIBUTES]
    op.get_bind().execute(sa.text(
        'INSERT INTO intake_service_attribute(service_code, code, datatype, required, "order", description, '
        'description_en, "values") VALUES (:s, :c, :d, :r, :o, :zh, :en, CAST(:v AS jsonb))'), rows)


def downgrade() -> None:
    op.execute("""
    DROP TABLE IF EXISTS intake_service_attribute, case_possible_duplicate, intake_idempotency,
        intake_request, intake_api_key;
    """)
