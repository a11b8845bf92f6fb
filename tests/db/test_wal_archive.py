"""Continuous WAL archiving to a folder and a point-in-time restore into a scratch cluster: a row
committed before the chosen time is there, one committed after it is not."""
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from db.config import ROOT

SCRIPT = r'''
import sys, time
from datetime import timedelta
from pathlib import Path
from sqlalchemy import create_engine, text
from db import cluster, wal_archive
from db.config import LOCAL_USER, local_password

arch, into, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
cluster.start()
try:
    wal_archive.enable(arch)
    run = wal_archive._sql
    run("CREATE TABLE pitr(x text)")
    run("INSERT INTO pitr VALUES ('before')")
    to = run("SELECT clock_timestamp()")[0][0]
    time.sleep(1.5)
    run("INSERT INTO pitr VALUES ('after')")
    seg = run("SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0]
    run("SELECT pg_switch_wal()")
    deadline = time.monotonic() + 60
    while not (arch / "wal" / seg).exists():
        assert time.monotonic() < deadline, "the segment was not archived"
        time.sleep(0.3)
    wal_archive.restore(arch, to, into, port)
    try:
        eng = create_engine(f"postgresql+psycopg2://{LOCAL_USER}:{local_password()}@127.0.0.1:{port}/postgres")
        with eng.connect() as c:
            print("ROWS", sorted(r[0] for r in c.execute(text("SELECT x FROM pitr"))))
        eng.dispose()
    finally:
        wal_archive.stop_restored(into)
finally:
    cluster.stop()
'''


@pytest.fixture
def place(tmp_path):
    # The postgres user must reach the archive and the restored cluster: not a private /tmp folder as root.
    base = Path("/var/lib/gridgov") / f"pitr-test-{secrets.token_hex(4)}" if os.geteuid() == 0 else tmp_path / "pitr"
    base.mkdir(parents=True)
    os.chmod(base, 0o755)
    data = tmp_path / "data"
    yield base, data
    recorded = data / "pg-datadir"
    if recorded.exists():
        d = Path(recorded.read_text().strip())
        subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", str(d), "stop",
                        "-m", "immediate"] if os.geteuid() == 0 else
                       ["/usr/lib/postgresql/15/bin/pg_ctl", "-D", str(d), "stop", "-m", "immediate"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)
        d.with_name(d.name + ".log").unlink(missing_ok=True)
    shutil.rmtree(base, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_point_in_time_restore_into_a_scratch_cluster(place):
    base, data = place
    env = {k: v for k, v in os.environ.items()
           if k not in ("GRIDGOV_DATA_DIR", "GRIDGOV_PG_PORT", "DATABASE_URL", "TEST_DATABASE_URL")}
    env["GRIDGOV_DATA_DIR"] = str(data)
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(base / "archive"), str(base / "restored"), str(_free_port())],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ROWS ['before']" in r.stdout, r.stdout
    assert list((base / "archive").glob("base-*/backup_label"))  # the base backup it restored from
