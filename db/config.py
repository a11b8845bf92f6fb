"""Where the database is: ``DATABASE_URL`` if set, else the project-local cluster under ``var/``.

Two roles (least privilege, docs/security.md): the application connects as a role that is not a
superuser and cannot rewrite the event log (``database_url``); migrations, the sample loader and
the benchmarks connect as the owner of the schema (``owner_database_url``). On the local cluster
these are ``gridgov_app`` (password in ``var/pg-app-password``) and ``gridgov`` (the cluster's
superuser, ``var/pg-password``). With ``DATABASE_URL`` (an external server) the operator names
the owner's connection in ``MIGRATION_DATABASE_URL`` and the application role in
``GRIDGOV_APP_ROLE`` (then ``manage.py migrate`` grants it what it needs); without them the one
``DATABASE_URL`` role does both jobs.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The data folder (cluster, photos, secrets): ``GRIDGOV_DATA_DIR`` puts it outside the checkout, so
# a new checkout, or a ``git clean``, never touches the data; the default keeps the old layout.
VAR = Path(os.environ["GRIDGOV_DATA_DIR"]).resolve() if os.environ.get("GRIDGOV_DATA_DIR") else ROOT / "var"


def photo_dir() -> Path:
    """The photo store: ``GRIDGOV_PHOTO_DIR``, else ``photos`` in the data folder."""
    return Path(os.environ["GRIDGOV_PHOTO_DIR"]) if os.environ.get("GRIDGOV_PHOTO_DIR") else VAR / "photos"


def tiles_path() -> Path | None:
    """The city's own base map, if it has one: ``GRIDGOV_TILES``, a folder of ``{z}/{x}/{y}.png``
    tiles or an MBTiles file, served by the intake service at ``/tiles/{z}/{x}/{y}.png``."""
    raw = os.environ.get("GRIDGOV_TILES", "").strip()
    return Path(raw).expanduser() if raw else None


def tiles_url() -> str | None:
    """Where browsers fetch those tiles: ``GRIDGOV_TILES_URL`` (a template with ``{z}``, ``{x}``,
    ``{y}``, e.g. ``/tiles/{z}/{x}/{y}.png`` behind a proxy that routes ``/tiles/`` to the intake
    service); None: the intake service's port on the host the browser reached the app by."""
    return os.environ.get("GRIDGOV_TILES_URL", "").strip() or None


def intake_port() -> int:
    """The intake service's port (``INTAKE_PORT``, default 8502), as scripts/serve-intake.sh uses it."""
    return int(os.environ.get("INTAKE_PORT") or 8502)


STORAGE_SRID = 4326  # the one SRID in which every geometry is stored (WGS-84)
# The district's local time: working calendar, local days of the indicators, database sessions.
TIME_ZONE = "Asia/Shanghai"

LOCAL_DB = "gridgov"
LOCAL_TEST_DB = "gridgov_test"
LOCAL_USER = "gridgov"          # the local cluster's owner (superuser): migrations, sample, benchmarks
LOCAL_APP_USER = "gridgov_app"  # the application's role: login, no superuser, no rewriting case_event


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


APP_PASSWORD_FILE = VAR / "pg-app-password"


def local_app_password() -> str | None:
    return APP_PASSWORD_FILE.read_text().strip() if APP_PASSWORD_FILE.exists() else None


def _local_url(dbname: str, *, owner: bool) -> str:
    pw = local_password() if owner else local_app_password()
    if pw is None:
        raise RuntimeError(
            "No DATABASE_URL is set and the local cluster (or its application role) has not been created: "
            "run `make run` (or `python manage.py db-up`) first, or set DATABASE_URL."
        )
    user = LOCAL_USER if owner else LOCAL_APP_USER
    return f"postgresql+psycopg2://{user}:{pw}@127.0.0.1:{local_port()}/{dbname}"


def _sibling(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(_normalise(url))
    return u.set(database=f"{u.database}_test").render_as_string(hide_password=False)


def database_url() -> str:
    """The application's connection: ``DATABASE_URL``, else the local cluster's application role."""
    url = os.environ.get("DATABASE_URL")
    return _normalise(url) if url else _local_url(LOCAL_DB, owner=False)


def owner_database_url() -> str:
    """The schema owner's connection (migrations, sample, benchmarks): ``MIGRATION_DATABASE_URL``,
    else ``DATABASE_URL`` (one role for both), else the local cluster's owner."""
    for var in ("MIGRATION_DATABASE_URL", "DATABASE_URL"):
        if os.environ.get(var):
            return _normalise(os.environ[var])
    return _local_url(LOCAL_DB, owner=True)


def test_database_url() -> str:
    """The test suite's application connection: ``TEST_DATABASE_URL``, else a ``_test`` sibling
    of the app's."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return _normalise(url)
    if os.environ.get("DATABASE_URL"):
        return _sibling(os.environ["DATABASE_URL"])
    return _local_url(os.environ.get("GRIDGOV_TEST_DB", LOCAL_TEST_DB), owner=False)


def test_owner_database_url() -> str:
    """The test database's owner connection (migrations, committed fixtures and their clean-up):
    ``TEST_MIGRATION_DATABASE_URL``, a ``_test`` sibling of ``MIGRATION_DATABASE_URL``, the test
    suite's one connection on an external server, else the local cluster's owner."""
    if os.environ.get("TEST_MIGRATION_DATABASE_URL"):
        return _normalise(os.environ["TEST_MIGRATION_DATABASE_URL"])
    if os.environ.get("MIGRATION_DATABASE_URL"):
        return _sibling(os.environ["MIGRATION_DATABASE_URL"])
    if os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL"):
        return test_database_url()
    return _local_url(os.environ.get("GRIDGOV_TEST_DB", LOCAL_TEST_DB), owner=True)


def app_role() -> str | None:
    """The application's role to grant privileges to after migrating: ``GRIDGOV_APP_ROLE``, the
    local cluster's ``gridgov_app``, or None (an external server without it: the operator's)."""
    if os.environ.get("GRIDGOV_APP_ROLE"):
        return os.environ["GRIDGOV_APP_ROLE"]
    return None if os.environ.get("DATABASE_URL") else LOCAL_APP_USER


test_database_url.__test__ = False  # helpers, not tests, wherever a test module imports them
test_owner_database_url.__test__ = False


def _normalise(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url
