"""Reports with an address and no position (待定位, issue 9): stored without a grid, queued for the
command centre and the subdistricts, located once through the one transition function (the
database assigns the grid), then on round the normal loop (on the world of tests/world.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from dispatch import desk, permissions, queries, service
from dispatch.errors import Conflict, IllegalTransition, InvalidInput, PermissionDenied
from gis.crs import from_wgs84

ADDRESS = "兴隆台区 科技路 18 号 东侧人行道"


def unlocated(w, **kw) -> dict:
    return service.report_case(w.conn, channel="hotline", lon=None, lat=None, category_code="0102",
                               description="井盖缺失", address=kw.pop("address", ADDRESS), **kw)


def _events(conn, case_id):
    return conn.execute(text("SELECT action, from_status, to_status, grid_id, actor_id, data FROM case_event "
                             "WHERE case_id = :i ORDER BY at, id"), {"i": case_id}).mappings().all()


def test_an_address_only_report_is_stored_without_a_grid_and_with_its_address(world, conn):
    case = unlocated(world)
    assert case["geom"] is None and case["received_x"] is None and case["received_crs"] is None
    assert (case["grid_id"], case["community_id"], case["subdistrict_id"], case["reported_grid_code"]) == (None,) * 4
    assert case["outside_jurisdiction"] is False and case["status"] == "reported" and case["address"] == ADDRESS
    assert case["case_no"]
    (ev,) = _events(conn, case["id"])
    assert ev["action"] == "report" and ev["data"] == {"channel": "hotline", "awaiting_location": True}


@pytest.mark.parametrize("kw, field", [({"address": None}, "address"), ({"address": "   "}, "address"),
                                       ({"lon": 0.5}, "lat"), ({"lat": 0.5}, "lon")])
def test_a_report_needs_a_point_or_an_address(world, conn, kw, field):
    args = {"lon": None, "lat": None, "address": ADDRESS, **kw}
    with pytest.raises(InvalidInput) as e:
        service.report_case(conn, channel="hotline", category_code="0102", **args)
    assert field in e.value.params.get("fields", [])


def test_the_database_refuses_a_case_without_position_that_is_not_awaiting_location(world, conn):
    case = unlocated(world)
    with pytest.raises(sa_exc.IntegrityError, match="cases_awaiting_location"), conn.begin_nested():
        conn.execute(text("UPDATE cases SET status = 'registered', level = 'community', registered_at = now() "
                          "WHERE id = :i"), {"i": case["id"]})
    with pytest.raises(sa_exc.IntegrityError, match="cases_awaiting_location"), conn.begin_nested():
        conn.execute(text("INSERT INTO cases(channel, address) VALUES ('hotline', NULL)"))
    with pytest.raises(sa_exc.IntegrityError, match="cases_received_with_position"), conn.begin_nested():
        conn.execute(text("UPDATE cases SET received_x = 1 WHERE id = :i"), {"i": case["id"]})
    # a located case never loses its position
    placed = world.report("C1")
    with pytest.raises(sa_exc.IntegrityError, match="keeps its location"), conn.begin_nested():
        conn.execute(text("UPDATE cases SET geom = NULL, received_x = NULL, received_y = NULL, received_crs = NULL "
                          "WHERE id = :i"), {"i": placed["id"]})


def test_locate_is_one_event_the_database_assigns_the_grid_and_the_loop_goes_on(world, conn):
    case = unlocated(world)
    row = service.transition(conn, case_id=case["id"], action="locate", actor=world["disp_d"],
                             expected_version=case["version"], lon=1.25, lat=0.75, crs="WGS84", comment="按地址查得")
    assert row["version"] == case["version"] + 1 and row["status"] == "reported"
    assert row["grid_id"] == world.grid["C2"] and row["community_id"] == world.com["C2"]
    assert row["reported_grid_code"] == row["grid_code"] and row["reported_grid_version_id"] is not None
    assert (row["received_x"], row["received_y"], row["received_crs"]) == (1.25, 0.75, "WGS84")
    assert not row["outside_jurisdiction"]
    evs = _events(conn, case["id"])
    assert [e["action"] for e in evs] == ["report", "locate"]
    loc = evs[-1]
    assert loc["actor_id"] == world["disp_d"].person_id and loc["grid_id"] == world.grid["C2"]
    assert loc["data"]["lon"] == 1.25 and loc["data"]["grid_code"] == row["grid_code"]
    assert loc["data"]["address"] == ADDRESS
    # … and on round the normal loop, by the unit that now holds it
    reg = service.transition(conn, case_id=case["id"], action="register", actor=world["disp_c2"], level="community")
    assert reg["status"] == "registered"
    # located once: a second locate, a relocate of a case inside the district, are refused
    with pytest.raises(IllegalTransition):
        service.transition(conn, case_id=case["id"], action="locate", actor=world["disp_d"], lon=0.5, lat=0.5)


def test_locate_converts_gcj02_and_keeps_what_was_received(world, conn):
    # GCJ-02 is defined only inside China (the world's grids are not): the sample district's centre
    lon, lat = from_wgs84(122.07, 41.12, "GCJ02")
    case = unlocated(world)
    row = service.transition(conn, case_id=case["id"], action="locate", actor=world["disp_d"], lon=lon, lat=lat,
                             crs="GCJ02")
    assert row["received_crs"] == "GCJ02" and row["received_x"] == pytest.approx(lon)
    x, y = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM cases WHERE id = :i"), {"i": case["id"]}).one()
    assert (x, y) == (pytest.approx(122.07, abs=1e-5), pytest.approx(41.12, abs=1e-5))
    # the grid is the database's one rule (grid_at_point; outside if the sample is not loaded)
    rule = conn.execute(text("SELECT grid_id FROM grid_at_point(ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
                        {"x": x, "y": y}).scalar()
    assert row["grid_id"] == rule and row["outside_jurisdiction"] == (rule is None)


def test_what_may_be_done_to_a_case_awaiting_location(world, conn):
    case = unlocated(world)
    detail = queries.case_detail(conn, case["id"])
    assert detail["awaiting_location"] and detail["lon"] is None
    assert desk.allowed_actions(world["disp_d"], detail) == ["reject", "merge", "locate", "reply"]
    assert desk.allowed_actions(world["disp_s1"], detail) == ["locate"]
    assert desk.allowed_actions(world["disp_c1"], detail) == []
    assert desk.allowed_actions(world["staff_hwc"], detail) == []
    # the service refuses the moves that need a place, naming why
    with pytest.raises(InvalidInput, match="待定位"):
        service.transition(conn, case_id=case["id"], action="register", actor=world["admin"], level="community")
    with pytest.raises(PermissionDenied):
        service.transition(conn, case_id=case["id"], action="locate", actor=world["disp_c1"], lon=0.5, lat=0.5)
    # rejecting a prank call needs no place
    row = service.transition(conn, case_id=case["id"], action="reject", actor=world["disp_d"], comment="无效来电")
    assert row["status"] == "rejected" and row["geom"] is None


def test_a_subdistrict_locates_only_inside_its_own_area_and_nothing_is_left_half_done(world, conn):
    case = unlocated(world)
    s1 = world["disp_s1"]
    for lon, lat in ((2.5, 0.5), (5.5, 5.5)):  # in S2's C3; outside every grid
        with pytest.raises(InvalidInput, match="街道"):
            service.transition(conn, case_id=case["id"], action="locate", actor=s1, lon=lon, lat=lat,
                               expected_version=case["version"])
        now = conn.execute(text("SELECT geom, grid_id, version, received_x FROM cases WHERE id = :i"),
                           {"i": case["id"]}).one()
        assert tuple(now) == (None, None, case["version"], None)
        assert [e["action"] for e in _events(conn, case["id"])] == ["report"]
    row = service.transition(conn, case_id=case["id"], action="locate", actor=s1, lon=0.5, lat=0.5,
                             expected_version=case["version"])
    assert row["community_id"] == world.com["C1"] and row["subdistrict_id"] == world.sub["S1"]


@pytest.mark.parametrize("values, says", [({"lon": "east", "lat": 0.5}, "不是数字"), ({"lon": 0.5}, "lat"),
                                          ({"lon": 0.5, "lat": 0.5, "crs": "MARS2000"}, "MARS2000"),
                                          ({"lon": 0.5, "lat": 95.0}, "95")])
def test_bad_coordinates_are_refused_naming_what_is_wrong(world, conn, values, says):
    case = unlocated(world)
    with pytest.raises(InvalidInput) as e:
        service.transition(conn, case_id=case["id"], action="locate", actor=world["disp_d"], **values)
    assert says in str(e.value)
    assert conn.execute(text("SELECT geom IS NULL FROM cases WHERE id = :i"), {"i": case["id"]}).scalar_one()


def test_locating_a_case_someone_else_located_first_is_a_conflict(world, conn):
    case = unlocated(world)
    service.transition(conn, case_id=case["id"], action="locate", actor=world["disp_d"], lon=0.5, lat=0.5,
                       expected_version=case["version"])
    with pytest.raises(Conflict):
        service.transition(conn, case_id=case["id"], action="locate", actor=world["disp_s1"], lon=1.5, lat=0.5,
                           expected_version=case["version"])


def test_the_awaiting_location_queue_belongs_to_the_command_centre_and_the_subdistricts(world, conn):
    case = unlocated(world)
    cid = case["id"]

    def where(actor):
        return [q for q in desk.WORKING_QUEUES if cid in {r.id for r in desk.queue_rows(conn, queue=q, actor=actor)}]

    assert where(None) == ["awaiting_location"]  # exactly one working queue
    assert where(world["disp_d"]) == where(world["disp_s1"]) == where(world["disp_s2"]) == ["awaiting_location"]
    assert where(world["disp_c1"]) == []
    row = desk.queue_rows(conn, queue="awaiting_location", actor=world["disp_s2"])[0]
    assert row.awaiting_location and row.address == ADDRESS
    assert desk.queue_counts(conn, actor=world["disp_s1"])["awaiting_location"] >= 1
    assert desk.case_panel(conn, case_id=cid, actor=world["disp_s2"]) is not None  # may open it to locate it
    assert desk.case_panel(conn, case_id=cid, actor=world["disp_c1"]) is None
    # once located it leaves the queue for the one its place says
    service.transition(conn, case_id=cid, action="locate", actor=world["disp_s2"], lon=2.5, lat=0.5)
    assert where(None) == ["awaiting_sorting"] and where(world["disp_c3"]) == ["awaiting_sorting"]
    assert where(world["disp_s1"]) == []


def test_may_place_is_the_rule_the_queues_follow():
    from accounts.actors import Actor

    s1 = Actor(0, "t", "t", "dispatcher", "subdistrict", subdistrict_id=7)
    unplaced = {"community_id": None, "subdistrict_id": None, "outside_jurisdiction": False}
    assert permissions.may_place(s1, unplaced)
    assert not permissions.may_place(s1, {**unplaced, "outside_jurisdiction": True})
    assert permissions.may_place(s1, {"community_id": 3, "subdistrict_id": 7, "outside_jurisdiction": False})
    assert not permissions.may_place(s1, {"community_id": 3, "subdistrict_id": 8, "outside_jurisdiction": False})
    assert not permissions.may_place(Actor(0, "t", "t", "dispatcher", "community", community_id=3), unplaced)


# --- possible duplicates once located: the intake's rule (dispatch.duplicates), run by ``locate`` ----------

SPOT = (1.2, 0.7)  # in C2; at this latitude 0.0001° of longitude is ~11.1 m


def _near(dx_m: float) -> tuple[float, float]:
    return SPOT[0] + dx_m / 111_240.0, SPOT[1]


def _candidate(w, dx_m: float, *, category: str = "0102", days_before: float = 0.0) -> dict:
    lon, lat = _near(dx_m)
    at = w.conn.execute(text("SELECT now() - make_interval(secs => :s)"), {"s": days_before * 86400}).scalar_one()
    return service.report_case(w.conn, channel="grid_worker", lon=lon, lat=lat, crs="EPSG:4326", category_code=category,
                               description="同一处井盖", reported_at=at)


def _links(conn, case_id):
    return conn.execute(text("SELECT candidate_id, status, round(distance_m) AS m FROM case_possible_duplicate "
                             "WHERE case_id = :i ORDER BY distance_m"), {"i": case_id}).mappings().all()


def test_a_located_report_is_linked_to_an_open_same_category_case_within_50_m(world, conn):
    from intake.duplicates import may_decide, pending_links

    near = _candidate(world, 30.0)
    recent = _candidate(world, 45.0, days_before=29)
    case = unlocated(world)
    assert _links(conn, case["id"]) == []  # no point, no distance
    row = service.transition(conn, case_id=case["id"], action="locate", actor=world["disp_d"], lon=SPOT[0],
                             lat=SPOT[1], crs="WGS84", expected_version=case["version"])
    assert row["grid_id"] == world.grid["C2"]
    links = _links(conn, case["id"])
    assert [(r["candidate_id"], r["status"]) for r in links] == [(near["id"], "pending"), (recent["id"], "pending")]
    assert [r["m"] for r in links] == [30, 45]
    # recorded with the move, and on the dispatcher's panel as for a report that came with its point
    assert _events(conn, case["id"])[-1]["data"]["possible_duplicates"] == [near["case_no"], recent["case_no"]]
    assert [x["case_no"] for x in pending_links(conn, case["id"])] == [near["case_no"], recent["case_no"]]
    assert may_decide(conn, case_id=case["id"], actor=world["disp_c2"])


def test_locate_links_nothing_of_another_category_further_than_50_m_ended_or_older_than_30_days(world, conn):
    _candidate(world, 20.0, category="0401")          # another category
    _candidate(world, 60.0)                           # beyond 50 m
    _candidate(world, 10.0, days_before=31)           # reported 31 days before the located report
    ended = _candidate(world, 5.0)                    # no longer open: rejected
    service.transition(conn, case_id=ended["id"], action="reject", actor=world["disp_d"], comment="重复来电")
    closed = _candidate(world, 15.0)                  # no longer open: resolved on the spot, closed
    service.transition(conn, case_id=closed["id"], action="register", actor=world["disp_c2"], level="community")
    service.transition(conn, case_id=closed["id"], action="close", actor=world["disp_c2"], comment="社区已处理")
    case = unlocated(world)
    service.transition(conn, case_id=case["id"], action="locate", actor=world["disp_d"], lon=SPOT[0], lat=SPOT[1])
    assert _links(conn, case["id"]) == []
    assert "possible_duplicates" not in _events(conn, case["id"])[-1]["data"]


def test_the_intake_and_locate_run_the_same_search(world, conn):
    """The same text: a report that arrives with its point next to the located one links the same way."""
    from dispatch.duplicates import link_possible_duplicates

    near = _candidate(world, 30.0)
    arrived = _candidate(world, 0.0)  # as the intake would have written it, then searched
    assert [d["case_no"] for d in link_possible_duplicates(conn, arrived["id"])] == [near["case_no"]]
    case = unlocated(world)
    service.transition(conn, case_id=case["id"], action="locate", actor=world["disp_d"], lon=SPOT[0], lat=SPOT[1])
    assert [r["candidate_id"] for r in _links(conn, case["id"])] == [arrived["id"], near["id"]]


def _outside(w, dx_m: float = 0.0) -> dict:
    lon, lat = w.POINTS["outside"]
    return service.report_case(w.conn, channel="hotline", lon=lon + dx_m / 111_000.0, lat=lat, crs="EPSG:4326",
                               category_code="0102", description="井盖缺失（位置报错）")


def test_relocate_into_a_grid_runs_the_same_duplicate_search_as_locate(world, conn):
    """A case outside the jurisdiction moved inside a grid is linked as a located report is (issue 9's
    leftover): the same rule from its new point; a link it already had from its first point stays."""
    from dispatch.duplicates import link_possible_duplicates

    near = _candidate(world, 30.0)
    _candidate(world, 60.0)                            # beyond 50 m of the new point
    wrong = _outside(world)
    twin = _outside(world, 10.0)                       # next to the wrong point: linked as the intake would
    assert [d["case_no"] for d in link_possible_duplicates(conn, wrong["id"])] == [twin["case_no"]]
    row = service.transition(conn, case_id=wrong["id"], action="relocate", actor=world["disp_d"], lon=SPOT[0],
                             lat=SPOT[1], expected_version=wrong["version"])
    assert row["grid_id"] == world.grid["C2"] and not row["outside_jurisdiction"]
    links = _links(conn, wrong["id"])
    assert [(r["candidate_id"], r["status"], r["m"]) for r in links] == [(twin["id"], "pending", 10),
                                                                        (near["id"], "pending", 30)]
    # the event names what the move linked, as locate's does
    assert _events(conn, wrong["id"])[-1]["action"] == "relocate"
    assert _events(conn, wrong["id"])[-1]["data"]["possible_duplicates"] == [near["case_no"]]
    # the same search as a located report at the same point
    case = unlocated(world)
    service.transition(conn, case_id=case["id"], action="locate", actor=world["disp_d"], lon=SPOT[0], lat=SPOT[1])
    assert [r["candidate_id"] for r in _links(conn, case["id"])] == [wrong["id"], near["id"]]


def test_a_relocated_case_with_nothing_near_links_nothing(world, conn):
    _candidate(world, 20.0, category="0401")           # another category
    wrong = _outside(world)
    service.transition(conn, case_id=wrong["id"], action="relocate", actor=world["disp_d"], lon=SPOT[0], lat=SPOT[1])
    assert _links(conn, wrong["id"]) == []
    assert "possible_duplicates" not in _events(conn, wrong["id"])[-1]["data"]
