"""A small synthetic district for UI tests, browser tests and the wall benchmark.

A lattice you can check by eye: subdistricts are blocks of communities, communities blocks of
square unit grids, so every grid nests in its community and every community in its
subdistrict. It sits at 121.6°E 40.95°N, away from the sample district (122.07°E 41.12°N) and
the hand-built squares of ``tests/factories.py``. Everything it creates is found again by its
district code, so ``purge_district`` removes it completely (UI tests must commit: the app
reads through its own connections).
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.config import test_owner_database_url
from db.reference import seed_reference
from accounts.auth import create_user
from stats.indicators import (COUNTERS, CUT_KEYS, EVENT_DELTAS_SQL, GROUP_KEYS, ONE_KEYS, cut_sums_sql,
                              group_sums_sql, one_sums_sql)

CODE = "219999"
PASSWORD = "Wall-test-2024"
# Area names all start with 测试, so none is ever a name of the sample district (loaded into the
# same test database by tests/conftest.py's ``sample_loaded``); the words echo the sample's.
NAME_PREFIX = "测试"
SUBDISTRICT_NAMES = [NAME_PREFIX + n for n in
                     ("兴隆街道", "创新街道", "振兴街道", "渤海街道", "曙光街道", "新工街道", "兴海街道", "兴盛街道")]
COMMUNITY_WORDS = ["科技", "锦祥", "惠宾", "友谊", "光明", "和平", "胜利", "幸福", "团结", "东风", "石油", "湖滨",
                   "油田", "向阳", "建设", "育才", "红旗", "新华", "朝阳", "龙祥", "富民", "盛和", "康乐", "安居"]
ROADS = ["兴隆路", "石油大街", "惠宾街", "泰山路", "中兴路", "渤海路", "双兴路", "新工街"]
ROLE_USERS = {  # username → (role, unit level)
    "uit_command": ("command_staff", "district"),
    "uit_dispatcher": ("dispatcher", "district"),
    "uit_dept": ("department_staff", "department"),
    "uit_planner": ("planner", "district"),
    "uit_admin": ("admin", "district"),
    "uit_worker": ("grid_worker", "community"),
}


@dataclass
class District:
    code: str
    subdistrict_ids: list[int] = field(default_factory=list)
    community_ids: list[int] = field(default_factory=list)
    grid_ids: list[int] = field(default_factory=list)
    seeded_reference: bool = False


def _rect(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"


def build_district(conn: Connection, *, code: str = CODE, origin=(121.60, 40.95), sd_grid=(2, 1),
                   cm_grid=(3, 2), g_grid=(3, 3), cell=(0.006, 0.0045)) -> District:
    """Create district ``code`` with sd_grid subdistricts, cm_grid communities each, g_grid grids each.

    Each argument is (columns, rows). Also seeds departments and categories if they are missing.
    """
    seeded = conn.execute(text("SELECT count(*) FROM case_category")).scalar_one() == 0
    seed_reference(conn)
    (ox, oy), (cw, ch) = origin, cell
    gw, gh = g_grid
    cmw, cmh = gw * cw, gh * ch
    sdw, sdh = cm_grid[0] * cmw, cm_grid[1] * cmh
    top = oy + sd_grid[1] * sdh
    did = conn.execute(text(
        "INSERT INTO district(code, name, name_en, geom) "
        "VALUES (:c, '兴隆台区(测试)', 'Xinglongtai (test)', ST_Multi(ST_GeomFromText(:w, 4326))) RETURNING id"),
        {"c": code, "w": _rect(ox, oy, ox + sd_grid[0] * sdw, top)}).scalar_one()
    d = District(code, seeded_reference=seeded)
    words = iter(COMMUNITY_WORDS * 20)
    sd_no = 0
    for sr in range(sd_grid[1]):
        for sc in range(sd_grid[0]):
            sd_no += 1
            sx, sy = ox + sc * sdw, top - (sr + 1) * sdh
            sd_code = f"{code}{sd_no:03d}"
            sid = conn.execute(text(
                "INSERT INTO subdistrict(district_id, code, name, name_en, geom) "
                "VALUES (:d, :c, :n, :e, ST_Multi(ST_GeomFromText(:w, 4326))) RETURNING id"),
                {"d": did, "c": sd_code, "n": SUBDISTRICT_NAMES[(sd_no - 1) % 8],
                 "e": f"Subdistrict {sd_no}", "w": _rect(sx, sy, sx + sdw, sy + sdh)}).scalar_one()
            d.subdistrict_ids.append(sid)
            cm_no = 0
            for cr in range(cm_grid[1]):
                for cc in range(cm_grid[0]):
                    cm_no += 1
                    cx, cy = sx + cc * cmw, sy + sdh - (cr + 1) * cmh
                    word = next(words)
                    cid = conn.execute(text(
                        "INSERT INTO community(subdistrict_id, code, name, name_en, geom) "
                        "VALUES (:s, :c, :n, :e, ST_Multi(ST_GeomFromText(:w, 4326))) RETURNING id"),
                        {"s": sid, "c": f"{sd_code}{cm_no:03d}", "n": f"{NAME_PREFIX}{word}社区",
                         "e": f"Community {sd_no}-{cm_no}", "w": _rect(cx, cy, cx + cmw, cy + cmh)}).scalar_one()
                    d.community_ids.append(cid)
                    g_no = 0
                    for gr in range(gh):       # numbered west→east, north→south
                        for gc in range(gw):
                            g_no += 1
                            x, y = cx + gc * cw, cy + cmh - (gr + 1) * ch
                            gcode = f"{sd_code}{cm_no:03d}{g_no:03d}"
                            gid = conn.execute(text(
                                "INSERT INTO unit_grid(community_id, code, name) VALUES (:c, :code, :n) RETURNING id"),
                                {"c": cid, "code": gcode, "n": f"{NAME_PREFIX}{word}{g_no}号网格"}).scalar_one()
                            conn.execute(text(
                                "INSERT INTO grid_version(grid_id, version_no, geom, valid_from) "
                                "VALUES (:g, 1, ST_GeomFromText(:w, 4326), '2020-01-01')"),
                                {"g": gid, "w": _rect(x, y, x + cw, y + ch)})
                            d.grid_ids.append(gid)
    return d


def create_role_users(conn: Connection, d: District) -> dict[str, int]:
    """One account per role (ROLE_USERS), all with PASSWORD; returns username → person id."""
    dept = conn.execute(text("SELECT code FROM department ORDER BY code LIMIT 1")).scalar_one()
    cm = conn.execute(text("SELECT code FROM community WHERE id = :i"), {"i": d.community_ids[0]}).scalar_one()
    ids = {}
    for username, (role, level) in ROLE_USERS.items():
        unit = {"department": dept, "community": cm}.get(level)
        ids[username] = create_user(conn, username=username, full_name=f"测试{role}", role=role,
                                    password=PASSWORD, unit_level=level, unit=unit)
    return ids


OPEN_MIX = [("reported", None), ("registered", None), ("dispatched", "on_time"), ("disposing", "on_time"),
            ("disposing", "at_risk"), ("disposing", "overdue"), ("awaiting_verification", "on_time"),
            ("rework", "overdue"), ("postponed", "on_time"), ("returned", None)]


def add_cases(conn: Connection, d: District, *, open_n: int = 40, closed_n: int = 30, seed: int = 7,
              now: datetime | None = None) -> list[int]:
    """Insert cases the way every writer does (the trigger places them), with a state mix.

    Deadlines are set relative to ``now`` so each time-left class appears; a few closed cases
    were closed today. Returns the new case ids.
    """
    rng = random.Random(seed)
    now = now or conn.execute(text("SELECT now()")).scalar_one()
    grids = conn.execute(text(
        "SELECT ST_XMin(gv.geom) x0, ST_YMin(gv.geom) y0, ST_XMax(gv.geom) x1, ST_YMax(gv.geom) y1 "
        "FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id "
        "WHERE gv.valid_to IS NULL AND g.code LIKE :p ORDER BY g.code"), {"p": d.code + "%"}).all()
    cats = conn.execute(text("SELECT code, name, default_department_id FROM case_category ORDER BY code")).all()
    ids = []
    for n in range(open_n + closed_n):
        g = grids[int(rng.random() ** 1.6 * len(grids))]  # denser in the first (north-west) grids
        x = rng.uniform(g.x0 + 1e-5, g.x1 - 1e-5)
        y = rng.uniform(g.y0 + 1e-5, g.y1 - 1e-5)
        cat = rng.choice(cats)
        status, clock = OPEN_MIX[n % len(OPEN_MIX)] if n < open_n else ("closed", "closed")
        span = timedelta(hours=rng.uniform(4, 48))
        closed = now - timedelta(minutes=rng.uniform(5, 300)) if status == "closed" else None
        dispatched = {"on_time": now - span * 0.3, "at_risk": now - span * 0.9,
                      "overdue": now - span - timedelta(hours=rng.uniform(0.5, 8)),
                      "closed": closed - span * 0.5 if closed else None}.get(clock)
        due = dispatched + span if dispatched else None
        reported = min(now - timedelta(hours=rng.uniform(0.5, 60)),
                       dispatched - timedelta(minutes=20) if dispatched else now)
        desc = f"{rng.choice(ROADS)}{rng.randint(1, 300)}号附近{cat.name}，请尽快处理"
        ids.append(conn.execute(text("""
            INSERT INTO cases(channel, category_code, description, received_x, received_y, received_crs, geom,
                              status, level, department_id, due_at, reported_at, registered_at,
                              dispatched_at, closed_at, supervised, warn_at)
            VALUES (:ch, :cat, :d, :x, :y, 'EPSG:4326', ST_SetSRID(ST_MakePoint(:x, :y), 4326),
                    :st, 'community', :dep, :due, :rep, :reg, :dis, :clo, :sup, :warn) RETURNING id"""),
            {"ch": rng.choice(["grid_worker", "hotline", "wechat"]), "cat": cat.code, "d": desc, "x": x, "y": y,
             "st": status, "dep": cat.default_department_id if dispatched else None, "due": due,
             "rep": reported, "reg": reported + timedelta(minutes=5) if status != "reported" else None,
             "dis": dispatched, "clo": closed, "sup": n % 13 == 5,
             "warn": due - (due - dispatched) / 5 if due and dispatched else None}).scalar_one())
    return ids


def report_case(conn: Connection, lon: float, lat: float, description: str, category: str = "0102") -> dict:
    """One new report, as plain SQL (the way any writer inserts); returns id and case number."""
    row = conn.execute(text("""
        INSERT INTO cases(channel, category_code, description, received_x, received_y, received_crs, geom)
        VALUES ('hotline', :cat, :d, :x, :y, 'EPSG:4326', ST_SetSRID(ST_MakePoint(:x, :y), 4326))
        RETURNING id, case_no"""), {"cat": category, "d": description, "x": lon, "y": lat}).one()
    return {"id": row.id, "case_no": row.case_no}


def owner_engine():
    """The test database's owner (``db.config.test_owner_database_url``): the application's role,
    which the tests' ``engine`` uses, may not switch the append-only trigger of case_event off."""
    from db.engine import get_engine

    return get_engine(test_owner_database_url())


def remove_cases(c, case_ids_sql: str, params: dict) -> None:
    """Delete committed test cases and everything hanging off them, their contributions to the
    indicators' roll-ups (``case_stat_day``, ``case_stat_cut``, ``case_stat_group``,
    ``case_stat_one``) included.

    The roll-up is summed by a trigger as events are appended and is not reduced when events are
    deleted; left alone, the test's events would stay in department and "no one" rows that
    other tests read. So their deltas (the lifecycle's own ``EVENT_DELTAS_SQL``) are subtracted
    first, grouped as ``rebuild_stats`` groups them.

    Events are append-only, and only the table's owner may switch that trigger off: the work is
    done in a transaction of its own on an owner connection, committed before the caller's
    connection ``c`` goes on (which must not have written to these cases).
    """
    del c  # the caller's connection: not the owner's
    deltas = EVENT_DELTAS_SQL.format(case_filter=f"WHERE e.case_id IN ({case_ids_sql})")
    sums = ", ".join(f"COALESCE(sum(d.{k}), 0) AS {k}" for k in COUNTERS)
    with owner_engine().begin() as c:
        c.execute(text(f"""
            UPDATE case_stat_day s SET {", ".join(f"{k} = s.{k} - x.{k}" for k in COUNTERS)}
            FROM (SELECT CASE WHEN GROUPING(d.grid_id) = 0 THEN 'grid'
                              WHEN GROUPING(d.department_id) = 0 THEN 'department' ELSE 'person' END AS dim,
                         d.day, COALESCE(d.grid_id, d.department_id, d.person_id, 0) AS key_id, {sums}
                  FROM ({deltas}) d
                  GROUP BY GROUPING SETS ((d.day, d.grid_id), (d.day, d.department_id), (d.day, d.person_id))) x
            WHERE s.dim = x.dim AND s.day = x.day AND s.key_id = x.key_id"""), params)
        keys = ("grain", "day", *CUT_KEYS)
        c.execute(text(f"""
            UPDATE case_stat_cut s SET {", ".join(f"{k} = s.{k} - x.{k}" for k in COUNTERS)}
            FROM ({cut_sums_sql(f"WHERE e.case_id IN ({case_ids_sql})")}) x
            WHERE {" AND ".join(f"s.{k} = x.{k}" for k in keys)}"""), params)
        keys = ("grain", "day", *GROUP_KEYS)
        c.execute(text(f"""
            UPDATE case_stat_group s SET {", ".join(f"{k} = s.{k} - x.{k}" for k in COUNTERS)}
            FROM ({group_sums_sql(f"WHERE e.case_id IN ({case_ids_sql})")}) x
            WHERE {" AND ".join(f"s.{k} = x.{k}" for k in keys)}"""), params)
        keys = ("grain", "day", *ONE_KEYS)
        c.execute(text(f"""
            UPDATE case_stat_one s SET {", ".join(f"{k} = s.{k} - x.{k}" for k in COUNTERS)}
            FROM ({one_sums_sql(f"WHERE e.case_id IN ({case_ids_sql})")}) x
            WHERE {" AND ".join(f"s.{k} = x.{k}" for k in keys)}"""), params)
        c.execute(text("ALTER TABLE case_event DISABLE TRIGGER case_event_append_only"))
        for table in ("case_presence", "case_event", "case_department"):
            c.execute(text(f"DELETE FROM {table} WHERE case_id IN ({case_ids_sql})"), params)
        c.execute(text(f"DELETE FROM cases WHERE id IN ({case_ids_sql}) AND status = 'merged'"), params)
        c.execute(text(f"UPDATE cases SET duplicate_of = NULL WHERE duplicate_of IN ({case_ids_sql})"), params)
        c.execute(text(f"DELETE FROM cases WHERE id IN ({case_ids_sql})"), params)
        c.execute(text("ALTER TABLE case_event ENABLE TRIGGER case_event_append_only"))


def purge_district(conn: Connection, code: str = CODE, *, usernames=tuple(ROLE_USERS), reference: bool = False) -> None:
    """Remove district ``code`` and everything in it, its test accounts and (optionally) the reference data.

    Its cases go through ``remove_cases``, which also takes their events back out of the roll-up;
    its drafts and boundary changes through ``remove_planning``.
    """
    case_ids = "SELECT id FROM cases WHERE reported_grid_code LIKE :p OR grid_code LIKE :p OR description LIKE :tag"
    remove_cases(conn, case_ids, {"p": code + "%", "tag": f"%[{code}]%"})
    users = {"u": list(usernames)}
    conn.execute(text("DELETE FROM case_presence WHERE person_id IN (SELECT id FROM person WHERE username = ANY(:u))"), users)
    conn.execute(text("DELETE FROM responsibility_grid_worker WHERE person_id IN "
                      "(SELECT id FROM person WHERE username = ANY(:u))"), users)
    remove_planning(conn, code)
    conn.execute(text("DELETE FROM person WHERE username = ANY(:u)"), users)
    for sql in ("DELETE FROM grid_version WHERE grid_id IN (SELECT id FROM unit_grid WHERE code LIKE :p)",
                "DELETE FROM unit_grid WHERE code LIKE :p",
                "DELETE FROM responsibility_grid WHERE code LIKE :p",
                "DELETE FROM community WHERE code LIKE :p",
                "DELETE FROM subdistrict WHERE code LIKE :p",
                "DELETE FROM district WHERE code = :c"):
        conn.execute(text(sql), {"p": code + "%", "c": code})
    if reference:
        conn.execute(text("DELETE FROM case_category WHERE NOT EXISTS "
                          "(SELECT 1 FROM cases WHERE cases.category_code = case_category.code)"))
        conn.execute(text("DELETE FROM department d WHERE NOT EXISTS (SELECT 1 FROM person WHERE department_id = d.id) "
                          "AND NOT EXISTS (SELECT 1 FROM cases WHERE department_id = d.id) "
                          "AND NOT EXISTS (SELECT 1 FROM case_category WHERE default_department_id = d.id)"))


def remove_planning(conn: Connection, code: str = CODE) -> None:
    """The planners' work on district ``code``: its drafts (with their steps, grids and
    responsibility grids) and the boundary changes made there (published from its drafts, over
    its communities, or adding versions of its grids) with their grid and responsibility rows.
    A change that also versioned a grid of another district is kept (it is not this district's
    alone). Its grids' versions go with the grids, in ``purge_district``."""
    p = {"p": code + "%", "c": code}
    drafts = "SELECT d.id FROM boundary_draft d JOIN district x ON x.id = d.district_id WHERE x.code = :c"
    comms = "SELECT id FROM community WHERE code LIKE :p"
    ids = conn.execute(text(f"""
        SELECT x.id FROM (
            SELECT id FROM boundary_change WHERE draft_id IN ({drafts}) OR community_ids && ARRAY({comms})
            UNION SELECT change_id FROM boundary_change_grid WHERE community_id IN ({comms}) OR code LIKE :p
            UNION SELECT change_id FROM boundary_change_responsibility WHERE community_id IN ({comms})
            UNION SELECT gv.change_id FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id WHERE g.code LIKE :p
        ) x(id)
        WHERE x.id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
            WHERE gv.change_id = x.id AND g.code NOT LIKE :p)"""), p).scalars().all()
    q = p | {"ids": sorted(ids)}
    for sql in (
            # what points at these changes from outside them: let go, not deleted
            "UPDATE boundary_change SET rollback_of = NULL WHERE rollback_of = ANY(:ids) AND NOT id = ANY(:ids)",
            f"UPDATE boundary_draft SET base_change_id = NULL WHERE base_change_id = ANY(:ids) AND id NOT IN ({drafts})",
            "UPDATE grid_version SET change_id = NULL WHERE change_id = ANY(:ids)",
            "DELETE FROM boundary_change_grid WHERE change_id = ANY(:ids)",
            "DELETE FROM boundary_change_responsibility WHERE change_id = ANY(:ids)",
            "UPDATE boundary_change SET draft_id = NULL WHERE id = ANY(:ids) AND draft_id IS NOT NULL",
            f"DELETE FROM boundary_draft WHERE id IN ({drafts})",  # steps, grids, responsibility grids cascade
            "DELETE FROM boundary_change WHERE id = ANY(:ids)"):
        conn.execute(text(sql), q)


@contextmanager
def committed_test_district(engine):
    """The test district with one account per role and a state mix of cases, committed for the
    duration and purged afterwards (a fixture body for the AppTest and browser packages)."""
    with engine.begin() as c:
        purge_district(c)
        district = build_district(c)
        users = create_role_users(c, district)
        case_ids = add_cases(c, district)
    try:
        yield {"district": district, "users": users, "case_ids": case_ids, "password": PASSWORD}
    finally:
        with engine.begin() as c:
            purge_district(c, reference=district.seeded_reference)
