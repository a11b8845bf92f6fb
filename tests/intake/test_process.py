"""``intake.process``: the service runs in a process group of its own, and a start-up that times
out, like a stop, leaves none of its processes behind (uvicorn's workers, their photo processes).

Every process of the service carries a marker in its environment, so the test finds them in /proc
(children inherit the environment; a spawned worker has it from its first instruction)."""
from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from intake import process
from tests.intake.conftest import INSIDE


def _marked(marker: str) -> set[int]:
    """Live (not zombie) processes whose environment holds ``marker``."""
    found = set()
    needle = f"INTAKE_TEST_MARK={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.add(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


class _Watch(threading.Thread):
    """Every process with the marker seen while the service starts."""

    def __init__(self, marker: str):
        super().__init__(daemon=True)
        self.marker, self.seen, self.done = marker, set(), threading.Event()

    def run(self):
        while not self.done.is_set():
            self.seen |= _marked(self.marker)
            time.sleep(0.05)


def _gone(marker: str, within: float = 10.0) -> set[int]:
    """The marked processes still alive after ``within`` seconds (SIGKILL is asynchronous: a killed
    process lingers until the kernel has torn it down)."""
    deadline = time.monotonic() + within
    while (left := _marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_a_start_up_timeout_kills_the_whole_service_no_worker_is_orphaned(intake_db_url, tmp_path):
    # a tile source that is a FIFO with no writer: every worker blocks opening it while the app is
    # made, so /healthz never answers, with uvicorn's master and its two workers alive
    fifo = tmp_path / "tiles.fifo"
    os.mkfifo(fifo)
    marker = uuid.uuid4().hex
    watch = _Watch(marker)
    watch.start()
    try:
        with pytest.raises(RuntimeError, match="did not start"):
            process.start(intake_db_url, tmp_path / "photos", workers=2, timeout=15, GRIDGOV_TILES=fifo,
                          INTAKE_TEST_MARK=marker)
    finally:
        watch.done.set()
        watch.join()
    assert len(watch.seen) >= 3, f"master and two workers expected while starting, saw {sorted(watch.seen)}"
    assert _gone(marker) == set()


def test_stop_ends_the_workers_and_their_photo_processes(intake_db_url, key, tmp_path):
    from tests.intake.test_photos import jpeg

    marker = uuid.uuid4().hex
    proc, base = process.start(intake_db_url, tmp_path / "photos", workers=2, timeout=60, INTAKE_PHOTO_PROCESSES=1,
                               INTAKE_TEST_MARK=marker)
    try:
        with httpx.Client(base_url=base + "/open311/v2", timeout=60) as api:
            r = api.post("/requests.json", data={"api_key": key, "service_code": "0103", "lat": INSIDE[1],
                                                 "long": INSIDE[0], "description": "stop test"},
                         files={"media": ("p.jpg", jpeg(), "image/jpeg")})
        assert r.status_code == 201, r.text
        running = _marked(marker)
        assert len(running) >= 4, f"master, two workers and a photo process expected, saw {sorted(running)}"
    finally:
        process.stop(proc)
    assert _gone(marker) == set()

