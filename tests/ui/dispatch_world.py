"""A committed test district for the dispatch, department and charts pages, with cases moved
through the lifecycle service (so they have events and versions like real ones).

It is a second lattice from ``tests/ui/district.py`` (code 219997, at 121.40°E 40.80°N, clear
of the wall tests' district and of the sample district), with its own accounts, so these
tests neither see nor disturb the wall tests' figures; ``purge`` removes all of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from dispatch import service
from accounts.actors import Actor, load_actor
from accounts.auth import create_user
from tests.ui.conftest import ROOT
from tests.ui.district import District, build_district, purge_district

CODE = "219997"
ORIGIN = (121.40, 40.80)
PASSWORD = "Dispatch-test-2024"
# username → (role, unit level, unit: ("cm", i) community i, ("sd", i) subdistrict i, or a department code)
USERS = {
    "dpt_cmd": ("command_staff", "district", None),
    "dpt_planner": ("planner", "district", None),
    "dpt_admin": ("admin", "district", None),
    "dpt_disp_d": ("dispatcher", "district", None),
    "dpt_disp_sd": ("dispatcher", "subdistrict", ("sd", 0)),
    "dpt_disp_cm": ("dispatcher", "community", ("cm", 0)),
    "dpt_disp_cm2": ("dispatcher", "community", ("cm", 1)),
    "dpt_staff_hwc": ("department_staff", "department", "HWC"),
    "dpt_staff_cgzf": ("department_staff", "department", "CGZF"),
    "dpt_worker": ("grid_worker", "community", ("cm", 0)),
}
# the way a case gets to each state (as the admin, who may do every move)
PATH = ("reported", "registered", "dispatched", "disposing", "awaiting_verification")


@dataclass
class World:
    district: District
    people: dict[str, Actor] = field(default_factory=dict)
    dept: dict[str, int] = field(default_factory=dict)
    points: list[tuple[float, float]] = field(default_factory=list)  # a point inside each community

    def __getitem__(self, username: str) -> Actor:
        return self.people[username]


def build(engine) -> World:
    with engine.begin() as c:
        purge_district(c, CODE, usernames=tuple(USERS))
        d = build_district(c, code=CODE, origin=ORIGIN)
        w = World(d, dept=dict(c.execute(text("SELECT code, id FROM department")).all()))
        codes = {("cm", i): c.execute(text("SELECT code FROM community WHERE id = :i"), {"i": cid}).scalar_one()
                 for i, cid in enumerate(d.community_ids)}
        codes.update({("sd", i): c.execute(text("SELECT code FROM subdistrict WHERE id = :i"), {"i": sid}).scalar_one()
                      for i, sid in enumerate(d.subdistrict_ids)})
        for username, (role, level, unit) in USERS.items():
            pid = create_user(c, username=username, full_name=f"测{username[4:]}", role=role, password=PASSWORD,
                              unit_level=level, unit=codes.get(unit, unit))
            w.people[username] = load_actor(c, pid)
        for cid in d.community_ids:
            x, y = c.execute(text(
                "SELECT ST_X(ST_Centroid(gv.geom)), ST_Y(ST_Centroid(gv.geom)) FROM grid_version gv "
                "JOIN unit_grid g ON g.id = gv.grid_id WHERE g.community_id = :c AND gv.valid_to IS NULL "
                "ORDER BY g.code LIMIT 1"), {"c": cid}).one()
            w.points.append((x, y))
    return w


def purge(engine) -> None:
    with engine.begin() as c:
        purge_district(c, CODE, usernames=tuple(USERS))


def new_case(engine, w: World, state: str = "reported", *, community: int = 0, level: str = "community",
             category: str = "0102", dept: str = "HWC", description: str = "测试：路边垃圾堆放") -> dict:
    """A case in ``state`` (one of PATH, or 'closed': registered and closed by the sorting unit),
    moved there through the lifecycle service; its row."""
    lon, lat = w.points[community]
    admin = w["dpt_admin"]
    with engine.begin() as c:
        row = service.report_case(c, channel="hotline", lon=lon, lat=lat, category_code=category,
                                  description=description)
        steps = PATH[1:PATH.index(state) + 1] if state in PATH else ()
        for step in steps:
            if step == "registered":
                row = service.transition(c, case_id=row["id"], action="register", actor=admin, level=level)
            elif step == "dispatched":
                row = service.transition(c, case_id=row["id"], action="dispatch", actor=admin,
                                         department_id=w.dept[dept])
            elif step == "disposing":
                row = service.transition(c, case_id=row["id"], action="accept", actor=admin)
            elif step == "awaiting_verification":
                row = service.transition(c, case_id=row["id"], action="feed_back", actor=admin, comment="已清理")
        if state == "closed":
            row = service.transition(c, case_id=row["id"], action="register", actor=admin, level=level)
            row = service.transition(c, case_id=row["id"], action="close", actor=admin, comment="现场已处理")
    return row


def case_row(engine, case_id: int) -> dict:
    with engine.connect() as c:
        return dict(c.execute(text("SELECT * FROM cases WHERE id = :i"), {"i": case_id}).mappings().one())


def open_page(actor: Actor, page: str, *, lang: str | None = None, **state) -> AppTest:
    """An AppTest session signed in as ``actor``, on ``page`` (a file under pages/), with
    ``state`` put into session_state first (that is how a test picks a case: AppTest cannot
    click on a pydeck map)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    if lang:
        at.query_params["lang"] = lang
    at.session_state["actor"] = actor
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    return at.switch_page(page).run()
