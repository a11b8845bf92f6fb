#!/usr/bin/env python3
"""Command line for the grid governance platform: ``python manage.py SUBCOMMAND --help``."""
from __future__ import annotations

import argparse
import os
import sys

from db.config import app_role, owner_database_url, test_owner_database_url


def _owner_url(args) -> str:
    """The schema owner's connection to the app's (or with --test the tests') database."""
    return test_owner_database_url() if getattr(args, "test", False) else owner_database_url()


def cmd_db_up(args) -> int:
    """Start the local cluster (unless DATABASE_URL is set), its application role, and the database."""
    from db import cluster

    if not os.environ.get("DATABASE_URL"):
        cluster.start()
        cluster.ensure_app_role()
    cluster.ensure_database(_owner_url(args))
    print(f"database ready: {_owner_url(args).split('@')[-1]}")
    return 0


def cmd_db_down(args) -> int:
    from db import cluster

    if os.environ.get("DATABASE_URL"):
        print("DATABASE_URL is set: no local cluster to stop")
        return 0
    cluster.stop()
    print("local PostgreSQL stopped")
    return 0


def cmd_migrate(args) -> int:
    from db.migrate import upgrade
    from db.roles import grant_app_privileges

    upgrade(_owner_url(args))
    role = app_role()
    if role:  # after every migration, so tables added later are covered too
        grant_app_privileges(_owner_url(args), role)
        print(f"migrations at head; privileges of {role} granted")
    else:
        print("migrations at head (no GRIDGOV_APP_ROLE: grant the application's role yourself, docs/security.md)")
    return 0


COMMANDS = {}


def register(name, fn, help_, configure=None):
    COMMANDS[name] = (fn, help_, configure)


def _add_test_flag(p):
    p.add_argument("--test", action="store_true", help="act on the test database")


register("db-up", cmd_db_up, "start the local PostGIS (or use DATABASE_URL) and create the database", _add_test_flag)
register("db-down", cmd_db_down, "stop the local PostgreSQL cluster")
register("migrate", cmd_migrate, "run database migrations to head", _add_test_flag)


def _load_extra_commands() -> None:
    # Commands that live with their component register themselves here; each module exists, so
    # a failing import is a real error and is not swallowed.
    import importlib

    for mod in ("gis.cli", "stats.cli", "sample_data.cli", "bench.cli", "accounts.cli", "intake.cli", "stats.backup_cli",
                "planning.cli", "planning.cli_publish"):
        importlib.import_module(mod).register_commands(register)


def main(argv: list[str] | None = None) -> int:
    _load_extra_commands()
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (fn, help_, configure) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if configure:
            configure(p)
        p.set_defaults(func=fn)
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except (ValueError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
