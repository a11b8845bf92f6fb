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
    _start_accept_clocks(_owner_url(args))
    role = app_role()
    if role:  # after every migration, so tables added later are covered too
        grant_app_privileges(_owner_url(args), role)
        print(f"migrations at head; privileges of {role} granted")
    else:
        print("migrations at head (no GRIDGOV_APP_ROLE: grant the application's role yourself, docs/security.md)")
    return 0


def _start_accept_clocks(url: str) -> None:
    """Cases sent to a department before migration 0035 get their clock to accept (it needs the
    working calendar, which a frozen migration does not import): once, then never again."""
    from sqlalchemy import create_engine

    from dispatch.deadlines import start_missing_accept_clocks

    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            n = start_missing_accept_clocks(conn)
    finally:
        eng.dispose()
    if n:
        print(f"{n} cases waiting for their department's acceptance got their clock (migration 0035)")


COMMANDS = {}


def cmd_replica_up(args) -> int:
    from db import replica

    replica.up()
    print(f"hot standby running on 127.0.0.1:{replica.port()}; walls and charts read from it with")
    print("  DATABASE_REPLICA_URL=local   (or the standby's URL; the password is in var/pg-app-password)")
    return 0


def cmd_replica_down(args) -> int:
    from db import replica

    replica.down()
    return 0


def register(name, fn, help_, configure=None):
    COMMANDS[name] = (fn, help_, configure)


def _add_test_flag(p):
    p.add_argument("--test", action="store_true", help="act on the test database")


register("db-up", cmd_db_up, "start the local PostGIS (or use DATABASE_URL) and create the database", _add_test_flag)
register("db-down", cmd_db_down, "stop the local PostgreSQL cluster")
register("migrate", cmd_migrate, "run database migrations to head", _add_test_flag)
register("replica-up", cmd_replica_up, "make and start a hot standby of the local cluster (reads for walls and charts)")
register("replica-down", cmd_replica_down, "stop the local hot standby")


def _load_extra_commands() -> None:
    # Commands that live with their component register themselves here; each module exists, so
    # a failing import is a real error and is not swallowed.
    import importlib

    for mod in ("gis.cli", "stats.cli", "sample_data.cli", "bench.cli", "accounts.cli", "intake.cli", "stats.backup_cli",
                "db.wal_archive", "planning.cli", "planning.cli_publish"):
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
    from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError

    try:
        return args.func(args) or 0
    except (OperationalError, InterfaceError) as e:  # the database cannot be reached (or refused us)
        print(f"error: {_database_unreachable(e)}", file=sys.stderr)
        return 2
    except ProgrammingError as e:
        if getattr(getattr(e, "orig", None), "pgcode", None) != "42P01":  # not "no such table": a bug
            raise
        print("error: the database has no tables yet: run `manage.py migrate` first", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError, OSError) as e:
        print(f"error: {_user_message(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing more was done (a command's transaction is rolled back)", file=sys.stderr)
        return 130


def _user_message(e: BaseException) -> str:
    """An exception as the one line a user reads: a file's problem says which file and what to do."""
    if isinstance(e, IsADirectoryError):
        return f"{e.filename} is a folder: give a file"
    if isinstance(e, FileNotFoundError) and e.filename:
        return f"no such file: {e.filename} (check the path)"
    if isinstance(e, PermissionError) and e.filename:
        return f"permission denied: {e.filename}"
    text = str(e).strip()
    if type(e).__name__ == "GridImportError":
        return text  # one line, or the list of features with problems
    return text.splitlines()[0] if text else type(e).__name__


def _database_unreachable(e: BaseException) -> str:
    """One line for a database that does not answer or refuses the connection."""
    lines = str(getattr(e, "orig", None) or e).strip().splitlines()
    hint = ("check DATABASE_URL" if os.environ.get("DATABASE_URL")
            else "start the local cluster with `manage.py db-up` (or set DATABASE_URL)")
    return f"cannot use the database: {lines[0] if lines else type(e).__name__}; {hint}"


if __name__ == "__main__":
    sys.exit(main())
