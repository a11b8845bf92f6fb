"""A tiny hand-built district for lifecycle tests, inside the rolled-back ``conn``.

Two subdistricts S1, S2; communities C1, C2 in S1 and C3 in S2; one unit-square grid each,
side by side on the Gulf of Guinea (C1: 0–1, C2: 1–2, C3: 2–3 degrees east, 0–1 north), so
nothing overlaps the sample district. People: a dispatcher per community, per subdistrict and
at the command centre; staff of the sanitation (HWC) and enforcement (CGZF) departments; a grid
worker of C1; command staff; a planner; an admin.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlalchemy import text

from db.reference import seed_reference
from accounts.actors import Actor, load_actor
from dispatch.calendar import TZ
from dispatch import service


def T(*a) -> datetime:
    """A wall-clock time in Asia/Shanghai."""
    return datetime(*a, tzinfo=TZ)


@dataclass
class World:
    conn: object
    sub: dict[str, int] = field(default_factory=dict)
    com: dict[str, int] = field(default_factory=dict)
    grid: dict[str, int] = field(default_factory=dict)
    dept: dict[str, int] = field(default_factory=dict)
    people: dict[str, Actor] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Actor:
        return self.people[name]

    # points inside each community's grid, one outside every grid, and none (an address only: 待定位)
    POINTS = {"C1": (0.5, 0.5), "C2": (1.5, 0.5), "C3": (2.5, 0.5), "outside": (5.5, 5.5), "unlocated": (None, None)}

    def report(self, where: str = "C1", *, category: str = "0102", at: datetime | None = None, actor=None, **kw) -> dict:
        lon, lat = self.POINTS[where]
        if lon is None:
            kw.setdefault("address", "测试路 1 号")
        return service.report_case(self.conn, channel=kw.pop("channel", "hotline"), lon=lon, lat=lat, crs="EPSG:4326",
                                   category_code=category, description=kw.pop("description", "测试案件"),
                                   actor=actor, reported_at=at, **kw)


def build_world(conn) -> World:
    seed_reference(conn)
    w = World(conn)
    did = conn.execute(text(
        "INSERT INTO district(code, name, geom) VALUES ('999998', '测试区', "
        "ST_Multi(ST_GeomFromText('POLYGON((-1 -1, 9 -1, 9 9, -1 9, -1 -1))', 4326))) RETURNING id")).scalar_one()
    for s in ("S1", "S2"):
        w.sub[s] = conn.execute(text("INSERT INTO subdistrict(district_id, code, name) VALUES (:d, :c, :n) RETURNING id"),
                                {"d": did, "c": "999998" + s[1].zfill(3), "n": f"测试街道{s}"}).scalar_one()
    for i, (c, s) in enumerate((("C1", "S1"), ("C2", "S1"), ("C3", "S2"))):
        code = "999998" + s[1].zfill(3) + str(i + 1).zfill(3)
        w.com[c] = conn.execute(text("INSERT INTO community(subdistrict_id, code, name) VALUES (:s, :c, :n) RETURNING id"),
                                {"s": w.sub[s], "c": code, "n": f"测试社区{c}"}).scalar_one()
        gid = conn.execute(text("INSERT INTO unit_grid(community_id, code, name) VALUES (:c, :code, :n) RETURNING id"),
                           {"c": w.com[c], "code": code + "001", "n": f"网格{c}"}).scalar_one()
        conn.execute(text(
            "INSERT INTO grid_version(grid_id, version_no, geom, valid_from) VALUES (:g, 1, "
            "ST_MakeEnvelope(:x, 0, :x + 1, 1, 4326), '2020-01-01')"), {"g": gid, "x": i})
        w.grid[c] = gid
    w.dept = dict(conn.execute(text("SELECT code, id FROM department")).all())
    people = {
        "disp_c1": ("dispatcher", "community", w.com["C1"], None, None),
        "disp_c2": ("dispatcher", "community", w.com["C2"], None, None),
        "disp_c3": ("dispatcher", "community", w.com["C3"], None, None),
        "disp_s1": ("dispatcher", "subdistrict", None, w.sub["S1"], None),
        "disp_s2": ("dispatcher", "subdistrict", None, w.sub["S2"], None),
        "disp_d": ("dispatcher", "district", None, None, None),
        "staff_hwc": ("department_staff", "department", None, None, w.dept["HWC"]),
        "staff_hwc2": ("department_staff", "department", None, None, w.dept["HWC"]),
        "staff_cgzf": ("department_staff", "department", None, None, w.dept["CGZF"]),
        "gw_c1": ("grid_worker", "community", w.com["C1"], None, None),
        "gw_c3": ("grid_worker", "community", w.com["C3"], None, None),
        "cmd": ("command_staff", "district", None, None, None),
        "planner": ("planner", "district", None, None, None),
        "admin": ("admin", "district", None, None, None),
    }
    for name, (role, unit, com, sub, dept) in people.items():
        pid = conn.execute(text(
            "INSERT INTO person(username, full_name, role, unit_level, community_id, subdistrict_id, department_id) "
            "VALUES (:u, :f, :r, :l, :c, :s, :d) RETURNING id"),
            {"u": f"t_{name}", "f": f"测试{name}", "r": role, "l": unit, "c": com, "s": sub, "d": dept}).scalar_one()
        w.people[name] = load_actor(conn, pid)
    return w


@pytest.fixture
def world(conn) -> World:
    return build_world(conn)


# --- bringing a case to a state by legal moves ------------------------------------------------------

PATH_TO = {
    "reported": [],
    "registered": ["register"],
    "rejected": ["reject"],
    "merged": ["merge"],
    "dispatched": ["register", "dispatch"],
    "disposing": ["register", "dispatch", "accept"],
    "awaiting_verification": ["register", "dispatch", "accept", "feed_back"],
    "closed": ["register", "dispatch", "accept", "feed_back", "verify_pass"],
    "rework": ["register", "dispatch", "accept", "feed_back", "verify_fail"],
    "postponed": ["register", "dispatch", "accept", "request_postponement", "approve_postponement"],
    "returned": ["register", "dispatch", "return"],
}


def params_for(w: World, action: str, case: dict) -> dict:
    """Valid parameters for ``action`` on ``case`` (creating what they refer to)."""
    if action == "merge":
        return {"duplicate_of": w.report(case.get("_where", "C1"))["id"]}
    if action in ("relocate", "locate"):
        return {"lon": 0.25, "lat": 0.75}
    if action == "set_level":
        return {"level": "subdistrict" if case["level"] != "subdistrict" else "community"}
    if action == "self_handle":
        return {"after_photo_ref": "photos/after.jpg"}
    if action == "evaluate":
        return {"score": 4}
    if action in ("reject", "escalate", "close", "return", "request_postponement", "deny_postponement",
                  "feed_back", "verify_fail", "chase", "reply"):
        return {"comment": f"{action} 说明"}
    return {}


def bring_to(w: World, status: str, *, where: str = "C1", actor: str = "admin", pending_request: bool = False,
             outside: bool = False) -> dict:
    """A fresh case moved to ``status`` by legal moves (as ``actor``)."""
    case = w.report("outside" if outside else where)
    for action in PATH_TO[status]:
        case = service.transition(w.conn, case_id=case["id"], action=action, actor=w[actor],
                                  **params_for(w, action, {**case, "_where": where}))
    if pending_request:
        case = service.transition(w.conn, case_id=case["id"], action="request_postponement", actor=w[actor],
                                  comment="需要更多时间")
    return case
