"""Where the database is: ``DATABASE_URL`` if set, else the project-local cluster under ``var/``."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
STORAGE_SRID = 4326  # the one SRID in which every geometry is stored (WGS-84)
# The district's local time: working calendar, local days of the indicators, database sessions.
TIME_ZONE = "Asia/Shanghai"

LOCAL_DB = "gridgov"
LOCAL_TEST_DB = "gridgov_test"
LOCAL_USER = "gridgov"


DEFAULT_PORT = 55432


def local_port() -> int:
    """``GRIDGOV_PG_PORT``, else the port the local cluster was created on, else 55432."""
    if os.environ.get("GRIDGOV_PG_PORT"):
        return int(os.environ["GRIDGOV_PG_PORT"])
    recorded = VAR / "pg-port"
    return int(recorded.read_text()) if recorded.exists() else DEFAULT_PORT


def local_password() -> str | None:
    p = VAR / "pg-password"
    return p.read_text().strip() if p.exists() else None


def _local_url(dbname: str) -> str:
    pw = local_password()
    if pw is None:
        raise RuntimeError(
            "No DATABASE_URL is set and the local cluster has not been created: "
            "run `make run` (or `python manage.py db-up`) first, or set DATABASE_URL."
        )
    return f"postgresql+psycopg2://{LOCAL_USER}:{pw}@127.0.0.1:{local_port()}/{dbname}"


def database_url() -> str:
    """The application's database."""
    url = os.environ.get("DATABASE_URL")
    return _normalise(url) if url else _local_url(LOCAL_DB)


def test_database_url() -> str:
    """The test suite's database: ``TEST_DATABASE_URL``, else a ``_test`` sibling of the app's."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return _normalise(url)
    if os.environ.get("DATABASE_URL"):
        from sqlalchemy.engine import make_url

        u = make_url(_normalise(os.environ["DATABASE_URL"]))
        return u.set(database=f"{u.database}_test").render_as_string(hide_password=False)
    return _local_url(os.environ.get("GRIDGOV_TEST_DB", LOCAL_TEST_DB))


test_database_url.__test__ = False  # a helper, not a test, wherever a test module imports it


def _normalise(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url
