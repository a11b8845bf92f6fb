"""Binary COPY rows built from arrays (sample_data.bulk.BinaryRows) hold what PostgreSQL itself
makes of the same values: timestamps rounded as ``to_timestamp``, JSON with local times written
as a timestamptz is written into JSON (trailing zeros of the fraction dropped, the zone's offset
at that instant), text from short lists, NULLs."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from sample_data.bulk import (BinaryRows, copy_rows, digits_part, iso_part, offset_text, pg_microseconds, pieces_part,
                              utc_offsets)

EPOCHS = np.array([
    946684800.0, 1764138333.0, 1764138333.5, 1764138333.000001, 1764138333.12345, 1764138333.1234567,
    1699999999.9999996, 1000000000.25, 1793512800.0,  # whole, halves, a microsecond, rounding up to the next second
    1710054000.0, 1710054000.000002, 1730613599.999999,  # either side of North American DST changes
    *np.random.default_rng(3).uniform(1.6e9, 1.9e9, 200),
])
WORDS = (None, "reported", "非本辖区管理范围，不予立案", "", "it's")


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/St_Johns", "UTC"])
def test_rows_equal_what_postgres_makes_of_the_same_values(conn, zone):
    conn.execute(text("SELECT set_config('TimeZone', :z, true)"), {"z": zone})
    n = EPOCHS.size
    ids = np.arange(n, dtype=np.int64) * 7919 - 50
    word = np.arange(n) % len(WORDS)
    us = pg_microseconds(EPOCHS)
    offsets = utc_offsets(us, zone)
    tz, tz_code = np.unique(offsets, return_inverse=True)
    null = np.arange(n) % 4 == 0
    real = np.where(null, np.nan, EPOCHS / 1e6)

    rows = BinaryRows(n)
    rows.number(ids, "int8")
    rows.number(us, "timestamptz")
    rows.number(us, "timestamptz", null=null)
    rows.text(word, WORDS)
    rows.number(real.astype(np.float32), "float4", null=null)
    rows.number(ids % 3 == 0, "bool")
    rows.composite([pieces_part(np.zeros(n, np.intp), [b'{"at": "']), iso_part(us, offsets),
                    pieces_part(tz_code.ravel(), [f'{offset_text(int(o))}", "id": '.encode() for o in tz]),
                    digits_part(ids), pieces_part(np.zeros(n, np.intp), [b"}"])], prefix=b"\x01")
    conn.execute(text("CREATE TEMP TABLE _rows (id int8, at timestamptz, maybe timestamptz, word text, r real, "
                      "b bool, j jsonb) ON COMMIT DROP"))
    copy_rows(conn, "_rows", ["id", "at", "maybe", "word", "r", "b", "j"], [rows.tobytes()])

    bad = conn.execute(text("""
        SELECT r.id, r.at, r.j::text, x.j::text FROM _rows r
        JOIN (SELECT * FROM unnest(CAST(:id AS int8[]), CAST(:e AS float8[]), CAST(:w AS text[]), CAST(:r AS float8[]))
              AS x(id, e, w, r)) x0 ON x0.id = r.id
        CROSS JOIN LATERAL (SELECT jsonb_build_object('at', to_timestamp(x0.e), 'id', x0.id) AS j) x
        WHERE r.at <> to_timestamp(x0.e) OR r.maybe IS DISTINCT FROM CASE WHEN x0.r <> 'NaN' THEN to_timestamp(x0.e) END
           OR r.word IS DISTINCT FROM x0.w OR r.r IS DISTINCT FROM NULLIF(x0.r, 'NaN')::real
           OR r.b <> (x0.id % 3 = 0) OR r.j <> x.j"""),
        {"id": ids.tolist(), "e": EPOCHS.tolist(), "w": [WORDS[i] for i in word], "r": real.tolist()}).all()
    assert bad == []
    assert conn.execute(text("SELECT count(*) FROM _rows")).scalar() == n


def test_a_part_wider_than_a_row_length_byte_is_refused():
    rows = BinaryRows(2)
    rows.composite([(np.zeros((2, 300), np.uint8), np.array([1, 2]))])
    with pytest.raises(ValueError, match="300 bytes wide"):
        rows.tobytes()
