"""What changed on the walls since a reading: one query per change for every wall of the process,
and for each wall a small file of the changed cases of its own area (issue 12 §3).

A wall's map (``ui/wall_map``) gets its open cases in full once (``wall.live_map``: first load,
a new filter, or when it is too far behind). After that it learns of a change from the live
beacon (a version file it polls once a second) and fetches only the *delta*: the cases added,
changed or gone since its reading, which it merges into the typed arrays it already draws. No
Streamlit rerun is on that path; the page reruns later, at a slower pace, for its tiles and
ticker (``ui.wall_view``).

``DeltaFeed`` keeps one snapshot of every open case with a point (``wall.live_map.OPEN_ROWS_SQL``,
all areas) and a reading number ``seq``. ``advance`` reads the snapshot again when the live
listener's version has moved, compares it row by row with the previous one (so an update, a
closure, a deletion and a notice lost while the listener reconnected all show), and for each
registered wall appends a step to that wall's file:

``{"from": f, "to": s, "o": [lon, lat], "steps": [{"s": seq, "t0": t0, "u": {columns}, "r": [ids]}, …]}``

- ``u``: the cases of the wall's filter that are new or changed at ``seq`` (the columns of
  ``wall.live_map.columns``, the category as its text ``c``, the tooltip's ``n s e x``); ``d``,
  ``w`` in seconds from the step's own ``t0``, ``x``, ``y`` in 1e-5° from ``o``.
- ``r``: ids the wall showed (its filter matched the old row) that left it: closed, deleted,
  or changed so the filter no longer matches. A case that was never inside the filter is never
  named, in ``u`` or in ``r``: a subdistrict's wall hears nothing of another subdistrict.
- ``"full": true`` instead when a step is too large to be worth merging (``MAX_STEP_ROWS``).
- ``from``: a browser whose reading is at least ``from`` can be brought to ``to`` by the steps
  after its reading; an older one asks for the whole map again. The last ``STEPS_KEPT`` steps
  are kept.

Who may read a file: its name carries a random token (``secrets``), handed out only in the wall
page's render, which only a signed-in role with the wall gets (``ui.kit.require_page``); static
files are served without sign-in, so the name is the key (as a capability URL), the folder is
not listed. A file belongs to one signed-in session (``owner``), never shared between sessions
with the same filter: signing out, the idle time-out or a deactivated account ends that
session's files at once (``revoke``), so a URL once seen does not go on telling a signed-out
person of new cases (session 14's review read a deactivated account's feed with curl). An entry
unused for ``ENTRY_TTL_S`` (walls rerun at midnight, which renews it; a closed tab does not) is
dropped with its file. A wall's filter (areas, categories, states, levels) is applied on the
server before anything is written, by ``WallFilter.matches``, the Python twin of its SQL.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.partitions import live_months
from wall.frame import WallFilter, write_atomic
from wall.live_map import OPEN_ROWS_SQL, category_text, detail_columns, drawing_order, offset

STEPS_KEPT = 120          # per wall: two minutes at one change a second
MAX_STEP_ROWS = 2000      # more changed cases than this in one step: the walls take a full map
ENTRY_TTL_S = 26 * 3600   # a wall reruns at least at midnight, which registers it again
MAX_WALLS = 256           # filters × languages × boundary origins kept at once
PREFIX = "delta-"


@dataclass
class _Wall:
    """One registered (filter, language, origin): its file and the steps kept in it."""
    f: WallFilter
    lang: str
    origin: tuple[float, float]
    name: str
    since: int                              # the reading it was registered at
    seen: float                             # time.time() of the last registration
    steps: deque = field(default_factory=lambda: deque(maxlen=STEPS_KEPT))


class DeltaFeed:
    """The open cases of every wall of this process, read once per change; see the module."""

    def __init__(self, read: Callable[[], AbstractContextManager[Connection]], directory: Path, *,
                 clock: Callable[[], float] = time.time):
        self._read = read                   # a connection for what walls read (the replica if any)
        self.directory = directory
        self._clock = clock
        self._lock = threading.RLock()
        self.id = secrets.token_hex(4)      # caches keyed on ``seq`` add this: a new feed starts again at 0
        self.seq = 0
        self.version: int | None = None     # the listener's version the snapshot was read after
        self.rows: dict[int, object] = {}
        self.read_ms = 0.0                  # the last reading: query + diff + files (bench live prints it)
        self._walls: dict[tuple, _Wall] = {}
        self._tidy_folder()

    # --- what pages call -------------------------------------------------------------------

    def register(self, f: WallFilter, lang: str, origin: tuple[float, float], owner: str = "") -> str:
        """The file name of this wall's deltas (created if new) for session ``owner``. Call it
        *before* ``sync``, so the map drawn from that reading is never older than the file's ``from``."""
        key = (f, lang, tuple(origin), owner)
        with self._lock:
            w = self._walls.get(key)
            if w is None:
                self._evict()
                w = self._walls[key] = _Wall(f, lang, tuple(origin),
                                             f"{PREFIX}{os.getpid()}-{secrets.token_hex(16)}.json",
                                             since=self.seq, seen=self._clock())
                self._write(w)
            w.seen = self._clock()
            return w.name

    def sync(self, version: int) -> tuple[int, dict]:
        """Read again if ``version`` (the live listener's) moved since the last reading; (seq, rows)."""
        with self._lock:
            if version != self.version:
                self.advance(version)
            return self.seq, self.rows

    def revoke(self, owner: str) -> int:
        """Drop every file of session ``owner`` (signed out): its URLs answer 404 from now on."""
        with self._lock:
            keys = [k for k in self._walls if k[3] == owner]
            for k in keys:
                (self.directory / self._walls.pop(k).name).unlink(missing_ok=True)
            return len(keys)

    def names(self) -> set[str]:
        with self._lock:
            return {w.name for w in self._walls.values()}

    # --- the reading -----------------------------------------------------------------------

    def advance(self, version: int) -> int:
        """One reading of every open case; a step for every wall; returns the new ``seq``."""
        with self._lock:
            t = time.perf_counter()
            with self._read() as conn:
                new = {r.id: r for r in conn.execute(text(OPEN_ROWS_SQL.format(where=live_months(conn)))).all()}
            old, first = self.rows, self.version is None
            changed = {i: r for i, r in new.items() if old.get(i) != r}
            changed.update({i: None for i in old.keys() - new.keys()})
            seq, t0 = self.seq + 1, math.floor(self._clock())
            for w in list(self._walls.values()):
                if first:   # nothing to compare with: this reading is where every wall starts
                    w.since = seq
                elif (step := self._step(w, changed, old, t0, seq)) is not None:
                    w.steps.append(step)
                self._write(w, seq)
            # only now, with every file written, is the reading announced (``seq`` is read unlocked)
            self.rows, self.version, self.seq = new, version, seq
            self.read_ms = (time.perf_counter() - t) * 1000
            return seq

    def _step(self, w: _Wall, changed: dict, old: dict, t0: int, seq: int) -> dict | None:
        f = w.f
        up = drawing_order(r for r in changed.values() if r is not None and f.matches(r))
        gone = sorted(i for i, r in changed.items()
                      if (r is None or not f.matches(r)) and i in old and f.matches(old[i]))
        if not up and not gone:
            return None
        if len(up) + len(gone) > MAX_STEP_ROWS:
            return {"s": seq, "full": True}
        cols = {"i": [r.id for r in up], "px": [offset(r.lon, w.origin[0]) for r in up],
                "py": [offset(r.lat, w.origin[1]) for r in up], "d": [offset(r.due, t0, 1) for r in up],
                "w": [offset(r.warn, t0, 1) for r in up], "g": [r.g for r in up],
                "c": [category_text(r.cat, r.cat_en, r.outside_jurisdiction, w.lang) for r in up],
                **detail_columns(up, w.lang)}   # n, s, e and the snippet x
        return {"s": seq, "t0": t0, "u": cols, "r": gone}

    # --- files -----------------------------------------------------------------------------

    def _write(self, w: _Wall, seq: int | None = None) -> None:
        start = w.steps[0]["s"] - 1 if len(w.steps) == w.steps.maxlen else w.since
        body = {"from": max(start, w.since), "to": self.seq if seq is None else seq, "o": list(w.origin),
                "steps": list(w.steps)}
        write_atomic(self.directory / w.name, json.dumps(body, ensure_ascii=False, separators=(",", ":")))

    def _evict(self) -> None:
        now = self._clock()
        for k in [k for k, w in self._walls.items() if now - w.seen > ENTRY_TTL_S]:
            (self.directory / self._walls.pop(k).name).unlink(missing_ok=True)
        while len(self._walls) >= MAX_WALLS:
            k = min(self._walls, key=lambda k: self._walls[k].seen)
            (self.directory / self._walls.pop(k).name).unlink(missing_ok=True)

    def _tidy_folder(self) -> None:
        """Remove the delta files of server processes that are gone (names carry the pid)."""
        if not self.directory.is_dir():
            return
        for p in self.directory.glob(f"{PREFIX}*"):
            try:
                pid = int(p.name[len(PREFIX):].split("-", 1)[0])
                os.kill(pid, 0)
            except ProcessLookupError:
                p.unlink(missing_ok=True)
            except (ValueError, PermissionError, OSError):
                pass
