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
``SETTLE_S`` later for the tiles and the ticker; the fragment stays as a safety net every ``SAFETY_S``. The dispatch page still draws the pydeck map (``frame``/``map_chart``),
coloured on the server, its points recoloured at most every ``RECOLOUR_S`` (any change recolours
at once). The KPI tiles, a few hundred bytes, follow the clock every minute.
"""
from __future__ import annotations

import dataclasses
import hashlib
import html
import logging
import os
import threading
import time
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
from ui.wall_map import vendor_missing, wall_map

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


def map_frame(f: WallFilter, *, large: bool = False) -> tuple[LiveMap, int]:
    """The wall pages' map at the feed's current reading; (map, listener version it was drawn from).

    The map's ``delta`` names the file of this wall's deltas (registered before the reading, so
    the map is never older than what the file can bring up to date)."""
    version = kit.listener().version
    lang = kit.lang()
    feed = delta_feed()
    name = feed.register(f, lang, _base(current_stamp(), lang).origin)
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
                 prefix: str = "live"):
        self._listener = listener   # the process's one (kit.listener), taken in a script run
        self._feed = feed           # with a feed, the mark is its reading, taken first (deltas before the news)
        self.name = f"{prefix}-{os.getpid()}.txt"
        self.path = directory / self.name
        self._interval = interval
        self._last: str | None = None
        self._thread = threading.Thread(target=self._run, name="wall-live-beacon", daemon=True)

    @staticmethod
    def token(version: int, connected: bool) -> str:
        return f"{version}:{int(connected)}"

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
            mark = self.token(lst.version, lst.connected.is_set())  # the live version: public, not a secret
        if mark != self._last:
            write_atomic(self.path, mark)  # the thread, or a test calling write_now: a poll never reads half a mark
            self._last = mark

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
    """The listener's own version (no delta feed), for the desk pages' watcher (``live`` with a
    ``digest``): one beacon thread per server process beside the walls' one."""
    return LiveBeacon(kit.listener(), prefix="desk-live").start()


def next_midnight() -> float:
    """When a quiet wall reruns anyway: the ticker writes today's times as HH:MM, older ones with the date."""
    return (local_midnight(datetime.now(TZ)) + timedelta(days=1)).timestamp()


def wall_map_chart(lm: LiveMap, version: int, *, height: int = 620, key: str = "wall-map") -> None:
    """The wall's map (ui.wall_map): the browser colours the cases from the clock and polls the
    beacon, asking for a rerun when the listener has moved past ``version``; a click picks nothing."""
    if vendor_missing():
        st.error(kit.tr("wall.no_vendor", files=", ".join(vendor_missing())))
        return
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


@st.fragment(run_every=20)
def clock() -> None:
    """The wall clock (HH:MM); a few bytes three times a minute."""
    st.markdown(f"### {datetime.now(TZ):%H:%M}")


SAME = "live.same"  # (version drawn, version looked at) whose page digests were found equal


def _out_of_date(version: int, rerun_at: float, connected: bool, digest, drawn) -> bool:
    """Whether the page drawn from ``version`` must be redrawn now: the clock says so, the
    listener (dis)connected, or a change notice moved the version and — when the page gave a
    ``digest`` (a function of a version: what the page shows, cheap for a version already read)
    — what the page would show now differs from ``drawn``, the digest it was drawn with."""
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
    st.session_state[SAME] = (version, now)  # looked at once: the next tick costs nothing
    return False


@st.fragment(run_every=POLL_S)
def watch(version: int, rerun_at: float, connected: bool, digest=None, drawn=None) -> None:
    """Draws nothing; reruns the app when the page it guards is out of date (``_out_of_date``).
    Only for a page without clicks that matter (the wall screen while it cycles): a body-level
    ``st.rerun`` races the person's input (see ``desk_watch``)."""
    if _out_of_date(version, rerun_at, connected, digest, drawn):
        st.rerun(scope="app")


# The desk pages' live check, in the browser (issue 8): it polls the desk beacon (``desk_beacon``)
# over HTTP and, when the beacon differs from what the page was drawn from (or the page's time is
# up), sends a trigger; the trigger's callback (``_on_live``) decides with the page's digest
# whether to rerun the page. No script run at all while nothing changes.
_LIVE_JS = """
export default function(component) {
  const { data, setTriggerValue, parentElement } = component;
  const host = parentElement.host || parentElement;
  const S = host.__ggLive || (host.__ggLive = { asked: null, timer: null, busy: false });
  S.data = data;
  if (S.data.drawn !== S.drawn) { S.drawn = S.data.drawn; S.asked = null; }  // a new page drawn: ask afresh
  function ask(token) {
    if (S.asked === token) return;
    S.asked = token;
    setTriggerValue('stale', token);
  }
  function tick() {
    const d = S.data;
    // the page's time is up: asked again every 5 s until the server's clock agrees
    if (d.rerun_at && Date.now() / 1000 >= d.rerun_at) { ask('clock:' + d.rerun_at + ':' + Math.floor(Date.now() / 5000)); return; }
    if (S.busy || !d.url) return;
    S.busy = true;
    fetch(new URL(d.url, document.baseURI).href, { cache: 'no-store', credentials: 'same-origin' })
      .then((r) => (r.ok ? r.text() : null))
      .then((text) => { const tok = text && text.trim(); if (tok && tok !== d.drawn) ask(tok); })
      .catch(() => {})
      .finally(() => { S.busy = false; });
  }
  if (!S.timer) S.timer = setInterval(tick, d_ms(data));
  function d_ms(x) { return Math.max(200, x.poll_ms || 1000); }
  host.dataset.liveDrawn = data.drawn;
  host.dataset.liveAsked = S.asked || '';
  return () => { clearInterval(S.timer); S.timer = null; };
}
"""
_live_watch = st.components.v2.component("gridgov_live_watch", js=_LIVE_JS)
LIVE = "live.watch"  # the desk page's watch: (version, rerun_at, connected, digest, drawn)


def _on_live() -> None:
    """The browser saw the beacon move (or the page's time run out): rerun the page if what it
    shows is out of date. Run as a callback, so the rerun is one the browser asked for, queued in
    order with the person's clicks; otherwise only the watcher's little fragment reruns."""
    state = st.session_state.get(LIVE)
    if state is not None and _out_of_date(*state):
        st.rerun()


@st.fragment
def desk_watch(version: int, rerun_at: float, connected: bool) -> None:
    """The desk pages' watcher: the component above, polling the beacon in the browser.

    Why not a ``run_every`` fragment (issue 8): a script run every second meant that the run of a
    click or a search was followed, often before the server had sent its messages, by the
    watcher's run; Streamlit then marks the finished run as "stopped early for a rerun"
    (``ForwardMsgQueue.clear`` → ``FINISHED_EARLY_FOR_RERUN``) and the browser keeps the elements
    that run no longer drew (the previous case's action buttons, a form just closed). A click on
    such a left-over button sends a trigger for a widget the server no longer has: the click is
    lost. And an ``st.rerun()`` in a fragment's body is folded into a click or page change already
    queued, taking that request's page (a navigation lost)."""
    b = desk_beacon()
    _live_watch(key="live-watch", data={"url": OUTLINES_URL + b.name, "drawn": b.token(version, connected),
                                        "rerun_at": rerun_at, "poll_ms": int(POLL_S * 1000)},
                on_stale_change=_on_live)


@st.fragment(run_every=SAFETY_S)
def watch_slowly(version: int, rerun_at: float, connected: bool, drawn_at: float = 0.0) -> None:
    """``watch`` every SAFETY_S: behind the wall map's own beacon poll (``LiveBeacon``).

    A change alone reruns only a page older than ``2 * SAFETY_S`` (``drawn_at``: its last full run):
    while reports flow, a healthy map merges them as deltas and asks for its page's rerun every
    ``SETTLE_S``, so this net catches only a map that stopped doing so, instead of rerunning every
    wall (a whole payload each) every SAFETY_S beside it."""
    lst = kit.listener()
    stale = lst.version != version and time.time() - drawn_at >= 2 * SAFETY_S
    if stale or time.time() >= rerun_at or lst.connected.is_set() != connected:
        st.rerun(scope="app")


def live(version: int, rerun_at: float, *, beacon_polled: bool = False, digest=None, drawn=None) -> None:
    """Start watching; show a notice while the listener is reconnecting.

    ``beacon_polled``: the page's wall map polls the beacon itself (``wall_map_chart``), so the
    fragment only runs every SAFETY_S, as a safety net (and for ``rerun_at`` within that).
    ``digest``: a function of a change notice's version giving what the page shows (equal
    values: the same page; ``drawn``: its value for what this run drew, by default
    ``digest(version)``); a notice that changes nothing the page shows then reruns nothing.
    A desk page passes one: a whole-page rerun redraws its map and tables in the browser, seconds
    on a loaded machine. With a digest the check runs in the browser (``desk_watch``): no script
    run while nothing changes, and the rerun it asks for is queued with the person's clicks.
    """
    connected = kit.listener().connected.is_set()
    if not connected:
        st.warning(kit.tr("wall.live_lost"), icon=":material/sync_problem:")
    if beacon_polled:
        watch_slowly(version, rerun_at, connected, time.time())
    elif digest is None:
        watch(version, rerun_at, connected)
    else:
        if drawn is None:
            drawn = digest(version)
        st.session_state[LIVE] = (version, rerun_at, connected, digest, drawn)
        desk_watch(version, rerun_at, connected)

