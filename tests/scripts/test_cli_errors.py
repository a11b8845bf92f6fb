"""A user's mistake on the command line gets one line on stderr saying what to do, a non-zero exit
and never a traceback: each case runs manage.py as a subprocess, as a user would."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


NOWHERE = f"postgresql://gridgov:x@127.0.0.1:{_closed_port()}/gridgov"
GRID = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "211103001001901", "name": "x"},
        "geometry": {"type": "Polygon", "coordinates": [[[121, 41], [121.001, 41], [121.001, 41.001], [121, 41]]]}}]}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "folder.geojson").mkdir()
    (d / "ok.csv").write_text("id,lon,lat\na,121.5,41.1\n")
    (d / "huge.csv").write_text("id,lon,lat\n" + "a" * 200_000 + ",121.5,41.1\n")
    (d / "latin1.csv").write_bytes("id,lon,lat\n\xe9,121.5,41.1\n".encode("latin-1"))
    (d / "grids.geojson").write_text(json.dumps(GRID))
    return d


CASES = {
    "import a folder": (["import-grids", "{d}/folder.geojson", "--crs", "WGS84", "--test"], {}, "is a folder"),
    "import a missing file": (["import-grids", "{d}/nope.geojson", "--crs", "WGS84", "--test"], {}, "no such file"),
    "import with a bad --crs": (["import-grids", "{d}/grids.geojson", "--crs", "NOPE", "--test"], {}, "NOPE"),
    "import a CSV": (["import-grids", "{d}/ok.csv", "--test"], {}, ".csv is not accepted"),
    "import a remote file": (["import-grids", "/vsicurl/http://127.0.0.1:9/g.geojson", "--test"], {},
                             "download the file"),
    "import, database unreachable": (["import-grids", "{d}/grids.geojson", "--crs", "WGS84"],
                                     {"DATABASE_URL": NOWHERE}, "check DATABASE_URL"),
    "assign a folder": (["assign", "--in", "{d}/folder.geojson", "--test"], {}, "is a folder"),
    "assign a missing file": (["assign", "--in", "{d}/nope.csv", "--test"], {}, "no such file"),
    "assign a huge field": (["assign", "--in", "{d}/huge.csv", "--test"], {}, "field larger than field limit"),
    "assign a non-UTF-8 file": (["assign", "--in", "{d}/latin1.csv", "--test"], {}, "save the CSV as UTF-8"),
    "assign with a bad --crs": (["assign", "--in", "{d}/ok.csv", "--crs", "WGS-85", "--test"], {}, "--crs 'WGS-85'"),
    "assign, database unreachable": (["assign", "--in", "{d}/ok.csv"], {"DATABASE_URL": NOWHERE},
                                     "cannot use the database"),
    "export into a missing folder": (["export-grids", "--out", "{d}/no/such/dir/g.geojson", "--test"], {},
                                     "no such file"),
    "export onto a folder": (["export-grids", "--out", "{d}/folder.geojson", "--test"], {}, "is a folder"),
    "migrate, database unreachable": (["migrate"], {"DATABASE_URL": NOWHERE}, "cannot use the database"),
    "wal-archive without --dir": (["wal-archive", "on"], {}, "needs --dir"),
    "wal-archive restore, bad --to": (["wal-archive", "restore", "--dir", "{d}", "--to", "yesterday", "--into",
                                       "{d}/new"], {}, "is not a time"),
    "wal-archive on a DATABASE_URL server": (["wal-archive", "on", "--dir", "{d}/arch"], {"DATABASE_URL": NOWHERE},
                                             "archive your server with its own tools"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_users_mistake_is_one_line_without_a_traceback(files, case):
    argv, env_extra, needle = CASES[case]
    env = {**os.environ, **env_extra}
    if "DATABASE_URL" in env_extra:
        env.pop("MIGRATION_DATABASE_URL", None)
    r = subprocess.run([sys.executable, "manage.py", *[a.format(d=files) for a in argv]], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0], lines[0]
    assert len(lines[0]) < 400, lines[0]
