"""``manage.py create-user`` and ``manage.py set-password``: real accounts from the command line.

The password is asked for twice on a terminal (never echoed), or read from the first line of
standard input when that is not a terminal (``--password-stdin``), so it never appears in the
process list, the shell history or a log.
"""
from __future__ import annotations

import getpass
import sys

from accounts.actors import ROLES


def _read_password(args) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise ValueError("no password on standard input")
        return line.rstrip("\r\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("password again: "):
        raise ValueError("the two passwords differ")
    return first


def _engine():
    from db.config import database_url
    from db.engine import get_engine

    return get_engine(database_url())


def cmd_create_user(args) -> int:
    from accounts.auth import AccountError, create_user

    password = _read_password(args)
    try:
        with _engine().begin() as conn:
            pid = create_user(conn, username=args.username, full_name=args.name, role=args.role,
                              password=password, unit_level=args.unit_level, unit=args.unit,
                              phone=args.phone)
    except AccountError as e:
        raise ValueError(str(e)) from None
    print(f"created {args.role} account {args.username!r} (person id {pid})")
    return 0


def cmd_set_password(args) -> int:
    from accounts.auth import AccountError, set_password

    password = _read_password(args)
    try:
        with _engine().begin() as conn:
            set_password(conn, args.username, password)
    except AccountError as e:
        raise ValueError(str(e)) from None
    print(f"password of {args.username!r} changed")
    return 0


def _configure_create(p) -> None:
    p.add_argument("--username", required=True, help="login name: letters, digits, _ . @ -")
    p.add_argument("--name", required=True, help="full name as shown in the app, e.g. 张伟")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--unit-level", default="district",
                   choices=("district", "subdistrict", "community", "department"),
                   help="the kind of unit the person belongs to (default: the district command centre)")
    p.add_argument("--unit", help="code of that subdistrict, community or department")
    p.add_argument("--phone")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")


def _configure_set(p) -> None:
    p.add_argument("--username", required=True)
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")


def register_commands(register) -> None:
    register("create-user", cmd_create_user, "create a login account (asks for the password)", _configure_create)
    register("set-password", cmd_set_password, "set a new password for an account", _configure_set)
