"""Cases and events partitioned by month (migration 0024): rows land in their month, a month not
made yet lands in DEFAULT and is moved by the maintenance function, and the rules of the plain
tables still hold (append-only event log, one grid per point, foreign keys, unique ids and case
numbers). The last test converts a database that already holds cases, and back."""
from __future__ import annotations

import os
import re
import subprocess
from datetime import datetime, timedelta

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from db.cluster import PG_BIN
from db.config import TIME_ZONE
from db.migrate import alembic_config, downgrade, upgrade
from db.partitions import ensure_partitions, is_partitioned, live_months, partition_list, partition_of
from dispatch import desk, queries, service
from dispatch.calendar import TZ
from intake.reports import public_history
from tests.factories import scratch_database
from tests.world import PATH_TO, bring_to, build_world, params_for
from wall.dispatch_map import case_position
from wall.frame import WallFilter, kpis, local_midnight
from wall.live_map import open_columns


def month_name(table: str, at: datetime) -> str:
    local = at.astimezone(TZ)
    return f"{table}_p{local:%Y_%m}"


def roll_up(conn) -> tuple:
    return conn.execute(text(
        "SELECT (SELECT count(*) FROM case_stat_day), (SELECT sum(reported) FROM case_stat_day), "
        "(SELECT count(*) FROM case_stat_cut), (SELECT sum(reported) FROM case_stat_cut)")).one()


def test_the_tables_are_partitioned_with_a_default_and_months_ahead(conn):
    assert is_partitioned(conn, "cases") and is_partitioned(conn, "case_event")
    now = conn.execute(text("SELECT now()")).scalar_one()
    for table in ("cases", "case_event"):
        names = [p.name for p in partition_list(conn, table)]
        assert names[-1] == f"{table}_default"
        for ahead in range(0, 4):  # this month and three ahead
            m = (now.astimezone(TZ).replace(day=15) + timedelta(days=31 * ahead))
            assert month_name(table, m) in names


def test_a_case_two_years_old_and_one_of_today_land_in_their_months(conn):
    w = build_world(conn)
    now = conn.execute(text("SELECT now()")).scalar_one()
    old_at = now - timedelta(days=730)
    made = ensure_partitions(conn, since=old_at)
    assert made >= 2 * 20  # about 21 months back for each table
    old = service.report_case(conn, channel="hotline", lon=0.5, lat=0.5, reported_at=old_at)
    new = service.report_case(conn, channel="hotline", lon=1.5, lat=0.5)
    assert partition_of(conn, "cases", old["id"]) == month_name("cases", old_at)
    assert partition_of(conn, "cases", new["id"]) == month_name("cases", now)
    events = dict(conn.execute(text(
        "SELECT case_id, tableoid::regclass::text FROM case_event WHERE case_id IN (:a, :b)"),
        {"a": old["id"], "b": new["id"]}).all())
    assert events == {old["id"]: month_name("case_event", old_at), new["id"]: month_name("case_event", now)}
    # the one-grid rule ran in both months
    assert (old["grid_id"], new["grid_id"]) == (w.grid["C1"], w.grid["C2"])
    keys = conn.execute(text("SELECT id, case_no FROM case_key WHERE id IN (:a, :b) ORDER BY id"),
                        {"a": old["id"], "b": new["id"]}).all()
    assert [tuple(k) for k in keys] == [(old["id"], old["case_no"]), (new["id"], new["case_no"])]


def test_a_case_beyond_the_made_months_lands_in_default_and_is_moved_once(conn):
    build_world(conn)
    now = conn.execute(text("SELECT now()")).scalar_one()
    far = now + timedelta(days=300)  # ten months ahead: no partition yet
    before = roll_up(conn)
    row = service.report_case(conn, channel="wechat", lon=0.5, lat=0.5, reported_at=far)
    assert partition_of(conn, "cases", row["id"]) == "cases_default"
    assert conn.execute(text("SELECT tableoid::regclass::text FROM case_event WHERE case_id = :c"),
                        {"c": row["id"]}).scalar_one() == "case_event_default"
    counted = roll_up(conn)
    assert counted != before
    assert ensure_partitions(conn) >= 2
    assert partition_of(conn, "cases", row["id"]) == month_name("cases", far)
    assert conn.execute(text("SELECT tableoid::regclass::text FROM case_event WHERE case_id = :c"),
                        {"c": row["id"]}).scalar_one() == month_name("case_event", far)
    assert conn.execute(text("SELECT count(*) FROM cases_default")).scalar_one() == 0
    assert conn.execute(text("SELECT count(*) FROM case_event_default")).scalar_one() == 0
    # moved, not re-inserted: the grid stamp, the key and the roll-ups are as they were
    moved = conn.execute(text("SELECT * FROM cases WHERE id = :c"), {"c": row["id"]}).mappings().one()
    assert (moved["case_no"], moved["grid_id"], moved["reported_grid_version_id"]) == (
        row["case_no"], row["grid_id"], row["reported_grid_version_id"])
    assert conn.execute(text("SELECT case_no FROM case_key WHERE id = :c"), {"c": row["id"]}).scalar_one() == row["case_no"]
    assert roll_up(conn) == counted
    # the new month has the parent's indexes and rules
    assert ensure_partitions(conn) == 0
    part = month_name("case_event", far)
    triggers = set(conn.execute(text("SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:p AS regclass)"),
                                {"p": part}).scalars())
    assert {"case_event_append_only", "case_event_no_truncate", "case_event_stamp_case"} <= triggers
    assert conn.execute(text("SELECT count(*) FROM pg_indexes WHERE tablename = :p"), {"p": part}).scalar_one() >= 3


def test_the_event_log_stays_append_only_for_the_application(conn):
    build_world(conn)
    row = service.report_case(conn, channel="hotline", lon=0.5, lat=0.5)
    part = conn.execute(text("SELECT tableoid::regclass::text FROM case_event WHERE case_id = :c"),
                        {"c": row["id"]}).scalar_one()
    assert part != "case_event"
    for sql in ("UPDATE case_event SET comment = 'x' WHERE case_id = :c", "DELETE FROM case_event WHERE case_id = :c",
                f"UPDATE {part} SET comment = 'x' WHERE case_id = :c", f"DELETE FROM {part} WHERE case_id = :c"):
        with pytest.raises(DBAPIError, match="append-only|permission denied"):
            with conn.begin_nested():
                conn.execute(text(sql), {"c": row["id"]})


def test_the_event_log_stays_append_only_on_every_partition_for_the_owner(owner_conn):
    """The owner, naming a partition itself, is refused by the trigger too (TRUNCATE included)."""
    owner_conn.execute(text("INSERT INTO case_key VALUES (-1, 'P-TEST', now())"))
    owner_conn.execute(text("INSERT INTO case_event (case_id, action) VALUES (-1, 'note')"))
    part = owner_conn.execute(text("SELECT tableoid::regclass::text FROM case_event WHERE case_id = -1")).scalar_one()
    assert part != "case_event"
    for sql in (f"UPDATE {part} SET comment = 'x' WHERE case_id = -1", f"DELETE FROM {part} WHERE case_id = -1",
                "DELETE FROM case_event WHERE case_id = -1", f"TRUNCATE {part}", "TRUNCATE case_event_default"):
        with pytest.raises(DBAPIError, match="append-only"):
            with owner_conn.begin_nested():
                owner_conn.execute(text(sql))


def test_the_one_grid_rule_and_the_immutable_location_hold(conn):
    w = build_world(conn)
    now = conn.execute(text("SELECT now()")).scalar_one()
    ensure_partitions(conn, since=now - timedelta(days=400))
    for at in (now - timedelta(days=380), now):
        row = service.report_case(conn, channel="hotline", lon=2.5, lat=0.5, reported_at=at)
        assert (row["grid_id"], row["outside_jurisdiction"]) == (w.grid["C3"], False)
        with pytest.raises(DBAPIError, match="immutable"):
            with conn.begin_nested():
                conn.execute(text("UPDATE cases SET geom = ST_SetSRID(ST_MakePoint(0.5, 0.5), 4326) WHERE id = :c"),
                             {"c": row["id"]})
    outside = service.report_case(conn, channel="hotline", lon=50, lat=50)
    assert outside["outside_jurisdiction"] and outside["grid_id"] is None


def test_ids_and_case_numbers_stay_unique_and_foreign_keys_hold_across_months(conn):
    build_world(conn)
    now = conn.execute(text("SELECT now()")).scalar_one()
    ensure_partitions(conn, since=now - timedelta(days=100))
    row = service.report_case(conn, channel="hotline", lon=0.5, lat=0.5)
    other_month = now - timedelta(days=95)
    insert = ("INSERT INTO cases (id, case_no, channel, received_x, received_y, received_crs, geom, reported_at) "
              "VALUES (:id, :no, 'hotline', 0.5, 0.5, 'EPSG:4326', ST_SetSRID(ST_MakePoint(0.5, 0.5), 4326), :at)")
    with pytest.raises(IntegrityError, match="already taken|case_key_pkey"):
        with conn.begin_nested():
            conn.execute(text(insert), {"id": row["id"], "no": "X-1", "at": other_month})
    with pytest.raises(IntegrityError, match="case_key_case_no_key"):
        with conn.begin_nested():
            conn.execute(text(insert), {"id": 10**12, "no": row["case_no"], "at": other_month})
    with pytest.raises(IntegrityError, match="case_event_case_id_fkey"):
        with conn.begin_nested():
            conn.execute(text("INSERT INTO case_event (case_id, action) VALUES (:c, 'note')"), {"c": 10**12 + 1})
    with pytest.raises(IntegrityError, match="case_event_case_id_fkey"):  # a case with history cannot go
        with conn.begin_nested():
            conn.execute(text("DELETE FROM cases WHERE id = :c"), {"c": row["id"]})
    # a case without history can; its key goes with it and the cascades run
    bare = conn.execute(text(insert + " RETURNING id"), {"id": 10**12 + 2, "no": "X-2", "at": now}).scalar_one()
    conn.execute(text("INSERT INTO case_satisfaction (case_id, rating) VALUES (:c, 'satisfied')"), {"c": bare})
    conn.execute(text("DELETE FROM cases WHERE id = :c"), {"c": bare})
    assert conn.execute(text("SELECT count(*) FROM case_key WHERE id = :c"), {"c": bare}).scalar_one() == 0
    assert conn.execute(text("SELECT count(*) FROM case_satisfaction WHERE case_id = :c"), {"c": bare}).scalar_one() == 0
    # moving a case to another month by its report time keeps its key (and its history)
    conn.execute(text("UPDATE cases SET reported_at = :at WHERE id = :c"), {"at": other_month, "c": row["id"]})
    assert partition_of(conn, "cases", row["id"]) == month_name("cases", other_month)
    assert conn.execute(text("SELECT reported_at FROM case_key WHERE id = :c"), {"c": row["id"]}).scalar_one() == other_month


def _snapshot(conn) -> dict:
    """Every row and every count the conversion must keep."""
    out = {}
    for table in ("cases", "case_event", "case_department", "case_stat_day", "case_stat_cut"):
        out[table] = conn.execute(text(
            f"SELECT count(*), COALESCE(sum(hashtext(t::text)::numeric), 0) FROM {table} t")).one()
    out["cases_id_seq"] = conn.execute(text("SELECT last_value FROM cases_id_seq")).scalar_one()
    out["case_event_id_seq"] = conn.execute(text("SELECT last_value FROM case_event_id_seq")).scalar_one()
    out["case_no_seq"] = conn.execute(text("SELECT last_value FROM case_no_seq")).scalar_one()
    out["queue"] = conn.execute(text("SELECT count(*) FROM outside_jurisdiction_queue")).scalar_one()
    out["open"] = conn.execute(text(
        "SELECT count(*) FROM cases WHERE status NOT IN ('closed', 'rejected', 'merged')")).scalar_one()
    out["triggers"] = sorted(conn.execute(text(
        "SELECT tgrelid::regclass::text || '.' || tgname || ':' || tgenabled::text FROM pg_trigger "
        "WHERE tgrelid IN ('cases'::regclass, 'case_event'::regclass) AND NOT tgisinternal "
        "AND tgname NOT LIKE 'cases_key_%'")).scalars())
    out["indexes"] = sorted(conn.execute(text(
        "SELECT indexname FROM pg_indexes WHERE tablename IN ('cases', 'case_event') "
        "AND indexname NOT IN ('cases_case_no_idx', 'cases_case_no_key')")).scalars())
    out["checks"] = sorted(conn.execute(text(
        "SELECT conname FROM pg_constraint WHERE conrelid IN ('cases'::regclass, 'case_event'::regclass) "
        "AND contype IN ('c', 'f') AND conparentid = 0")).scalars())
    out["grants"] = sorted(conn.execute(text(
        "SELECT grantee || ':' || table_name || ':' || privilege_type FROM information_schema.role_table_grants "
        "WHERE table_name IN ('cases', 'case_event', 'outside_jurisdiction_queue')")).scalars())
    return out


def _lend_later_columns(conn) -> list[str]:
    """Add to an older schema's ``cases`` the columns of ``db.models.Case`` that later migrations
    added (today's lifecycle service writes some on every move: 0035's ``accept_due_at`` on a
    dispatch), so the service can make the histories; the caller drops them again, leaving the rows
    as that revision holds them. Their names."""
    from db.models import Case

    have = set(conn.execute(text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'cases'")).scalars())
    lent = [c for c in Case.__table__.columns if c.name not in have]
    for c in lent:
        conn.execute(text(f'ALTER TABLE cases ADD COLUMN "{c.name}" {c.type.compile(dialect=conn.dialect)}'))
    return [c.name for c in lent]


def test_the_migration_converts_a_database_with_cases_and_back_keeping_every_row():
    with scratch_database("partitions", migrate=False) as url:
        before = ScriptDirectory.from_config(alembic_config(url)).get_revision("0024").down_revision
        upgrade(url, before)
        eng = create_engine(url, connect_args={"options": f"-c timezone={TIME_ZONE}"})
        try:
            with eng.begin() as conn:
                lent = _lend_later_columns(conn)
                w = build_world(conn)
                now = conn.execute(text("SELECT now()")).scalar_one()
                for i in range(40):  # 40 cases over 20 months
                    service.report_case(conn, channel="hotline", lon=0.5 + (i % 3), lat=0.5,
                                        reported_at=now - timedelta(days=15 * i), category_code="0102")
                for status in ("closed", "dispatched", "postponed", "rejected", "merged"):  # histories, departments
                    bring_to(w, status)
                service.report_case(conn, channel="hotline", lon=50, lat=50)  # outside: in the queue
                for name in lent:
                    conn.execute(text(f'ALTER TABLE cases DROP COLUMN "{name}"'))
            with eng.connect() as conn:
                old = _snapshot(conn)
            schema = _schema(url)
            upgrade(url, "0024")
            with eng.connect() as conn:
                assert is_partitioned(conn, "cases") and is_partitioned(conn, "case_event")
                new = _snapshot(conn)
                assert new == old
                assert conn.execute(text("SELECT count(*) FROM case_key")).scalar_one() == old["cases"][0]
                assert conn.execute(text(  # the open set is known to the key table
                    "SELECT count(*) FILTER (WHERE (k.ended_at IS NULL) <> (c.status NOT IN ('closed', 'rejected', "
                    "'merged'))), count(*) FILTER (WHERE k.ended_at IS NULL) FROM case_key k JOIN cases c USING (id)")
                    ).one() == (0, old["open"])
                assert conn.execute(text(  # ... and the duplicates
                    "SELECT count(*) FILTER (WHERE k.duplicate_of IS DISTINCT FROM c.duplicate_of), "
                    "count(k.duplicate_of) FROM case_key k JOIN cases c USING (id)")).one() == (0, 1)
                assert conn.execute(text("SELECT count(*) FROM cases_default")).scalar_one() == 0
                months = {p.name for p in partition_list(conn, "cases")}
                assert month_name("cases", now - timedelta(days=15 * 39)) in months
            with eng.begin() as conn:  # the converted tables take new work
                row = service.report_case(conn, channel="hotline", lon=0.5, lat=0.5)
                assert partition_of(conn, "cases", row["id"]) == month_name("cases", row["reported_at"])
                assert row["id"] > old["cases_id_seq"]
            with eng.connect() as conn:
                grown = _snapshot(conn)
            downgrade(url, before)
            with eng.connect() as conn:
                assert not is_partitioned(conn, "cases")
                assert _snapshot(conn) == grown
                assert conn.execute(text("SELECT to_regclass('case_key')")).scalar() is None
            assert _schema(url) == schema  # byte for byte, as pg_dump writes it
        finally:
            eng.dispose()


def _schema(url: str) -> str:
    """``pg_dump --schema-only`` of the database (its per-run \\restrict key left out)."""
    u = make_url(url)
    out = subprocess.run([str(PG_BIN / "pg_dump"), "--schema-only", "-h", u.host, "-p", str(u.port), "-U", u.username,
                          u.database], env={**os.environ, "PGPASSWORD": u.password or ""},
                         capture_output=True, text=True, check=True).stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def _carry(w, case: dict, status: str, where: str = "C1") -> dict:
    """Move an existing case to ``status`` by legal moves (as tests.world.bring_to does a fresh one)."""
    for action in PATH_TO[status]:
        case = service.transition(w.conn, case_id=case["id"], action=action, actor=w["admin"],
                                  **params_for(w, action, {**case, "_where": where}))
    return case


def _ended(conn, case_id: int):
    return conn.execute(text("SELECT ended_at FROM case_key WHERE id = :c"), {"c": case_id}).scalar_one()


def _duplicate_of(conn, case_id: int):
    return conn.execute(text("SELECT duplicate_of FROM case_key WHERE id = :c"), {"c": case_id}).scalar_one()


def test_the_key_table_knows_when_a_case_left_the_open_set(conn):
    w = build_world(conn)
    now = conn.execute(text("SELECT now()")).scalar_one()
    ensure_partitions(conn, since=now - timedelta(days=400))
    old = w.report("C1", at=now - timedelta(days=380))
    assert _ended(conn, old["id"]) is None
    closed = _carry(w, old, "closed")
    assert _ended(conn, old["id"]) == closed["closed_at"] is not None
    rejected = bring_to(w, "rejected")
    assert _ended(conn, rejected["id"]) == rejected["rejected_at"] is not None
    for status in ("dispatched", "postponed", "rework", "returned"):
        assert _ended(conn, bring_to(w, status)["id"]) is None


def test_the_key_table_carries_duplicate_of(owner_conn):
    """Merged (the lifecycle), moved to another month (an UPDATE of reported_at: a delete and an
    insert), unmerged by hand: the key table's duplicate_of follows the case's."""
    w = build_world(owner_conn)
    now = owner_conn.execute(text("SELECT now()")).scalar_one()
    ensure_partitions(owner_conn, since=now - timedelta(days=400))
    original = w.report("C1", at=now - timedelta(days=200))
    dup = service.transition(owner_conn, case_id=w.report("C1")["id"], action="merge", actor=w["admin"],
                             duplicate_of=original["case_no"])
    assert _duplicate_of(owner_conn, dup["id"]) == original["id"] and _duplicate_of(owner_conn, original["id"]) is None
    owner_conn.execute(text("UPDATE cases SET reported_at = reported_at - interval '100 days' WHERE id = :c"),
                       {"c": dup["id"]})
    assert partition_of(owner_conn, "cases", dup["id"]) == month_name("cases", dup["reported_at"] - timedelta(days=100))
    assert _duplicate_of(owner_conn, dup["id"]) == original["id"]
    owner_conn.execute(text("UPDATE cases SET status = 'reported', merged_at = NULL, duplicate_of = NULL WHERE id = :c"),
                       {"c": dup["id"]})
    assert _duplicate_of(owner_conn, dup["id"]) is None and _ended(owner_conn, dup["id"]) is None


def test_the_key_table_follows_bulk_writes_with_triggers_off(owner_conn):
    build_world(owner_conn)
    now = owner_conn.execute(text("SELECT now()")).scalar_one()
    insert = ("INSERT INTO cases (id, case_no, channel, received_x, received_y, received_crs, geom, reported_at, status, "
              "level, closed_at, outside_jurisdiction) VALUES (:id, :no, 'hotline', 0.5, 0.5, 'EPSG:4326', "
              "ST_SetSRID(ST_MakePoint(0.5, 0.5), 4326), :at, :st, 'community', :closed, true)")
    owner_conn.execute(text("SET LOCAL session_replication_role = replica"))
    owner_conn.execute(text(insert), [{"id": 10**12 + 1, "no": "B-1", "at": now, "st": "reported", "closed": None},
                                      {"id": 10**12 + 2, "no": "B-2", "at": now - timedelta(days=3), "st": "closed",
                                       "closed": now - timedelta(days=1)}])
    assert _ended(owner_conn, 10**12 + 1) is None
    assert _ended(owner_conn, 10**12 + 2) == now - timedelta(days=1)
    owner_conn.execute(text("UPDATE cases SET status = 'closed', closed_at = :t WHERE id = :c"),
                       {"t": now - timedelta(hours=1), "c": 10**12 + 1})
    owner_conn.execute(text("UPDATE cases SET status = 'reported' WHERE id = :c"), {"c": 10**12 + 2})
    assert _ended(owner_conn, 10**12 + 1) == now - timedelta(hours=1)
    owner_conn.execute(text("UPDATE cases SET status = 'merged', merged_at = :t, duplicate_of = :d WHERE id = :c"),
                       {"t": now - timedelta(minutes=30), "d": 10**12 + 2, "c": 10**12 + 1})
    owner_conn.execute(text("SET LOCAL session_replication_role = origin"))
    assert _ended(owner_conn, 10**12 + 1) == now - timedelta(minutes=30)
    assert _ended(owner_conn, 10**12 + 2) is None
    assert _duplicate_of(owner_conn, 10**12 + 1) == 10**12 + 2 and _duplicate_of(owner_conn, 10**12 + 2) is None


def _partitions_in_plan(conn, sql: str) -> set[str]:
    plan = conn.execute(text("EXPLAIN (FORMAT JSON) " + sql)).scalar_one()
    found = set()

    def walk(node):
        if node.get("Relation Name", "").startswith("cases_"):
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)
    walk(plan[0]["Plan"])
    return found


def test_queries_over_open_cases_plan_only_the_months_that_hold_one(conn):
    """Two years of months: the open-case queries of the wall, the desk and the charts name the
    months holding an open case (or one ended today), so the planner prunes the rest; the
    answers are those of the unpruned queries. An old open case and an old case closed today
    are still counted."""
    w = build_world(conn)
    now = conn.execute(text("SELECT now()")).scalar_one()
    ensure_partitions(conn, since=now - timedelta(days=760))
    months = len(partition_list(conn, "cases"))
    assert months >= 28
    old_open = w.report("C1", at=now - timedelta(days=420))
    old_closed = _carry(w, w.report("C2", at=now - timedelta(days=600)), "closed", "C2")
    for status in ("dispatched", "closed", "reported"):
        bring_to(w, status)
    conn.execute(text("ANALYZE cases"))  # so the planner sees rows in the months (not needed for pruning)

    live = live_months(conn)
    everything = f"SELECT count(*) FROM cases c WHERE {queries.open_sql('c')}"
    scanned = _partitions_in_plan(conn, f"{everything} AND {live}")
    assert len(_partitions_in_plan(conn, everything)) == months
    # the months of the open cases (the old one's; other tests' committed ones) and this month:
    # not the months ahead, nor DEFAULT, nor a closed month
    holding = {month_name("cases", at) for (at,) in conn.execute(text(
        f"SELECT reported_at FROM cases c WHERE {queries.open_sql('c')}"))}
    assert scanned == holding | {month_name("cases", now)}
    assert month_name("cases", old_open["reported_at"]) in scanned and len(scanned) < months - 4
    n_open = conn.execute(text(everything)).scalar_one()
    assert conn.execute(text(f"{everything} AND {live}")).scalar_one() == n_open
    today_live = live_months(conn, since=local_midnight(now))
    assert month_name("cases", old_closed["reported_at"]) in _partitions_in_plan(
        conn, f"SELECT count(*) FROM cases c WHERE c.closed_at >= now() - interval '1 hour' AND {today_live}")
    assert month_name("cases", old_closed["reported_at"]) not in scanned

    figures = kpis(conn, WallFilter(), now)
    closed_today = conn.execute(text("SELECT count(*) FROM cases WHERE closed_at >= :t"),
                                {"t": local_midnight(now)}).scalar_one()
    assert (figures["open"], figures["closed_today"]) == (n_open, closed_today) and closed_today >= 2
    assert old_open["id"] in open_columns(conn, WallFilter(), "zh", 0, (0.0, 0.0))["cases"]["i"]
    assert old_open["id"] in [r["id"] for r in queries.awaiting_sorting(conn, limit=100000)]
    assert queries.queue_counts(conn)["open"] == n_open


def test_live_months_since_keeps_the_month_of_a_case_ended_before_with_an_event_after(conn):
    """A case closed long ago and evaluated now is neither open nor ended since the bound: only
    its event since then keeps its month (the event log's cases probed one by one in the key
    table). The lookup runs without parallel workers and leaves the session's setting as it was."""
    w = build_world(conn)
    now = conn.execute(text("SELECT now()")).scalar_one()
    ensure_partitions(conn, since=now - timedelta(days=400))
    at = now - timedelta(days=300)
    case = w.report("C2", at=at)
    for i, action in enumerate(PATH_TO["closed"]):
        case = service.transition(conn, case_id=case["id"], action=action, actor=w["admin"],
                                  at=at + timedelta(minutes=i + 1), **params_for(w, action, {**case, "_where": "C2"}))
    since = at + timedelta(days=45)  # a later month: every month from since's on is kept anyway
    month = month_name("cases", at)
    sql = f"SELECT count(*) FROM cases c WHERE c.id = {case['id']} AND "
    assert month not in _partitions_in_plan(conn, sql + live_months(conn, since=since))
    service.transition(conn, case_id=case["id"], action="evaluate", actor=w["admin"], score=5)
    conn.execute(text("SET max_parallel_workers_per_gather = 3"))
    bound = live_months(conn, since=since)
    assert conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar_one() == "3"
    assert month in _partitions_in_plan(conn, sql + bound)
    assert conn.execute(text(sql + bound)).scalar_one() == 1
    assert month not in _partitions_in_plan(conn, sql + live_months(conn, since=since, events=False))


def test_live_months_is_true_on_plain_tables():
    with scratch_database("plainmonths", migrate=False) as url:
        before = ScriptDirectory.from_config(alembic_config(url)).get_revision("0024").down_revision
        upgrade(url, before)
        eng = create_engine(url)
        try:
            with eng.connect() as conn:
                assert live_months(conn) == "TRUE"
        finally:
            eng.dispose()


def _months_planned(conn, sql: str, params) -> dict[str, set[str]]:
    """The partitions of cases and of case_event that the plan of ``sql`` (driver form) scans."""
    parts = dict(conn.execute(text(
        "SELECT inhrelid::regclass::text, inhparent::regclass::text FROM pg_inherits "
        "WHERE inhparent IN ('cases'::regclass, 'case_event'::regclass)")).all())
    plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params).scalar_one()
    found: dict[str, set[str]] = {"cases": set(), "case_event": set()}

    def walk(node):
        name = node.get("Relation Name", "")
        if name in parts:
            found[parts[name]].add(name)
        for child in node.get("Plans", []):
            walk(child)
    walk(plan[0]["Plan"])
    return found


def test_one_cases_page_and_moves_plan_its_own_month_only(conn):
    """A case of 14 months ago, on two years of months: its detail panel and timeline, a move on
    it, the desk's visibility check, the map's ring and the public history read ``cases`` in the
    case's month only (db.partitions.case_bound) and ``case_event`` from that month on; the
    answers are those of the unpruned queries."""
    w = build_world(conn)
    now = conn.execute(text("SELECT now()")).scalar_one()
    ensure_partitions(conn, since=now - timedelta(days=760))
    months = len(partition_list(conn, "cases"))
    assert months >= 28
    at = now - timedelta(days=420)
    case = _carry(w, w.report("C1", at=at), "dispatched")
    # its duplicates, merged by hand: one reported a year after it, one (older) a year before
    dups = [service.transition(conn, case_id=w.report("C1", at=when)["id"], action="merge", actor=w["admin"],
                               duplicate_of=case["id"]) for when in (now - timedelta(days=50), at - timedelta(days=300))]
    month = month_name("cases", at)
    event_months = {p.name for p in partition_list(conn, "case_event") if p.upper is None or p.upper > at}
    seen: list[tuple[str, dict]] = []

    def grab(_conn, _cursor, statement, parameters, _context, _many):
        if re.search(r"\b(cases|case_event)\b", statement) and statement.lstrip().upper().startswith(("SELECT", "UPDATE")):
            seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", grab)
    try:
        detail = queries.case_detail(conn, case["id"])
        moved = service.transition(conn, case_id=case["id"], action="accept", actor=w["admin"],
                                   **params_for(w, "accept", {**case, "_where": "C1"}))
        visible = desk.visible_to(conn, case_id=case["id"], actor=w["admin"])
        ring = case_position(conn, case["id"])
        history = public_history(conn, case["id"])
    finally:
        event.remove(conn, "before_cursor_execute", grab)
    assert moved["status"] == "disposing" and visible and ring[2] == case["case_no"]
    timeline = conn.execute(text("SELECT action FROM case_event WHERE case_id = :c ORDER BY at, id"),
                            {"c": case["id"]}).scalars().all()
    assert [e["action"] for e in detail["timeline"]] == timeline[:-1] and [e["action"] for e in history] == timeline
    assert timeline[0] == "report" and len(timeline) >= 4
    assert [(d["id"], d["case_no"], d["reported_at"]) for d in detail["duplicates"]] == [
        (d["id"], d["case_no"], d["reported_at"]) for d in sorted(dups, key=lambda d: d["reported_at"])]
    checked = 0
    for sql, params in seen:
        planned = _months_planned(conn, sql, params)
        assert planned["cases"] <= {month}, (sql, planned["cases"])
        assert planned["case_event"] <= event_months, (sql, planned["case_event"])
        checked += 1
    assert checked >= 7
