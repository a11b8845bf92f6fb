"""Drawing the map wall: KPI tiles, the map, the ticker and the live watcher (used by the wall
pages and by any page that wants the same map, e.g. dispatch with ``on_select``).

Live updates without resending an idle wall: the map is drawn by full runs only. The desk pages
(派单, 部门工单) watch in the browser (``desk_watch``): a small component polls the desk beacon file
and, when the listener's version (bumped by NOTIFY) or connection state moved, asks for a rerun
through a trigger whose callback reruns the page only if its digest changed; no script runs
while nothing changes. The wall screen while it cycles keeps a tiny fragment that runs every
second (``watch``).

Time alone also changes a wall — cases turn amber and red. The wall pages draw their map with
the component ``ui.wall_map`` (``wall_map_chart``), which receives each open case's due and warn
times once and recolours in the browser from the clock: a quiet wall reruns only at midnight
(the ticker's dates). Their live check is the map's own: it polls the ``LiveBeacon`` file over
HTTP every second (cheaper than a fragment run); when it moved, the map fetches its own delta
file (``wall.delta``: the cases of its filter changed since its reading, written by the beacon
thread once per change for every wall) and merges them with no rerun, then asks for one rerun
``SETTLE_S`` later for the tiles and the ticker; the fragment stays as a safety net every ``SAFETY_S``.
The dispatch page draws the same component (``ui/dispatch_map_view.py``); its queues follow the
clock at most every ``RECOLOUR_S``. ``frame``/``map_chart`` (the server-coloured pydeck frame of
``wall/frame.py``) remain for ``bench wall``'s comparison. The KPI tiles, a few hundred bytes,
follow the clock every minute.
"""
from __future__ import annotations

import dataclasses
import hashlib
import html
import logging
import os
import threading
import time
import secrets
from datetime import datetime, timedelta

import pydeck as pdk
import streamlit as st

from db import replica
from db.config import database_url
from dispatch.calendar import TZ
from i18n import t
from stats.filters import filter_options
from wall import frame as wall_frame_model
from wall.frame import (AT_RISK, FILL, G_POSTPONED, G_SUPERVISED, G_VERIFY, NO_DEADLINE, ON_TIME, OVERDUE, RING,
                        TickerRow, WallFilter, WallFrame, base_map, boundary_stamp, kpis, local_midnight,
                        write_atomic, write_outlines)
from wall.delta import DeltaFeed
from wall.live_map import LiveMap
from wall.live_map import live_map as live_map_model
from ui import kit
from ui import presence
from ui.wall_map import wall_map

log = logging.getLogger(__name__)

POLL_S = 1.0
SAFETY_S = 30.0   # the wall pages' own live check: a safety net behind the map's beacon poll
# After the map merged a delta, the page reruns (tiles, ticker, shading) this much later (each map adds up
# to half again, at random, so a room of walls does not rerun at once): one rerun per SETTLE_S however
# many reports came meanwhile. The points never wait for it (they come by delta); the tiles follow
# the clock every TILES_S anyway. 8 s had ten walls rerunning about every 10 s while reports flowed.
SETTLE_S = 15.0
BEACON_S = 0.1    # how often the beacon thread looks at the listener
RECOLOUR_S = 30 * 60
TILES_S = 60
OUTLINES_DIR = kit.STATIC / "wall"
OUTLINES_URL = "app/static/wall/"  # relative: works under any server.baseUrlPath
# The map's usual size in pixels at a desk and on a video wall; the initial view is fitted to it.
DESK_MAP, SCREEN_MAP = (900, 620), (1500, 820)


class SpecDeck(pdk.Deck):
    """A deck whose JSON is already written (compact, see wall.frame.deck_json).

    ``st.pydeck_chart`` sends ``to_json()`` as it is; pydeck's own serialiser would indent it
    and double its size.
    """

    def __init__(self, spec: str, tooltip: dict):
        super().__init__(layers=[], map_provider=None, tooltip=tooltip)
        self._spec = spec

    def to_json(self) -> str:
        return self._spec


@st.cache_data(max_entries=4, show_spinner=False)
def _base(stamp: str, lang: str):
    with kit.reading() as conn:
        return base_map(conn, lang)


@st.cache_data(max_entries=8, show_spinner=False)
def options(stamp: str, lang: str) -> dict:
    """The filter choices (stats.filters) of the wall and the charts, per boundary stamp."""
    with kit.reading() as conn:
        return filter_options(conn, lang)


def current_stamp() -> str:
    with kit.reading() as conn:
        return boundary_stamp(conn)


@st.cache_data(max_entries=32, show_spinner=False)
def wall_frame(version: int, f: WallFilter, lang: str, era: float, large: bool) -> WallFrame:
    """wall.frame.wall_frame for one listener version, shared by every session showing the same.

    ``era`` only forces a recomputation once a case's colour is due to change.
    """
    with kit.reading() as conn:
        base = _base(boundary_stamp(conn), lang)
        name = write_outlines(base, OUTLINES_DIR)  # a no-op once the file is there
        return wall_frame_model.wall_frame(conn, f, lang, datetime.now(TZ), base=base, outlines_url=OUTLINES_URL + name,
                                   size=SCREEN_MAP if large else DESK_MAP, large=large)


def frame(f: WallFilter, *, large: bool = False) -> tuple[WallFrame, int]:
    """The wall frame for the current listener version; (frame, version it was drawn from)."""
    version = kit.listener().version
    era = st.session_state.get("wall_era", 0.0)
    fr = wall_frame(version, f, kit.lang(), era, large)
    if time.time() >= _recolour_at(fr):
        # Cases have changed colour since this frame was computed.
        st.session_state.wall_era = _recolour_at(fr)
        fr = wall_frame(version, f, kit.lang(), st.session_state.wall_era, large)
    return dataclasses.replace(fr, valid_until=_recolour_at(fr)), version


@st.cache_data(max_entries=32, show_spinner=False)
def live_map(feed_id: str, seq: int, f: WallFilter, lang: str, large: bool, _rows: dict) -> LiveMap:
    """wall.live_map.live_map for one reading of the delta feed (``seq``; ``_rows``, every open case
    of that reading), shared by every session showing the same.

    Keyed on the reading only: the browser recolours as time passes, so nothing here expires.
    The cases come from the feed's reading, so the deltas that follow it (``wall.delta``) start
    exactly where this map ends.
    """
    with kit.reading() as conn:
        base = _base(boundary_stamp(conn), lang)
        name = write_outlines(base, OUTLINES_DIR)  # a no-op once the file is there
        return live_map_model(conn, f, lang, datetime.now(TZ), base=base, outlines_url=OUTLINES_URL + name,
                              size=SCREEN_MAP if large else DESK_MAP, large=large, rows=list(_rows.values()),
                              seq=seq)


@st.cache_resource(show_spinner=False)
def delta_feed() -> DeltaFeed:
    """One reading of the open cases per change for every wall of this server process (wall.delta)."""
    lst = kit.listener()
    url = database_url()
    return DeltaFeed(lambda: replica.reading(lst.lsn, primary_url=url), OUTLINES_DIR)


def wall_owner() -> str:
    """This signed-in session's key to its delta files (``wall.delta``: dropped at sign-out)."""
    owner = st.session_state.get("wall_owner")
    if owner is None:
        owner = st.session_state.wall_owner = secrets.token_hex(12)
    return owner


def revoke_session_feed() -> None:
    """At sign-out (by the user, the idle time-out or a deactivated account): the session's delta
    files go, so their URLs tell nothing more."""
    owner = st.session_state.pop("wall_owner", None)
    if owner is not None:
        delta_feed().revoke(owner)


def map_frame(f: WallFilter, *, large: bool = False) -> tuple[LiveMap, int]:
    """The wall pages' map at the feed's current reading; (map, listener version it was drawn from).

    The map's ``delta`` names the file of this wall's deltas (registered before the reading, so
    the map is never older than what the file can bring up to date)."""
    version = kit.listener().version
    lang = kit.lang()
    feed = delta_feed()
    name = feed.register(f, lang, _base(current_stamp(), lang).origin, owner=wall_owner())
    seq, rows = feed.sync(version)
    lm = live_map(feed.id, seq, f, lang, large, rows)
    return dataclasses.replace(lm, delta=name), version


class LiveBeacon:
    """The live listener's state, ``"<version>:<connected 0|1>"``, in a small static file of this
    server process (``static/wall/live-<pid>.txt``), rewritten whenever it changes.

    The wall's map polls that file over plain HTTP once a second (about 0.7 kB a poll, both ways)
    and asks for a rerun when it differs from what its page was drawn from. A Streamlit fragment
    doing the same costs about 1.7 kB a run on the websocket (every run carries the session's
    page list), which alone would use most of an idle wall's 100 KB/min.
    """

    def __init__(self, listener, directory=OUTLINES_DIR, interval: float = BEACON_S, feed: DeltaFeed | None = None,
                 prefix: str = "live", extra=None):
        self._listener = listener   # the process's one (kit.listener), taken in a script run
        self._feed = feed           # with a feed, the mark is its reading, taken first (deltas before the news)
        self._extra = extra         # a function whose value is added to the mark (the desks' presence generation)
        self.name = f"{prefix}-{os.getpid()}.txt"
        self.path = directory / self.name
        self._interval = interval
        self._last: str | None = None
        self._thread = threading.Thread(target=self._run, name="wall-live-beacon", daemon=True)

    @staticmethod
    def token(version: int, connected: bool) -> str:
        return f"{version}:{int(connected)}"

    def mark(self, version: int, connected: bool) -> str:
        """The mark for ``version`` and ``connected``, with the beacon's extra value if it has one."""
        return self.token(version, connected) + (f":{self._extra()}" if self._extra is not None else "")

    def write_now(self) -> None:
        lst = self._listener
        if self._feed is not None:
            seq = self._feed.seq
            try:
                seq = self._feed.sync(lst.version)[0]   # every wall's delta file first, then the mark announcing it
            except Exception:  # noqa: BLE001 (the database away: the mark keeps the last reading; the safety check reruns)
                log.warning("wall delta feed could not read", exc_info=True)
            mark = self.token(seq, lst.connected.is_set())
        else:
            mark = self.mark(lst.version, lst.connected.is_set())  # the live version: public, not a secret
        if mark != self._last:
            write_atomic(self.path, mark)  # the thread, or a test calling write_now: a poll never reads half a mark
            self._last = mark

    @property
    def current(self) -> str | None:
        """The mark last written."""
        return self._last

    def _run(self) -> None:
        while True:
            try:
                self.write_now()
            except Exception:  # noqa: BLE001 (a full disk, a removed folder: the safety check still reruns)
                pass
            time.sleep(self._interval)

    def start(self) -> "LiveBeacon":
        self.write_now()
        self._thread.start()
        return self


@st.cache_resource(show_spinner=False)
def beacon() -> LiveBeacon:
    """One beacon thread per server process."""
    return LiveBeacon(kit.listener(), feed=delta_feed()).start()


@st.cache_resource(show_spinner=False)
def desk_beacon() -> LiveBeacon:
    """The listener's own version (no delta feed) and the presence keeper's generation
    (``ui.presence``), for the desk pages' watcher (``live`` with a ``digest``): one beacon
    thread per server process beside the walls' one."""
    k = presence.keeper()
    return LiveBeacon(kit.listener(), prefix="desk-live", extra=lambda: k.gen).start()


def next_midnight() -> float:
    """When a quiet wall reruns anyway: the ticker writes today's times as HH:MM, older ones with the date."""
    return (local_midnight(datetime.now(TZ)) + timedelta(days=1)).timestamp()


def wall_map_chart(lm: LiveMap, version: int, *, height: int = 620, key: str = "wall-map") -> None:
    """The wall's map (ui.wall_map): the browser colours the cases from the clock and polls the
    beacon, asking for a rerun when the listener has moved past ``version``; a click picks nothing."""
    stamp = hashlib.sha1(lm.payload).hexdigest()[:16]
    b = beacon()
    token = b.token(lm.seq if lm.delta else version, kit.listener().connected.is_set())
    wall_map(lm.payload, stamp=stamp, key=key, height=height, alt=kit.tr("wall.map_alt"),
             live_url=OUTLINES_URL + b.name, live_token=token,
             delta_url=OUTLINES_URL + lm.delta if lm.delta else None, seq=lm.seq, settle_s=SETTLE_S)


def _recolour_at(fr: WallFrame) -> float:
    return max(fr.valid_until, fr.computed_at + RECOLOUR_S)


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


KPI_ORDER = ("reported_today", "registered_today", "dispatched_today", "closed_today", "open", "overdue",
             "awaiting_location", "closure_rate", "on_time_rate")


@st.cache_data(max_entries=32, show_spinner=False)
def _figures(version: int, f: WallFilter, minute: int) -> dict:
    with kit.reading() as conn:
        return kpis(conn, f, datetime.now(TZ))


@st.fragment(run_every=TILES_S)
def kpi_tiles(f: WallFilter) -> None:
    """The KPI tiles (today's flow, the open load, the month's rates); they follow the clock every minute and any change at once."""
    figures = _figures(kit.listener().version, f, int(time.time() // TILES_S))
    cols = st.columns(len(KPI_ORDER))
    for col, key in zip(cols, KPI_ORDER):
        value = figures[key]
        with col.container(key=f"kpi-{key}"):
            st.metric(kit.tr(f"wall.kpi.{key}"), _pct(value) if key.endswith("rate") else f"{value:,}")


def map_chart(fr: WallFrame, *, height: int = 620, key: str = "wall-map", on_select="ignore"):
    return st.pydeck_chart(SpecDeck(fr.spec, fr.tooltip), height=height, key=key,
                           on_select=on_select, selection_mode="single-object", alt=kit.tr("wall.map_alt"))


def chart_message(fr: WallFrame) -> bytes:
    """The ForwardMsg Streamlit sends for ``map_chart(fr)``, hashed as Streamlit does (what
    ``bench wall`` sizes; it lives here because only the UI layer may import Streamlit)."""
    import json

    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.runtime.forward_msg_cache import populate_hash_if_needed

    msg = ForwardMsg()
    chart = msg.delta.new_element.deck_gl_json_chart
    chart.json = fr.spec
    chart.tooltip = json.dumps(fr.tooltip)
    populate_hash_if_needed(msg)
    return msg.SerializeToString()


def map_message(lm: LiveMap) -> bytes:
    """The ForwardMsg Streamlit sends for ``wall_map_chart(lm)`` (the component with its payload),
    hashed as Streamlit does: what ``bench wall`` sizes as the wall's render."""
    import json

    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.runtime.forward_msg_cache import populate_hash_if_needed

    msg = ForwardMsg()
    ci = msg.delta.new_element.component_instance
    ci.component_name = "ui.wall_map.wall_map"
    ci.json_args = json.dumps({"stamp": hashlib.sha1(lm.payload).hexdigest()[:16], "now": time.time(),
                               "height": 600, "select": False, "alt": t("wall.map_alt", "zh"), "default": None,
                               "key": "wall-map"})
    arg = ci.special_args.add()
    arg.key, arg.bytes = "data", lm.payload
    populate_hash_if_needed(msg)
    return msg.SerializeToString()


def starts_a_run(frame: bytes) -> bool:
    """Whether a websocket frame the browser received is the start of a script run (a ForwardMsg
    ``new_session``): what ``bench pages`` counts as a step's reruns."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    try:
        return ForwardMsg.FromString(frame).WhichOneof("type") == "new_session"
    except Exception:  # noqa: BLE001 (not a ForwardMsg)
        return False


def describe_frame(frame: bytes, *, sent: bool) -> str:
    """One websocket frame in a line, decoded with Streamlit's protobuf: what the browser asked for
    (a rerun: fragment, page, the widgets whose state it carries, triggers marked ``!``) or what
    the server sent (a run's start, an element and where, a run's finish and how). What
    ``bench pages --trace`` writes, to follow a click from the browser to what is drawn."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    try:
        if sent:
            m = BackMsg.FromString(frame)
            kind = m.WhichOneof("type")
            if kind != "rerun_script":
                return f"> {kind}"
            rs = m.rerun_script
            widgets = []
            for w in rs.widget_states.widgets:
                v = w.WhichOneof("value")
                mark = "!" if v in ("trigger_value", "string_trigger_value", "json_trigger_value") else ""
                val = getattr(w, v) if v in ("string_trigger_value", "json_value", "json_trigger_value") else ""
                widgets.append(f"{w.id.split('-', 2)[-1][:60]}{mark}{'=' + str(val)[:80] if val else ''}")
            return (f"> rerun page={rs.page_name or rs.page_script_hash[:8]} frag={rs.fragment_id[:12] or '-'} "
                    f"auto={int(rs.is_auto_rerun)} widgets={len(widgets)} "
                    f"[{' '.join(w for w in widgets if '!' in w or '=' in w)}]")
        m = ForwardMsg.FromString(frame)
        kind = m.WhichOneof("type")
        if kind == "delta":
            d = m.delta
            what = d.WhichOneof("type")
            if what == "new_element":
                what = "el:" + d.new_element.WhichOneof("type")
            elif what == "add_block":
                what = "block"
            frag = f" frag={d.fragment_id[:12]}" if d.fragment_id else ""
            return f"< {what} path={list(m.metadata.delta_path)}{frag}"
        if kind == "script_finished":
            return f"< finished {ForwardMsg.ScriptFinishedStatus.Name(m.script_finished)}"
        if kind == "new_session":
            return f"< new_session page={m.new_session.page_script_hash[:8]}"
        if kind == "session_status_changed":
            s = m.session_status_changed
            return f"< status running={int(s.script_is_running)}"
        return f"< {kind}"
    except Exception:  # noqa: BLE001 (not a Streamlit message)
        return f"{'>' if sent else '<'} ? {len(frame)} B"


def ticker(items: tuple[TickerRow, ...], *, height: int | None = None) -> None:
    """The latest events, newest first; ``height`` (px, the map's beside it) caps the box so a
    long list, or longer English rows, never runs past the map (rows are one line each, cut with …)."""
    rows = "".join(
        f'<li><span class="t">{html.escape(i.at)}</span>'
        f'<span class="a">{html.escape(i.area)}<em>{html.escape(i.category)}</em></span>'
        f'<span class="w">{html.escape(i.what)}</span></li>' for i in items)
    body = f"<ul>{rows}</ul>" if rows else f'<p class="empty">{html.escape(kit.tr("wall.ticker.empty"))}</p>'
    cap = f' style="max-height:{int(height)}px"' if height else ""
    st.html(f'<div class="wall-ticker"{cap}><h4>{html.escape(kit.tr("wall.ticker"))}</h4>{body}</div>')


def _dot(rgb, ring=None) -> str:
    border = f"2px solid rgb{tuple(ring)}" if ring else "1px solid #020617"
    return f'<i style="background:rgb{tuple(rgb)};border:{border}"></i>'


def legend() -> None:
    items = [(_dot(FILL[NO_DEADLINE]), "no_deadline"), (_dot(FILL[ON_TIME]), "on_time"),
             (_dot(FILL[AT_RISK]), "at_risk"), (_dot(FILL[OVERDUE], [248, 113, 113]), "overdue"),
             (_dot(FILL[ON_TIME], RING[G_VERIFY]), "verify"), (_dot(FILL[ON_TIME], RING[G_POSTPONED]), "postponed"),
             (_dot(FILL[ON_TIME], RING[G_SUPERVISED]), "supervised"),
             ('<i class="load"></i>', "load")]
    rows = "".join(f"<li>{dot}{html.escape(kit.tr('wall.legend.' + k))}</li>" for dot, k in items)
    st.html(f'<div class="wall-legend"><h4>{html.escape(kit.tr("wall.legend"))}</h4><ul>{rows}</ul></div>')


# The wall clock ticks in the browser (issue 12 §1: a quiet wall costs nothing): it was a fragment
# rerun every 20 s, a script run and its messages three times a minute on every wall, and on the
# cycling video wall the only run between two slots.
_CLOCK_JS = """
export default function(component) {
  const { data, parentElement } = component;
  const host = parentElement.host || parentElement;
  const S = host.__ggClock || (host.__ggClock = { timer: null });
  S.offset = (data.now || Date.now() / 1000) * 1000 - Date.now();  // the server's clock, not the screen's
  S.fmt = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hour12: false, timeZone: data.tz });
  let el = parentElement.querySelector('.gg-clock');
  if (!el) { el = document.createElement('h3'); el.className = 'gg-clock'; parentElement.appendChild(el); }
  const show = () => { el.textContent = S.fmt.format(new Date(Date.now() + S.offset)); };
  show();
  if (!S.timer) S.timer = setInterval(show, 1000);
  return () => { clearInterval(S.timer); S.timer = null; };
}
"""
_CLOCK_CSS = """
.gg-clock { font-family: inherit; font-size: 1.75rem; font-weight: 600; line-height: 1.2; margin: 0 0 1rem 0;
            font-variant-numeric: tabular-nums; color: inherit; }
"""
_clock = st.components.v2.component("gridgov_wall_clock", js=_CLOCK_JS, css=_CLOCK_CSS)


def clock() -> None:
    """The wall clock (HH:MM in the district's time zone, from the server's clock), kept by the
    browser: no script run while it moves."""
    _clock(key="wall-clock", data={"now": time.time(), "tz": str(TZ)})


SAME = "live.same"  # (version drawn, version looked at) whose page digests were found equal
PARTS = "live.parts"  # parts of a desk page that watch what they drew (``part_drawn``)
GEN = "live.gen"      # the page's full runs, counted by ``live``: a part not drawn in the last one is dropped


def part_drawn(name: str, stamp=None, shown=None, *args) -> None:
    """A part of a desk page drew itself, in the page's run or in a run of its own (a fragment:
    the case panel after a pick, 派单's map and queue after a pick or a queue switch):
    ``stamp(version, *args)`` says what it would show as of change notice ``version`` (cheap for
    a version already read), ``shown`` what it showed (taken from what it drew, never read
    afresh). A change notice after which the two differ reruns the page, as the page's digest
    does; the page's digest leaves such parts out. So a part redrawn alone is compared with what
    it shows, not with what the page's last full run showed (issue 8: after a pick the stale
    digest reran the whole page on the next notice of any kind, another district's report).
    ``stamp`` None: the part shows nothing that can go out of date."""
    parts = st.session_state.setdefault(PARTS, {})
    if stamp is None:
        parts.pop(name, None)
    else:
        parts[name] = (stamp, args, shown, st.session_state.get(GEN, 0))
    st.session_state.pop(SAME, None)


def _parts_moved(now: int) -> bool:
    return any(stamp(now, *args) != shown for stamp, args, shown, _ in st.session_state.get(PARTS, {}).values())


def _out_of_date(version: int, rerun_at: float, connected: bool, digest, drawn) -> bool:
    """Whether the page drawn from ``version`` must be redrawn now: the clock says so, the
    listener (dis)connected, or a change notice moved the version and — when the page gave a
    ``digest`` (a function of a version: what the page shows, cheap for a version already read)
    — what the page would show now differs from ``drawn``, the digest it was drawn with, or a
    part drawn on its own (``part_drawn``) would show something else."""
    lst = kit.listener()
    if time.time() >= rerun_at or lst.connected.is_set() != connected:
        return True
    now = lst.version
    if now == version:
        return False
    if digest is None:
        return True
    if st.session_state.get(SAME) == (version, now):
        return False
    if digest(now) != drawn:
        return True
    if _parts_moved(now):
        return True
    st.session_state[SAME] = (version, now)  # looked at once: the next tick costs nothing
    return False


# Every live page's check, in the browser (issue 8): a small component polls a beacon file
# (``LiveBeacon``: the desks' or the walls') over HTTP and, when the beacon differs from what the
# page was drawn from (a wall: once the page is older than its grace, the map merging changes
# itself meanwhile) or the page's time is up, sends a trigger; the trigger's callback
# (``_on_live``) decides whether to rerun the page. No script runs while nothing changes, and a
# rerun is one the browser asked for, queued in order with the person's clicks and page changes.
_LIVE_JS = """
export default function(component) {
  const { data, setTriggerValue, parentElement } = component;
  const host = parentElement.host || parentElement;
  const S = host.__ggLive || (host.__ggLive = { asked: null, timer: null, busy: false, fetched: 0 });
  S.data = data;
  if (S.data.drawn !== S.drawn) {  // a new page drawn: ask afresh
    S.drawn = S.data.drawn; S.asked = null; S.since = Date.now() / 1000;
  }
  function ask(token) {
    if (S.asked === token) return;
    S.asked = token;
    setTriggerValue('stale', token);
  }
  function tick() {
    const d = S.data, now = Date.now();
    // the page's time is up: asked again every 5 s until the server's clock agrees
    if (d.rerun_at && now / 1000 >= d.rerun_at) { ask('clock:' + d.rerun_at + ':' + Math.floor(now / 5000)); return; }
    if (S.busy || !d.url || now - S.fetched < (d.poll_ms || 1000) - 50) return;
    // a run under way (the page's own, after an action) redraws this with its new mark: look after it
    if (document.querySelector('[data-test-script-state=running]')) return;
    S.busy = true;
    S.fetched = now;
    fetch(new URL(d.url, document.baseURI).href, { cache: 'no-store', credentials: 'same-origin' })
      .then((r) => (r.ok ? r.text() : null))
      .then((text) => {
        const tok = text && text.trim();
        if (!tok || tok === d.drawn) return;
        const lost = tok.split(':')[1] !== String(d.drawn).split(':')[1];  // the listener (dis)connected
        if (lost || Date.now() / 1000 - S.since >= (d.grace_s || 0)) ask(tok);
      })
      .catch(() => {})
      .finally(() => { S.busy = false; });
  }
  if (!S.timer) S.timer = setInterval(tick, 1000);
  // the server found the page out of date: ask for the page's run from here (``_kicker``)
  if (data.kick && data.kick !== S.kicked) { S.kicked = data.kick; if (window.__ggLiveKick) window.__ggLiveKick(data.kick); }
  host.dataset.liveDrawn = data.drawn;
  host.dataset.liveAsked = S.asked || '';
  return () => { clearInterval(S.timer); S.timer = null; };
}
"""
_live_watch = st.components.v2.component("gridgov_live_watch", js=_LIVE_JS)
# Drawn outside every fragment, so its trigger asks for a run of the whole page, from the browser.
_KICK_JS = """
export default function(component) {
  const { setTriggerValue } = component;
  const kick = (token) => setTriggerValue('kick', token);
  window.__ggLiveKick = kick;
  return () => { if (window.__ggLiveKick === kick) delete window.__ggLiveKick; };
}
"""
_kicker = st.components.v2.component("gridgov_live_kick", js=_KICK_JS)


def _on_kick() -> None:
    """The page's run the watcher asked for (nothing to do: the run is the point)."""
LIVE = "live.watch"   # the page's watch (``Watch``)
KICK = "live.kick"    # set by ``_on_live`` when the page must be redrawn: the browser then asks for it
WATCH = "live-watch"  # the watcher part's fragment key


@dataclasses.dataclass(frozen=True)
class Watch:
    version: int          # the listener's version the page was drawn from
    rerun_at: float       # when the page is redrawn anyway (epoch s)
    connected: bool       # the listener's state then
    mark: str             # the beacon's mark then (what the browser compares with)
    digest: object = None  # a desk page's digest function and what it gave (``_out_of_date``)
    drawn: object = None
    grace_s: float = 0.0  # a wall: a change alone reruns only a page older than this
    drawn_at: float = 0.0


def _on_live() -> None:
    """The browser saw the beacon move (or the page's time run out): rerun the page if what it
    shows is out of date, or (a desk) if the others on its case changed (``ui.presence``).
    Either way only the watcher's little fragment reruns: when the page is out of date it is
    drawn with a kick (``KICK``), and the browser asks for the page's run itself (``_kicker``).

    Not ``st.rerun()`` here (issue 8, the lost navigation of ``bench pages``): a rerun asked for
    by a callback is taken by the script thread at once, and if a menu click arrives just then,
    Streamlit stops that thread and starts the clicked page in a new one, but the old thread
    still begins the run it had taken and writes its page into the session's page intent
    (``ScriptRunner._run_script`` → ``PagesManager.set_script_intent``, shared by both threads):
    when that lands after the new thread's, ``st.navigation`` resolves the old page and the
    click is lost (seen in the trace: the run started for 结案统计 drew 派单). A run the browser
    asks for is queued in order with the click instead."""
    w = st.session_state.get(LIVE)
    if w is not None and _stale(w):
        st.session_state[KICK] = f"{time.time():.3f}"


def _stale(w: "Watch") -> bool:
    if time.time() >= w.rerun_at or kit.listener().connected.is_set() != w.connected:
        return True
    if w.grace_s:
        return kit.listener().version != w.version and time.time() - w.drawn_at >= w.grace_s
    sid = presence.session_id()
    return _out_of_date(w.version, w.rerun_at, w.connected, w.digest, w.drawn) or bool(
        sid and presence.keeper().moved(sid))


@st.fragment(key=WATCH)
def watcher() -> None:
    """The page's watcher: the component above, fed from ``session_state[LIVE]`` (what the page's
    last full run drew) and ``session_state[KICK]`` (the callback's verdict).

    Why not a ``run_every`` fragment (issue 8): a script run every second meant that the run of a
    click or a search was followed, often before the server had sent its messages, by the
    watcher's run; Streamlit then marks the finished run as "stopped early for a rerun"
    (``ForwardMsgQueue.clear`` → ``FINISHED_EARLY_FOR_RERUN``) and the browser keeps the elements
    that run no longer drew (the previous case's action buttons, a form just closed). A click on
    such a left-over button sends a trigger for a widget the server no longer has: the click is
    lost. And an ``st.rerun()`` in a fragment's body is folded into a click or page change already
    queued, taking that request's page (a navigation lost). The walls' 30 s safety net and the
    video wall's second-by-second check while cycling were such fragments too."""
    w = st.session_state.get(LIVE)
    if w is None:
        return
    b = beacon() if w.grace_s else desk_beacon()
    _live_watch(key="live-watch-c", data={"url": OUTLINES_URL + b.name, "drawn": w.mark, "rerun_at": w.rerun_at,
                                          "grace_s": w.grace_s, "kick": st.session_state.get(KICK),
                                          "poll_ms": int((SAFETY_S if w.grace_s else POLL_S) * 1000)},
                on_stale_change=_on_live)


def live(version: int, rerun_at: float, *, beacon_polled: bool = False, digest=None, drawn=None) -> None:
    """Start watching (``watcher``); show a notice while the listener is reconnecting.

    ``beacon_polled``: a wall page, whose map polls the walls' beacon and merges changes itself
    (``wall_map_chart``): the watcher looks every SAFETY_S, as a safety net, and a change alone
    reruns only a page older than ``2 * SAFETY_S`` (while reports flow, a healthy map asks for
    its page's rerun every ``SETTLE_S``); ``rerun_at`` is kept to the second (a video wall's cycle).
    ``digest`` (a desk page): a function of a change notice's version giving what the page shows
    (equal values: the same page; ``drawn``: its value for what this run drew, by default
    ``digest(version)``); a notice that changes nothing the page shows then reruns nothing: a
    whole-page rerun redraws its map and tables in the browser, seconds on a loaded machine.
    """
    connected = kit.listener().connected.is_set()
    if not connected:
        st.warning(kit.tr("wall.live_lost"), icon=":material/sync_problem:")
    if beacon_polled:
        b = beacon()
        w = Watch(version, rerun_at, connected, b.current or b.token(version, connected), grace_s=2 * SAFETY_S,
                  drawn_at=time.time())
    else:
        if digest is not None and drawn is None:
            drawn = digest(version)
        w = Watch(version, rerun_at, connected, desk_beacon().mark(version, connected), digest, drawn)
    st.session_state[LIVE] = w
    st.session_state.pop(KICK, None)  # this run is the page drawn afresh
    gen = st.session_state.get(GEN, 0)  # parts another page (or an earlier run) drew are let go
    parts = st.session_state.get(PARTS)
    for name in [n for n, part in (parts or {}).items() if part[3] != gen]:
        del parts[name]
    st.session_state[GEN] = gen + 1
    _kicker(key="live-kick", data={}, on_kick_change=_on_kick)
    watcher()
