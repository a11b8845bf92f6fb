"""``bench intake``: Open311 reports over loopback HTTP for a fixed time, then counted in the database.

Starts the intake service (uvicorn, ``--workers`` processes, rate limits off) on a free port
against its own database ``gridgov_bench_intake``, made afresh for every run (the sample district,
no cases; ``--keep-db`` reuses the last run's), then:

1. ``--seconds`` of plain reports (no photo) from ``--clients`` concurrent connections (default 8,
   see ``CLIENTS``), each
   report with a unique description and its own ``Idempotency-Key``: ``reports_per_s`` (target
   ≥ 300 on the 2-core machine) and ``p95_ms`` (≤ 50);
2. ``--seconds`` of the same plain load with ``--photo-clients`` connections beside it each
   posting a ~3 MB 12-megapixel JPEG per report: ``photo_reports_per_s``, and the plain load's
   ``mixed_reports_per_s`` / ``mixed_p95_ms`` to show photo work does not stall plain reports;
3. the counts checked against the database: every 201 answer is exactly one case with its
   description (``lost`` = answered but absent, ``duplicated`` = present more than once), and a
   retry of a sample of answered requests creates nothing new.

The load generator runs on the same machine, so it takes a share of the cores: the plain reports
go through a minimal keep-alive HTTP/1.1 client (``_Conn``; httpx took ~1.5 ms of CPU per request,
about what the service itself now spends), photos and retries through httpx.
Because the machine may be shared, the plain phase also reports the CPU it cost, which load
from other programs hardly changes: ``server_cpu_ms`` (the uvicorn processes) and ``db_cpu_ms``
(their PostgreSQL backends) per report, and ``cores_for_300`` = 300 × their sum / 1000 (the
target needs this below the cores left over by the load generator).

Why afresh: every report is linked to the open same-category cases within 50 m (up to 20), and
the load posts to ~3,000 fixed points, so the cases left by earlier runs made each run's reports
link more (and cost more) than the last: runs were not comparable. ``dup_links_per_report`` says
how many links the plain phase's reports made on average.
"""
from __future__ import annotations

import asyncio
import io
import os
import random
import statistics
import tempfile
import time
import uuid
from urllib.parse import urlencode, urlsplit

from sqlalchemy import text

from bench import common
from intake import process

BENCH_DB = "gridgov_bench_intake"
# The default load: 8 closed-loop clients. By Little's law the mean latency of N clients sending
# back to back is N / rate, so p95 <= 50 ms at 300 reports/s allows at most 15 of them (300/s x
# 0.05 s; fewer still, since p95 lies above the mean): the pair of targets describes 8-12
# clients. 24 clients (the default before session 5) measure queueing, not the targets: on a
# quiet machine 225/s with p95 288 ms, against 408-411/s and p95 33-34 ms at 8 (docs/intake.md).
CLIENTS = 8


def configure(p) -> None:
    p.add_argument("--seconds", type=float, default=15, help="length of each phase (default 15)")
    p.add_argument("--clients", type=int, default=CLIENTS,
                   help=f"concurrent plain-report connections (default {CLIENTS}: see CLIENTS)")
    p.add_argument("--photo-clients", type=int, default=2, help="concurrent photo-report connections (default 2)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                   help="uvicorn worker processes (default: the CPU count, as INTAKE_WORKERS)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep-db", action="store_true",
                   help="reuse the last run's database (default: drop it and start from the empty district)")


def _drop_database() -> None:
    from db import cluster

    if not os.environ.get("DATABASE_URL"):
        cluster.start()
    cluster.drop_database(common.bench_url(BENCH_DB))  # and its pg_cron jobs


def _photo(seed: int) -> bytes:
    """A ~3 MB 12-megapixel JPEG (4000 × 3000, noisy so it does not compress away)."""
    from PIL import Image

    rnd = random.Random(seed)
    tile = Image.frombytes("RGB", (400, 300), bytes(rnd.getrandbits(8) for _ in range(400 * 300 * 3)))
    img = Image.new("RGB", (4000, 3000))
    for x in range(0, 4000, 400):
        for y in range(0, 3000, 300):
            img.paste(tile, (x, y))
    img = img.resize((4000, 3000))
    for q in (60, 50, 40, 30):
        out = io.BytesIO()
        img.save(out, "JPEG", quality=q)
        if out.tell() <= 3_300_000:
            break
    return out.getvalue()


class _Conn:
    """One keep-alive HTTP/1.1 connection posting forms: the request written by hand, the answer's
    status read and its body skipped (the database is the judge of what was stored). A connection
    the server closed is opened again and the request sent again (each carries its own
    Idempotency-Key, so a resend cannot make a second case)."""

    def __init__(self, base: str):
        u = urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.reader = self.writer = None

    async def post_form(self, path: str, form: dict, headers: dict) -> int:
        body = urlencode(form).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.write(head + body)
            status_line = await self.reader.readline()
            if status_line:
                break
            self.close()  # closed by the server before answering: once more on a new connection
            if attempt == 2:
                raise ConnectionError("the service closed the connection twice")
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        await self.reader.readexactly(length)
        if close:
            self.close()
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _load(base: str, key: str, points, run: str, *, seconds: float, clients: int, photo_clients: int,
                photo: bytes | None):
    import httpx

    ok: list[tuple[str, str, dict]] = []   # (description, idempotency key, form) of every 201
    lat_ms: list[float] = []
    photo_ok = [0]
    errors: dict[int, int] = {}
    stop = time.monotonic() + seconds
    counter = [0]
    limits = httpx.Limits(max_connections=clients + photo_clients + 4)

    async with httpx.AsyncClient(base_url=base + "/open311/v2", timeout=60, limits=limits) as c:
        async def plain():
            conn = _Conn(base)
            try:
                await _plain(conn)
            finally:
                conn.close()

        async def _plain(conn: _Conn):
            while time.monotonic() < stop:
                counter[0] += 1
                x, y = points[counter[0] % len(points)]
                desc = f"{run}-{counter[0]}"
                form = {"api_key": key, "service_code": "0103", "long": f"{x:.6f}", "lat": f"{y:.6f}", "description": desc}
                idem = uuid.uuid4().hex
                t = time.perf_counter()
                status = await conn.post_form("/open311/v2/requests.json", form, {"Idempotency-Key": idem})
                if status == 201:
                    lat_ms.append((time.perf_counter() - t) * 1000)
                    ok.append((desc, idem, form))
                else:
                    errors[status] = errors.get(status, 0) + 1

        async def with_photo():
            while time.monotonic() < stop:
                counter[0] += 1
                x, y = points[counter[0] % len(points)]
                desc = f"{run}-p{counter[0]}"
                form = {"api_key": key, "service_code": "0102", "attribute[amount]": "small", "long": f"{x:.6f}",
                        "lat": f"{y:.6f}", "description": desc}
                r = await c.post("/requests.json", data=form, files={"media": ("p.jpg", photo, "image/jpeg")})
                if r.status_code == 201:
                    photo_ok[0] += 1
                    ok.append((desc, "", form))
                else:
                    errors[r.status_code] = errors.get(r.status_code, 0) + 1

        t0 = time.monotonic()
        await asyncio.gather(*[plain() for _ in range(clients)], *[with_photo() for _ in range(photo_clients if photo else 0)])
        elapsed = time.monotonic() - t0
        # Retry a sample of answered plain requests with their keys: no new case may appear.
        replays = [o for o in ok if o[1]][:50]
        for desc, idem, form in replays:
            r = await c.post("/requests.json", data=form, headers={"Idempotency-Key": idem})
            if r.status_code != 200:
                errors[-r.status_code] = errors.get(-r.status_code, 0) + 1
    n_plain = len(lat_ms)
    return {"elapsed": elapsed, "ok": ok, "plain": n_plain, "photo": photo_ok[0], "lat_ms": lat_ms, "errors": errors}


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(root: int) -> list[int]:
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(c for c, pp in parent.items() if pp == p)
    return out


def _cpu_snapshot(eng, server_pid: int) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the service's processes and of its database backends, by pid."""
    with eng.connect() as c:
        backends = c.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = 'gridgov-intake' "
                                  "AND datname = current_database()")).scalars().all()
    return {"server": {p: _cpu_s(p) for p in _descendants(server_pid)}, "db": {p: _cpu_s(p) for p in backends}}


def _cpu_used(before: dict, after: dict) -> dict[str, float]:
    return {k: sum(v - before[k].get(p, 0.0) for p, v in after[k].items()) for k in after}


def _p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[-1] if len(xs) >= 20 else max(xs or [0.0])


def main(args) -> int:
    from intake.keys import create_key

    if not args.keep_db:
        _drop_database()
    eng = common.bench_engine(BENCH_DB, cases=0)
    url = common.bench_url(BENCH_DB)
    with eng.begin() as c:
        _, key = create_key(c, channel="other", name="bench intake")
        pts = c.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM grid_version WHERE valid_to IS NULL) s"
        )).all()
    rnd = random.Random(args.seed)
    points = [(x + rnd.uniform(-2e-4, 2e-4), y + rnd.uniform(-2e-4, 2e-4)) for x, y in pts for _ in range(3)]
    rnd.shuffle(points)
    photo = _photo(args.seed)
    run = "bench-" + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="intake-photos-") as photo_dir:
        proc, base = process.start(url, photo_dir, workers=args.workers)
        try:
            cpu0, client0 = _cpu_snapshot(eng, proc.pid), time.process_time()
            plain = asyncio.run(_load(base, key, points, run + "a", seconds=args.seconds, clients=args.clients,
                                      photo_clients=0, photo=None))
            cpu, client_s = _cpu_used(cpu0, _cpu_snapshot(eng, proc.pid)), time.process_time() - client0
            mixed = asyncio.run(_load(base, key, points, run + "b", seconds=args.seconds, clients=args.clients,
                                      photo_clients=args.photo_clients, photo=photo))
        finally:
            process.stop(proc)
    answered = [d for d, _, _ in plain["ok"] + mixed["ok"]]
    with eng.connect() as c:
        counts = dict(c.execute(text("SELECT description, count(*) FROM cases WHERE description LIKE :p "
                                     "GROUP BY description"), {"p": run + "%"}).all())
        links = c.execute(text("SELECT count(*) FROM case_possible_duplicate d JOIN cases c ON c.id = d.case_id "
                               "WHERE c.description LIKE :p"), {"p": run + "a%"}).scalar()
    lost = sum(1 for d in answered if d not in counts)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    unanswered_but_stored = len(set(counts) - set(answered))
    print(f"photo_mb={len(photo) / 1e6:.2f}")
    print(f"workers={args.workers} clients={args.clients} photo_clients={args.photo_clients} seconds={args.seconds:g}")
    print(f"reports_per_s={plain['plain'] / plain['elapsed']:.0f}")
    print(f"p95_ms={_p95(plain['lat_ms']):.1f}")
    print(f"median_ms={statistics.median(plain['lat_ms'] or [0]):.1f}")
    n = max(plain["plain"], 1)
    server_ms, db_ms = cpu["server"] / n * 1000, cpu["db"] / n * 1000
    print(f"server_cpu_ms={server_ms:.2f} db_cpu_ms={db_ms:.2f} cores_for_300={300 * (server_ms + db_ms) / 1000:.2f}")
    print(f"client_cpu_ms={client_s / n * 1000:.2f} (the load generator's own, not in cores_for_300)")
    print(f"dup_links_per_report={links / n:.1f}")
    print(f"loadavg_1m={os.getloadavg()[0]:.1f}")
    print(f"photo_reports_per_s={mixed['photo'] / mixed['elapsed']:.2f}")
    print(f"mixed_reports_per_s={mixed['plain'] / mixed['elapsed']:.0f}")
    print(f"mixed_p95_ms={_p95(mixed['lat_ms']):.1f}")
    print(f"errors={ {**plain['errors'], **mixed['errors']} }")
    print(f"answered={len(answered)} stored={sum(counts.values())} stored_without_answer={unanswered_but_stored}")
    print(f"lost={lost} duplicated={duplicated}")
    return 0 if lost == 0 and duplicated == 0 else 1
