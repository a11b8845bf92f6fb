"""The local cluster's port race: a port taken between the free-port check and the server's bind
moves the cluster to the next free port (recorded) instead of failing the start."""
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from db.config import ROOT

START = "from db import cluster; cluster.start()"
STOP = "from db import cluster; cluster.stop()"


def _py(code: str, data_dir: Path, **extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GRIDGOV_DATA_DIR", "GRIDGOV_PG_PORT", "DATABASE_URL", "TEST_DATABASE_URL")}
    env.update(GRIDGOV_DATA_DIR=str(data_dir), **extra)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True, capture_output=True,
                          timeout=180)


@pytest.fixture
def scratch(tmp_path):
    data = tmp_path / "data"
    yield data
    _py(STOP, data)
    recorded = data / "pg-datadir"
    if recorded.exists():
        d = Path(recorded.read_text().strip())
        shutil.rmtree(d, ignore_errors=True)
        d.with_name(d.name + ".log").unlink(missing_ok=True)


def _hold(port: int) -> socket.socket:
    """Bind the port without listening: a connection test sees it free, the server's bind fails —
    exactly the moment another process takes it between the check and ``pg_ctl start``."""
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    return s


def test_start_moves_to_the_next_port_when_its_port_is_taken_at_bind(scratch):
    first = _py(START, scratch)
    assert first.returncode == 0, first.stderr
    assert _py(STOP, scratch).returncode == 0
    port = int((scratch / "pg-port").read_text())
    with _hold(port):
        r = _py(START, scratch)
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
        moved = int((scratch / "pg-port").read_text())
        assert moved != port
        with socket.create_connection(("127.0.0.1", moved), timeout=5):
            pass  # the server answers on the recorded port


def test_a_configured_port_that_is_taken_is_refused_with_one_line(scratch):
    first = _py(START, scratch)
    assert first.returncode == 0, first.stderr
    assert _py(STOP, scratch).returncode == 0
    port = int((scratch / "pg-port").read_text())
    with _hold(port):
        r = _py("import sys\nfrom db import cluster\ntry:\n    cluster.start()\n"
                "except cluster.ClusterError as e:\n    print(e, file=sys.stderr); sys.exit(3)",
                scratch, GRIDGOV_PG_PORT=str(port))
    assert r.returncode == 3, r.stderr
    assert "did not start" in r.stderr and int((scratch / "pg-port").read_text()) == port
