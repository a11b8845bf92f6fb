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


def cmd_deactivate_user(args) -> int:
    from accounts.auth import AccountError, set_active

    try:
        with _engine().begin() as conn:
            set_active(conn, args.username, args.reactivate)
    except AccountError as e:
        raise ValueError(str(e)) from None
    if args.reactivate:
        print(f"account {args.username!r} active again")
    else:
        print(f"account {args.username!r} deactivated: refused at its next page or action")
    return 0


def cmd_link_sso(args) -> int:
    from accounts.auth import AccountError, link_sso

    try:
        with _engine().begin() as conn:
            link_sso(conn, args.username, issuer=args.issuer, subject=args.subject)
    except AccountError as e:
        raise ValueError(str(e)) from None
    print(f"{args.username!r} signs in by single sign-on as {args.issuer} / {args.subject}")
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


def _configure_deactivate(p) -> None:
    p.add_argument("username")
    p.add_argument("--reactivate", action="store_true", help="make a deactivated account active again")


def _configure_link(p) -> None:
    p.add_argument("username")
    p.add_argument("--issuer", required=True, help="the identity provider's issuer (the iss claim), e.g. "
                   "https://idp.example.gov.cn/realms/city")
    p.add_argument("--subject", required=True, help="the person's subject at that provider (the sub claim)")


def register_commands(register) -> None:
    register("create-user", cmd_create_user, "create a login account (asks for the password)", _configure_create)
    register("set-password", cmd_set_password, "set a new password for an account", _configure_set)
    register("deactivate-user", cmd_deactivate_user, "deactivate an account (takes effect at its next page "
             "or action)", _configure_deactivate)
    register("link-sso", cmd_link_sso, "link an account to a single sign-on identity (issuer and subject)",
             _configure_link)
