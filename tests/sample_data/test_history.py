"""The history player: legal moves only, at working times, by permitted people; realistic mix."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import text

from dispatch import queries, service
from sample_data.audit import audit_history
from sample_data.history import play_history
from dispatch.states import OPEN_STATUSES
from stats.indicators import COUNTERS
from tests.world import T

UNTIL = T(2026, 11, 26, 22, 25)


def _raw_reports(world, n: int, seed: int = 1, outside_share: float = 0.01) -> list[int]:
    """n raw reported cases (no events) over the 61 days before UNTIL, the way the sample loader
    inserts them: denser on weekdays and in the daytime, all categories, a few outside every grid."""
    conn = world.conn
    rng = np.random.default_rng(seed)
    cats = [r[0] for r in conn.execute(text("SELECT code FROM case_category ORDER BY code"))]
    grid_workers = [world["gw_c1"].person_id, world["gw_c3"].person_id]
    rows = []
    for _ in range(n):
        where = "outside" if rng.random() < outside_share else str(rng.choice(["C1", "C2", "C3"], p=[.45, .3, .25]))
        x, y = world.POINTS[where]
        x, y = x + rng.uniform(-0.45, 0.45), y + rng.uniform(-0.45, 0.45)
        day = UNTIL - timedelta(days=float(rng.integers(0, 61)))
        at = day.replace(hour=int(rng.choice(range(6, 23))), minute=int(rng.integers(0, 60)))
        if at > UNTIL:
            at -= timedelta(days=1)
        by_worker = rng.random() < 0.4
        rows.append({"x": x, "y": y, "at": at, "cat": str(rng.choice(cats)),
                     "ch": "grid_worker" if by_worker else "hotline",
                     "rid": int(rng.choice(grid_workers)) if by_worker else None})
    first = conn.execute(text("SELECT COALESCE(max(id), 0) FROM cases")).scalar()
    conn.execute(text(
        "INSERT INTO cases(channel, category_code, received_x, received_y, received_crs, geom, reported_at, reporter_id) "
        "VALUES (:ch, :cat, :x, :y, 'EPSG:4326', ST_SetSRID(ST_MakePoint(:x, :y), 4326), :at, :rid)"), rows)
    return [r[0] for r in conn.execute(text("SELECT id FROM cases WHERE id > :f ORDER BY id"), {"f": first})]


# The shared test database may hold the committed sample district (tests/conftest.py), already
# played; the checks below look at the cases each test inserted.

@pytest.fixture
def played(world):
    ids = _raw_reports(world, 4011)
    stats = play_history(world.conn, seed=11, until=UNTIL)
    stats["ids"] = ids
    return stats


def test_realistic_mix_of_legal_histories(world, conn, played):
    assert played["cases"] == 4011 and played["events"] > 4 * 4011
    # replays sampled cases' events: table, working time, permission, final state
    rng = np.random.default_rng(0)
    assert audit_history(conn, case_ids=[int(i) for i in rng.choice(played["ids"], 1500, replace=False)]) == []
    assert played["lower_level_share"] == pytest.approx(0.724, abs=0.04)
    assert played["district_share"] == pytest.approx(0.246, abs=0.04)
    status = played["by_status"]
    assert status["closed"] > 0.8 * 4011 and status.get("rejected", 0) > 0 and status.get("merged", 0) > 0
    mine = {"ids": played["ids"], "now": UNTIL}
    recent = {r.status for r in conn.execute(text(
        "SELECT DISTINCT status FROM cases WHERE id = ANY(:ids) AND reported_at > :t"),
        {**mine, "t": UNTIL - timedelta(days=10)})}
    assert set(OPEN_STATUSES) <= recent, set(OPEN_STATUSES) - recent
    row = conn.execute(text(f"""
        SELECT count(*) FILTER (WHERE {queries.overdue_sql('c', ':now')}) AS overdue,
               count(*) FILTER (WHERE {queries.at_risk_sql('c', ':now')}) AS at_risk,
               count(*) FILTER (WHERE c.supervised AND {queries.open_sql('c')}) AS supervised,
               count(*) FILTER (WHERE c.outside_jurisdiction AND {queries.open_sql('c')}) AS outside,
               count(*) FILTER (WHERE c.self_handled) AS on_spot
        FROM cases c WHERE c.id = ANY(:ids)"""), mine).mappings().one()
    assert row["overdue"] > 0 and row["at_risk"] > 0 and row["supervised"] > 0 and row["outside"] > 0
    assert row["on_spot"] > 0.1 * 4011   # only C1 and C3 have a grid worker in the test district


@pytest.fixture
def small(world):
    ids = _raw_reports(world, 800, seed=2)
    return {**play_history(world.conn, seed=4, until=UNTIL), "ids": ids}


def test_every_history_is_legal_at_working_time_and_permitted(world, conn, small):
    assert audit_history(conn, case_ids=small["ids"]) == []


def test_final_state_matches_the_last_event(world, conn, small):
    bad = conn.execute(text("""
        SELECT count(*) FROM cases c JOIN LATERAL (
            SELECT * FROM case_event e WHERE e.case_id = c.id ORDER BY e.at DESC, e.id DESC LIMIT 1) e ON true
        WHERE c.id = ANY(:ids) AND (e.to_status <> c.status OR e.to_level IS DISTINCT FROM c.level
           OR e.department_id IS DISTINCT FROM c.department_id OR e.due_at IS DISTINCT FROM c.due_at
           OR e.handler_id IS DISTINCT FROM c.handler_id OR c.updated_at <> e.at)"""), {"ids": small["ids"]}).scalar()
    assert bad == 0
    late = conn.execute(text("SELECT count(*) FROM case_event WHERE at > :u AND case_id = ANY(:ids)"),
                        {"u": UNTIL, "ids": small["ids"]}).scalar()
    assert late == 0


def test_rollup_equals_the_event_log_after_bulk_play(world, conn, small):
    """The trigger saw the bulk COPY's events set-wise; the event log gives the same figures
    (rows of the test district's areas and people: the shared database may hold others)."""
    from stats.indicators import indicators

    mine = {"subdistrict": lambda r: r["name"] in ("测试街道S1", "测试街道S2"),
            "person": lambda r: (r["code"] or "").startswith("t_")}
    for by, keep in mine.items():
        fast = [r for r in indicators(conn, start=UNTIL.date() - timedelta(days=61), end=UNTIL.date(), by=by) if keep(r)]
        slow = [r for r in indicators(conn, start=UNTIL.date() - timedelta(days=61), end=UNTIL.date(), by=by,
                                      exact=True) if keep(r)]
        assert fast and len(fast) == len(slow)
        for a, b in zip(fast, slow):
            assert a.keys() == b.keys()
            for k in a:
                assert a[k] == pytest.approx(b[k]) if isinstance(a[k], float) else a[k] == b[k], (by, k)


def _fingerprint(conn, ids: list[int]) -> str:
    rows = conn.execute(text("SELECT case_id, action, at, actor_id, to_status FROM case_event "
                             "WHERE case_id = ANY(:ids) ORDER BY case_id, at, id"), {"ids": ids}).all()
    assert rows   # the played cases have events: an empty fingerprint would prove nothing
    return hashlib.sha1(repr([(r[0], r[1], r[2].isoformat(), r[3], r[4]) for r in rows]).encode()).hexdigest()


def test_same_seed_same_history_and_played_cases_are_left_alone(world, conn):
    ids = _raw_reports(world, 300, seed=5)
    sp = conn.begin_nested()
    play_history(conn, seed=3, until=UNTIL)
    first = _fingerprint(conn, ids)
    sp.rollback()
    play_history(conn, seed=3, until=UNTIL)
    assert _fingerprint(conn, ids) == first
    again = play_history(conn, seed=3, until=UNTIL)     # nothing left to play
    assert again["cases"] == 0
    live = world.report("C1")                           # a case with its own report event is not replayed
    assert play_history(conn, seed=3, until=UNTIL)["cases"] == 0
    assert conn.execute(text("SELECT status FROM cases WHERE id = :i"), {"i": live["id"]}).scalar() == "reported"


def test_service_continues_a_played_case(world, conn):
    ids = _raw_reports(world, 200, seed=9, outside_share=0)
    play_history(conn, seed=1, until=UNTIL)
    # one of this test's played cases (the shared database may hold the sample's too)
    case = conn.execute(text("SELECT * FROM cases WHERE status = 'disposing' AND id = ANY(:ids) ORDER BY id LIMIT 1"),
                        {"ids": ids}).mappings().first()
    assert case is not None, "seed 1 leaves some of the 200 cases in disposal"
    staff = next(p for p in world.people.values() if p.department_id == case["department_id"]) \
        if any(p.department_id == case["department_id"] for p in world.people.values()) else world["admin"]
    after = service.transition(conn, case_id=case["id"], action="feed_back", actor=staff, comment="继续处置完毕",
                               expected_version=case["version"])
    assert after["status"] == "awaiting_verification"


def _everything(conn, ids: list[int]) -> dict:
    """Every column the player writes for ``ids``: cases, events (ids aside), departments."""
    q = lambda sql: [tuple(r) for r in conn.execute(text(sql), {"ids": ids})]  # noqa: E731
    return {
        "cases": q("SELECT (to_jsonb(c) - 'geom')::text FROM cases c WHERE c.id = ANY(:ids) ORDER BY c.id"),
        "events": q("SELECT (to_jsonb(e) - 'id')::text FROM case_event e WHERE e.case_id = ANY(:ids) ORDER BY e.case_id, e.at, e.id"),
        "departments": q("SELECT case_id, department_id, role FROM case_department WHERE case_id = ANY(:ids) "
                         "ORDER BY case_id, department_id, role"),
    }


def _tables(conn, w, start, end) -> dict:
    from stats.indicators import indicators

    areas = ("测试街道S1", "测试街道S2")
    out = {}
    for f in ({}, {"category_code": "0102"}, {"channel": "grid_worker"}, {"level": "district"},
              {"department_id": w.dept["HWC"]}):
        rows = indicators(conn, start=start, end=end, by="subdistrict", **f)
        out[tuple(f.items())] = [r for r in rows if r["name"] in areas]
        assert out[tuple(f.items())]
    # tables by grid and by person under a filter read case_stat_group (migration 0021)
    for by, f in (("grid", {"channel": "grid_worker", "subdistrict_id": w.sub["S1"]}),
                  ("grid", {"category_code": "0102", "subdistrict_id": w.sub["S1"]}),
                  ("person", {"level": "district", "subdistrict_id": w.sub["S2"]}),
                  ("person", {"category_code": "0102", "subdistrict_id": w.sub["S2"]})):
        out[(by, *f.items())] = indicators(conn, start=start, end=end, by=by, **f)
    # and the roll-ups' own rows for the test district's grids and communities
    out["case_stat_day"] = [tuple(r) for r in conn.execute(text(
        "SELECT * FROM case_stat_day WHERE dim = 'grid' AND key_id = ANY(:g) ORDER BY day, key_id"),
        {"g": list(w.grid.values())})]
    out["case_stat_cut"] = [tuple(r) for r in conn.execute(text(
        "SELECT * FROM case_stat_cut WHERE community_id = ANY(:c) "
        "ORDER BY grain, day, community_id, department_id, category_code, level, channel"),
        {"c": list(w.com.values())})]
    out["case_stat_group"] = [tuple(r) for r in conn.execute(text(
        "SELECT * FROM case_stat_group WHERE community_id = ANY(:c) "
        "ORDER BY grain, dim, category_code, day, key_id, community_id, department_id, level, channel"),
        {"c": list(w.com.values())})]
    # case_stat_one (migration 0025): the trigger adds past deltas one by one, the bulk path folds
    # the fine rows: equal but for rows whose sums came to zero
    nonzero = " OR ".join(f"{c} <> 0" for c in COUNTERS)
    out["case_stat_one"] = [tuple(r) for r in conn.execute(text(
        f"SELECT * FROM case_stat_one WHERE community_id = ANY(:c) AND ({nonzero}) "
        "ORDER BY grain, dim, filter, value, day, key_id, community_id"), {"c": list(w.com.values())})]
    assert out["case_stat_day"] and out["case_stat_cut"] and out["case_stat_group"] and out["case_stat_one"]
    return out


def _schema(conn) -> list[tuple]:
    """The constraints, indexes and triggers of the tables the player writes."""
    tables = ["cases", "case_event", "case_department", "case_stat_day", "case_stat_cut"]
    return [tuple(r) for r in conn.execute(text("""
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = ANY(CAST(:t AS regclass[]))
        UNION ALL SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(:t)
        UNION ALL SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) || tgenabled::text FROM pg_trigger
        WHERE tgrelid = ANY(CAST(:t AS regclass[])) AND NOT tgisinternal
        ORDER BY 1, 2, 3"""), {"t": tables})]


def test_bulk_play_writes_what_the_row_by_row_path_writes(owner_conn):
    """Triggers off, foreign keys checked set-wise, roll-ups rebuilt once: the same cases, the same
    events (legal, at working time, by permitted people), the same indicators, filtered or not."""
    from tests.world import build_world

    conn = owner_conn  # the bulk path is the owner's (a superuser on the local cluster)
    w = build_world(conn)
    ids = _raw_reports(w, 600, seed=6)
    start, end = UNTIL.date() - timedelta(days=61), UNTIL.date()
    schema = _schema(conn)
    sp = conn.begin_nested()
    slow_stats = play_history(conn, seed=7, until=UNTIL, bulk=False)
    slow, slow_tables = _everything(conn, ids), _tables(conn, w, start, end)
    sp.rollback()
    fast_stats = play_history(conn, seed=7, until=UNTIL, bulk=True)
    assert (slow_stats["bulk"], fast_stats["bulk"]) == (False, True)
    assert slow["events"] and _everything(conn, ids) == slow
    assert _tables(conn, w, start, end) == slow_tables
    assert audit_history(conn, case_ids=ids) == []
    assert _schema(conn) == schema  # keys, indexes and triggers dropped for the bulk write are all back
    trigger = conn.execute(text("SELECT tgenabled FROM pg_trigger WHERE tgname = 'case_event_append_only'")).scalar()
    assert trigger == "O"
    with pytest.raises(Exception, match="append-only|append only"):
        with conn.begin_nested():
            conn.execute(text("UPDATE case_event SET comment = 'x' WHERE case_id = :i"), {"i": ids[0]})


def test_a_broken_foreign_key_written_with_triggers_off_is_found(owner_conn):
    from sample_data.bulk import verify_foreign_keys
    from tests.world import build_world

    conn = owner_conn
    w = build_world(conn)
    verify_foreign_keys(conn, "case_department")  # nothing wrong yet
    conn.execute(text("SET LOCAL session_replication_role = replica"))
    conn.execute(text("INSERT INTO case_department(case_id, department_id, role) VALUES (9000000000, :d, 'lead')"),
                 {"d": w.dept["HWC"]})
    conn.execute(text("SET LOCAL session_replication_role = origin"))
    with pytest.raises(RuntimeError, match="case_department.*foreign key .*case_id"):
        verify_foreign_keys(conn, "case_department")


def _rollups(conn) -> dict:
    """{(table, key…): counters} of both roll-ups."""
    out = {}
    for t, nk in (("case_stat_day", 3), ("case_stat_cut", 7), ("case_stat_group", 9)):
        for r in conn.execute(text(f"SELECT * FROM {t}")):
            out[(t, *r[:nk])] = tuple(r[nk:])
    return out


@pytest.mark.parametrize("batch_size", [250_000, 60])
def test_bulk_play_into_empty_rollups_writes_what_the_event_log_gives(owner_conn, batch_size):
    """Into empty roll-ups the bulk path writes its sums straight in with the primary keys and
    indexes dropped and built again: what it writes plus the roll-ups of the rest of the log equals
    ``rebuild_stats`` (the event log, in SQL) after the play, and the keys and indexes are back.
    In batches of 60 cases (nine batches) the batches' sums are added up in memory first, several
    at a time (``sample_data.rollup.merge``)."""
    import math

    from stats.indicators import rebuild_stats
    from tests.world import build_world

    conn = owner_conn
    w = build_world(conn)
    _raw_reports(w, 500, seed=8)
    pk_sql = text("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                  "WHERE contype = 'p' AND conrelid IN ('case_stat_day'::regclass, 'case_stat_cut'::regclass, "
                  "'case_stat_group'::regclass) ORDER BY 1")
    index_sql = text("SELECT tablename, indexname, indexdef FROM pg_indexes "
                     "WHERE tablename IN ('case_stat_day', 'case_stat_cut', 'case_stat_group') ORDER BY 1, 2")
    keys, indexes = conn.execute(pk_sql).all(), conn.execute(index_sql).all()
    assert any(r.indexname == "case_stat_cut_category_idx" for r in indexes)
    rebuild_stats(conn)
    before = _rollups(conn)
    conn.execute(text("DELETE FROM case_stat_day; DELETE FROM case_stat_cut; DELETE FROM case_stat_group"))
    play_history(conn, seed=3, until=UNTIL, bulk=True, batch_size=batch_size)
    written = _rollups(conn)
    assert {k[0] for k in written} == {"case_stat_day", "case_stat_cut", "case_stat_group"}
    assert conn.execute(pk_sql).all() == keys
    assert conn.execute(index_sql).all() == indexes
    rebuild_stats(conn)
    after = _rollups(conn)
    expected = dict(before)
    for k, v in written.items():
        expected[k] = tuple(a + b for a, b in zip(expected.get(k, (0,) * len(v)), v))
    expected = {k: v for k, v in expected.items() if any(v)}
    assert expected.keys() == after.keys()
    for k, v in after.items():
        assert all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6) for x, y in zip(v, expected[k])), k


def test_a_broken_key_among_the_written_values_is_found(owner_conn):
    """``verify_written_keys`` (the bulk player's foreign-key check) finds a written value with no
    referenced row, names the key, and refuses a column that has no foreign key."""
    from sample_data.bulk import verify_written_keys, work_table
    from tests.world import build_world

    conn = owner_conn
    w = build_world(conn)
    t = work_table(conn, "_test_written", "handler int8, dept int8")
    conn.execute(text(f"INSERT INTO {t} VALUES (:p, :d), (-1, -1)"), {"p": w["admin"].person_id, "d": w.dept["HWC"]})
    verify_written_keys(conn, "cases", t, {"handler_id": "NULLIF(handler, -1)", "department_id": "NULLIF(dept, -1)"})
    conn.execute(text(f"INSERT INTO {t} VALUES (2000000000, -1)"))
    with pytest.raises(RuntimeError, match="1 values written into cases break foreign key cases_handler_id_fkey"):
        verify_written_keys(conn, "cases", t, {"handler_id": "NULLIF(handler, -1)"})
    with pytest.raises(ValueError, match="no single-column foreign key"):
        verify_written_keys(conn, "cases", t, {"description": "handler"})


def test_played_cases_and_their_events_land_in_their_months_not_in_default(world, conn):
    """The player makes the months it writes first (issue 12 §6): raw reports older than every
    month partition wait in cases_default; once played, they and every event of theirs lie in
    their month's partition, and no DEFAULT partition holds any of them."""
    from db.partitions import partition_list

    ids = _raw_reports(world, 120, seed=5)
    oldest = min(p.lower for p in partition_list(conn, "cases") if p.lower is not None)
    shift = (UNTIL - oldest).days + 400  # a year before the oldest month made: not partitioned yet
    conn.execute(text("UPDATE cases SET reported_at = reported_at - make_interval(days => :d) WHERE id = ANY(:ids)"),
                 {"d": shift, "ids": ids})
    assert conn.execute(text("SELECT count(*) FROM cases WHERE id = ANY(:ids) AND tableoid = 'cases_default'::regclass"),
                        {"ids": ids}).scalar_one() == len(ids)
    stats = play_history(conn, seed=5, until=UNTIL)
    assert stats["partitions_made"] > 2 * 12
    assert conn.execute(text("SELECT count(*) FROM cases WHERE id = ANY(:ids) AND tableoid = 'cases_default'::regclass"),
                        {"ids": ids}).scalar_one() == 0
    events = conn.execute(text("SELECT count(*), count(*) FILTER (WHERE tableoid = 'case_event_default'::regclass) "
                               "FROM case_event WHERE case_id = ANY(:ids)"), {"ids": ids}).one()
    assert events[0] > len(ids) and events[1] == 0


def test_played_cases_carry_the_services_clock_to_accept(world, conn, small):
    """accept_due_at (migration 0035) as the lifecycle service writes it: from the last dispatch,
    or from the failed verification that sent a case back for rework, with the deadline of that
    moment (cases whose deadline a postponement moved are left out); none for a case returned and
    not sent again; and some played cases are late to accept at the end of the play."""
    from dispatch.calendar import WorkingCalendar
    from dispatch.deadlines import accept_due

    cal = WorkingCalendar.from_db(conn)
    rows = conn.execute(text("""
        SELECT c.id, c.status, c.dispatched_at, c.verified_at, c.due_at, c.accept_due_at, c.rework_count
        FROM cases c WHERE c.id = ANY(:ids) AND c.postpone_count = 0
          AND c.status IN ('dispatched', 'disposing', 'awaiting_verification', 'rework', 'returned')"""),
        {"ids": small["ids"]}).mappings().all()
    sent = [r for r in rows if r["status"] != "returned"]
    assert len(sent) >= 10 and any(r["rework_count"] for r in sent), len(sent)
    for r in sent:
        start = r["verified_at"] if r["rework_count"] else r["dispatched_at"]
        assert r["accept_due_at"] == accept_due(cal, start, r["due_at"]), r
    assert all(r["accept_due_at"] is None for r in rows if r["status"] == "returned")
    late = conn.execute(text(f"SELECT count(*) FROM cases c WHERE c.id = ANY(:ids) AND "
                             f"{queries.late_accept_sql('c', ':now')}"), {"ids": small["ids"], "now": UNTIL}).scalar()
    assert late > 0
