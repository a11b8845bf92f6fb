"""The wall pages in AppTest: tiles, the map payload that goes to the browser (ui/wall_map), filters,
language, wall mode."""
from __future__ import annotations

import json

from sqlalchemy import text

from db.live import wait_for_version
from db.statuses import open_sql
from ui import kit
from wall.live_map import unpack
from tests.ui.conftest import ROLES, ROOT
from tests.ui.district import CODE, report_case


def _component(at):
    (chart,) = [e for e in at.get("component_instance") if e.proto.component_name == "ui.wall_map.wall_map"]
    return chart.proto


def _map(at) -> dict:
    """The wall map's payload as the browser gets it (wall.live_map), unpacked."""
    (data,) = [a.bytes for a in _component(at).special_args if a.key == "data"]
    return unpack(data)


def _ids(at) -> list[int]:
    return _map(at)["cases"]["i"]


def _open_cases(engine) -> set[int]:
    with engine.connect() as c:
        return set(c.execute(text(f"SELECT c.id FROM cases c WHERE {open_sql('c')} AND c.geom IS NOT NULL")).scalars())


def _cases_in(engine, ids) -> set[int]:
    """The subdistricts of these cases."""
    with engine.connect() as c:
        return set(c.execute(text("SELECT subdistrict_id FROM cases WHERE id = ANY(:i)"), {"i": ids}).scalars())


def test_the_wall_shows_tiles_map_and_ticker(signed_in, engine):
    at = signed_in(ROLES["command_staff"])
    assert not at.exception
    tiles = {m.label: m.value for m in at.metric}
    assert list(tiles) == ["今日上报", "今日立案", "今日派遣", "今日结案", "在办案件", "超期案件", "待定位",
                           "本月结案率", "本月按期结案率"]
    m = _map(at)
    drawn = set(m["cases"]["i"])
    assert drawn == _open_cases(engine)
    # every open case is drawn but those awaiting location (待定位: no point), which their tile counts
    assert int(tiles["在办案件"].replace(",", "")) == len(drawn) + int(tiles["待定位"].replace(",", ""))
    assert m["detail"] and len(m["detail"]["n"]) == len(drawn)  # case numbers for the tooltips
    assert (ROOT / "static" / "wall" / m["outlines"].rsplit("/", 1)[1]).exists()
    assert not at.get("deck_gl_json_chart")
    assert any("wall-ticker" in h.proto.body for h in at.get("html"))


def test_filters_narrow_the_map_and_the_tiles(signed_in, wall_db, engine):
    at = signed_in(ROLES["command_staff"])
    first = wall_db["district"].subdistrict_ids[0]
    at.multiselect(key="f_sd").set_value([first]).run()
    ids = _ids(at)
    # other districts (the sample's, always loaded in the full suite) must not leak into the filter
    assert ids and _cases_in(engine, ids) == {first}
    assert int(next(m.value for m in at.metric if m.label == "在办案件").replace(",", "")) == len(ids)
    # the community choices follow the chosen subdistrict
    cm_choices = set(at.multiselect(key="f_cm").options)
    assert len(cm_choices) == len(wall_db["district"].community_ids) // 2


def test_a_subdistrict_sharing_its_name_is_still_the_one_filtered(signed_in, wall_db, engine):
    """Streamlit sends a choice back by its label and takes the first option with that label, so
    namesakes (the same subdistrict name in two districts, say) need labels that tell them apart."""
    first, second = wall_db["district"].subdistrict_ids[:2]
    with engine.begin() as c:
        old = c.execute(text("SELECT name FROM subdistrict WHERE id = :i"), {"i": second}).scalar_one()
        c.execute(text("UPDATE subdistrict SET name = (SELECT name FROM subdistrict WHERE id = :a) WHERE id = :b"),
                  {"a": first, "b": second})
    try:
        at = signed_in(ROLES["command_staff"])
        sd = at.multiselect(key="f_sd")
        assert len(set(sd.options)) == len(sd.options)
        sd.set_value([second]).run()
        assert not at.exception
        ids = _ids(at)
        assert ids and _cases_in(engine, ids) == {second}
    finally:
        with engine.begin() as c:
            c.execute(text("UPDATE subdistrict SET name = :n WHERE id = :i"), {"n": old, "i": second})


def test_state_filter_keeps_only_those_states(signed_in):
    at = signed_in(ROLES["dispatcher"])
    at.multiselect(key="f_st").set_value(["reported"]).run()
    assert set(_map(at)["detail"]["s"]) == {"上报"}


def test_the_map_carries_deadlines_not_colours_and_time_alone_sends_nothing_new(signed_in, engine, monkeypatch):
    """Each open case goes with its due and warn times (seconds from t0) for the browser to colour;
    a rerun while only the clock moved sends the same payload (same stamp), however late."""
    import time

    at = signed_in(ROLES["command_staff"])
    m = _map(at)
    with engine.connect() as c:
        rows = {r.id: r for r in c.execute(text(
            "SELECT id, extract(epoch FROM due_at) AS due, extract(epoch FROM warn_at) AS warn FROM cases "
            "WHERE id = ANY(:i)"), {"i": m["cases"]["i"]})}
    assert any(m["cases"]["d"])
    for i, d, w in zip(m["cases"]["i"], m["cases"]["d"], m["cases"]["w"]):
        want_d = None if rows[i].due is None else round(float(rows[i].due) - m["t0"])
        want_w = None if rows[i].warn is None else round(float(rows[i].warn) - m["t0"])
        assert (d, w) == (want_d, want_w)
    assert "k" not in m["cases"]  # no time class from the server
    stamp = json.loads(_component(at).json_args)["stamp"]
    later = time.time() + 3 * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    at.run()
    assert json.loads(_component(at).json_args)["stamp"] == stamp
    assert abs(json.loads(_component(at).json_args)["now"] - later) < 1  # the server's clock rides along


def test_the_map_learns_of_changes_from_the_beacon_file(signed_in, engine):
    """The wall's live check is the map's own poll of a small static file (ui.wall_view.LiveBeacon):
    the page tells the map the token it was drawn from; the file moves on when a case changes."""
    from ui import wall_view

    at = signed_in(ROLES["command_staff"])
    args = json.loads(_component(at).json_args)
    beacon = wall_view.beacon()
    assert args["live_url"].endswith(beacon.name) and (ROOT / "static" / "wall" / beacon.name).exists()
    assert beacon.path.read_text() == args["live_token"]
    listener = kit.listener()
    seen = listener.version
    with engine.begin() as c:
        report_case(c, 121.6031, 40.9751, f"信标 [{CODE}]")
    wait_for_version(listener, seen)
    beacon.write_now()  # what its thread does every 0.1 s
    assert beacon.path.read_text() != args["live_token"]
    at.run()  # the rerun the map asks for
    assert json.loads(_component(at).json_args)["live_token"] == beacon.path.read_text()


def test_english_wall(signed_in):
    at = signed_in(ROLES["command_staff"], lang="en")
    assert [m.label for m in at.metric][:6] == ["Reported today", "Registered today", "Dispatched today", "Closed today",
                                                "Open", "Overdue"]
    names = {label["n"] for label in _map(at)["labels"]}
    assert any(n.startswith("Subdistrict") for n in names)


def test_a_new_report_is_on_the_next_render(signed_in, engine):
    at = signed_in(ROLES["command_staff"])
    before = set(_ids(at))
    listener = kit.listener()  # the process's one listener, which the page's caches are keyed on
    seen = listener.version
    with engine.begin() as c:
        new = report_case(c, 121.6031, 40.9751, f"新上报 [{CODE}]")
    wait_for_version(listener, seen)  # NOTIFY arrives on the listener's thread, not at once
    at.run()  # the live fragment would rerun the app; here we run it ourselves
    after = set(_ids(at))
    assert after - before == {new["id"]}


def test_video_wall_mode_has_no_chrome_and_large_points(signed_in):
    at = signed_in(ROLES["command_staff"])
    at.switch_page("pages/wall_screen.py").run()
    assert not at.exception
    css = "".join(h.proto.body for h in at.get("html"))
    assert '[data-testid="stSidebar"]' in css and "display: none" in css
    m = _map(at)
    assert m["radius"] > 5 and m["labelScale"] > 1


def test_video_wall_cycles_through_subdistricts(signed_in, wall_db, monkeypatch):
    import time

    sds = wall_db["district"].subdistrict_ids
    at = signed_in(ROLES["command_staff"])
    at.query_params["cycle"] = "30"
    at.switch_page("pages/wall_screen.py")
    titles = []
    for slot in range(3):  # whole district, then each subdistrict
        monkeypatch.setattr(time, "time", lambda s=slot: s * 30 + 1.0)
        at.run()
        titles.append(at.title[0].value)
    assert titles[0].endswith("全区") and len(set(titles)) == 3 and len(sds) == 2


def test_the_wall_page_run_in_the_old_mode_never_shows_the_wall_to_a_role_without_it(signed_in):
    """pages/wall.py run directly (AppTest after switch_page, like Streamlit's old multipage mode
    for a deep link) by a session whose role has no wall: the frame shows that role's pages."""
    dept = signed_in(ROLES["department_staff"]).session_state["actor"]
    at = signed_in(ROLES["command_staff"])
    at.switch_page("pages/wall.py")
    at.session_state["actor"] = dept
    at.run()
    assert not at.exception
    assert not at.get("component_instance") and not at.get("deck_gl_json_chart") and not at.metric


def test_the_wall_reads_from_the_replica_when_one_is_configured(signed_in, engine, monkeypatch):
    """DATABASE_REPLICA_URL: the wall's reads go to the standby (its connections show there), and
    it draws the same open cases (tests/db/test_replica.py shows the freshness rule)."""

    from sqlalchemy import create_engine

    from db import replica
    from db.config import LOCAL_USER, local_password
    from db.engine import get_engine
    from tests.db.test_replica import start_standby

    was_running = start_standby()
    monkeypatch.setenv("DATABASE_REPLICA_URL", "local")
    test_db = engine.url.database
    get_engine(replica.local_replica_url(test_db), timeouts=True).dispose()
    owner = create_engine(f"postgresql+psycopg2://{LOCAL_USER}:{local_password()}@127.0.0.1:{replica.port()}/postgres")
    try:
        at = signed_in(ROLES["command_staff"])
        assert not at.exception
        assert set(_ids(at)) == _open_cases(engine)
        with owner.connect() as c:
            on_standby = c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d "
                                        "AND application_name = 'gridgov'"), {"d": test_db}).scalar_one()
        assert on_standby >= 1
    finally:
        owner.dispose()
        get_engine(replica.local_replica_url(test_db), timeouts=True).dispose()
        if not was_running:
            replica.down()


def test_a_community_or_subdistrict_dispatcher_opens_the_wall_on_their_own_area(signed_in, wall_db, engine):
    from accounts.auth import create_user
    from tests.ui.district import PASSWORD

    d = wall_db["district"]
    with engine.begin() as c:
        cm, sd = c.execute(text("SELECT c.code, s.code FROM community c JOIN subdistrict s ON s.id = c.subdistrict_id "
                                "WHERE c.id = :i"), {"i": d.community_ids[0]}).one()
        for username, level, unit in (("uit_disp_comm", "community", cm), ("uit_disp_sub", "subdistrict", sd)):
            if not c.execute(text("SELECT 1 FROM person WHERE username = :u"), {"u": username}).first():
                create_user(c, username=username, full_name="测试" + level, role="dispatcher", password=PASSWORD,
                            unit_level=level, unit=unit)
    try:
        _own_area(signed_in, d, engine)
    finally:  # the test district's teardown removes only its own accounts
        with engine.begin() as c:
            c.execute(text("DELETE FROM person WHERE username IN ('uit_disp_comm', 'uit_disp_sub')"))


def _own_area(signed_in, d, engine) -> None:
    at = signed_in("uit_disp_comm")
    assert not at.exception
    assert at.multiselect(key="f_sd").value == [d.subdistrict_ids[0]]
    assert at.multiselect(key="f_cm").value == [d.community_ids[0]]
    ids = _ids(at)
    with engine.connect() as c:
        comms = set(c.execute(text("SELECT community_id FROM cases WHERE id = ANY(:i)"), {"i": ids}).scalars())
    assert ids and comms == {d.community_ids[0]}
    # the whole district is one click away, and the choice is kept on the next run
    at.multiselect(key="f_cm").set_value([]).run()
    at.multiselect(key="f_sd").set_value([]).run()
    assert len(_ids(at)) > len(ids) and at.multiselect(key="f_sd").value == []
    at = signed_in("uit_disp_sub")
    assert at.multiselect(key="f_sd").value == [d.subdistrict_ids[0]] and at.multiselect(key="f_cm").value == []
    # the command centre: the district
    assert signed_in(ROLES["command_staff"]).multiselect(key="f_sd").value == []
