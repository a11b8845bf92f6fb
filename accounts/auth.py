"""Local accounts: password hashing (argon2id), login, and which pages each role may open.

Plain Python over the database (no UI imports): the Streamlit frame, ``manage.py create-user``
and any intake service log people in the same way. Passwords are never stored, printed or
logged in clear; only argon2 hashes live in ``person.password_hash``.

Page access here decides what the navigation lists. It is not the only check: every action
on a case is checked again by the lifecycle service with the actor's role and unit.
"""
from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from accounts.actors import ROLES, Actor, load_actor
from db.models import Community, Department, Person, Subdistrict

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_PASSWORD_LENGTH = 8
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")  # the same rule as the person table's check

# A hash verified when the username is unknown, so that a wrong name and a wrong password
# take the same time and give the same answer.
_DUMMY_HASH = _hasher.hash("not-a-password-of-anyone")

# Page key → roles that may open it. The frame (app.py) lists a page only for these roles and
# only when its file exists, so pages still being written can be registered here in advance.
PAGE_ACCESS: dict[str, frozenset[str]] = {
    "wall": frozenset({"command_staff", "dispatcher", "planner", "admin"}),
    "wall_screen": frozenset({"command_staff", "dispatcher", "admin"}),
    "dispatch": frozenset({"dispatcher", "admin"}),
    "department_queue": frozenset({"department_staff", "admin"}),
    "charts": frozenset({"command_staff", "dispatcher", "planner", "admin"}),
    "report": frozenset({"grid_worker", "admin"}),  # the grid worker's phone page, their first page
    "account": frozenset(ROLES),
}
# Pages for everyone, signed in or not (no role check; the page shows only what its link opens).
PUBLIC_PAGES: tuple[str, ...] = ("public_report", "status")

# Unit a role belongs to (person.unit_level); used to validate create_user.
ROLE_UNIT_LEVELS: dict[str, frozenset[str]] = {
    "grid_worker": frozenset({"community"}),
    "department_staff": frozenset({"department"}),
    "dispatcher": frozenset({"community", "subdistrict", "district"}),
    "command_staff": frozenset({"subdistrict", "district"}),
    "planner": frozenset({"district"}),
    "admin": frozenset({"district"}),
}


class LoginFailed(Exception):
    """Wrong username or password, or an inactive account (deliberately not told apart)."""

    code = "login.failed"


class AccountError(ValueError):
    """A create-user request that cannot be carried out; the message says why."""


def allowed_pages(role: str) -> list[str]:
    """The page keys ``role`` may open, in PAGE_ACCESS order."""
    return [page for page, roles in PAGE_ACCESS.items() if role in roles]


def may_open(role: str, page: str) -> bool:
    return role in PAGE_ACCESS.get(page, frozenset())


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (salted; the clear text is not kept)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def authenticate(conn: Connection, username: str, password: str) -> Actor:
    """The active person whose username and password match, as an Actor.

    Raises LoginFailed otherwise, with the same message whether the name is unknown, the
    password wrong or the account inactive. A hash made with older parameters is upgraded.
    """
    row = conn.execute(select(Person.id, Person.password_hash, Person.active)
                       .where(Person.username == (username or "").strip())).one_or_none()
    stored = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password or "")
        ok = row is not None and row.password_hash is not None and row.active
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok:
        raise LoginFailed("wrong username or password")
    if _hasher.check_needs_rehash(row.password_hash):
        conn.execute(update(Person).where(Person.id == row.id).values(password_hash=_hasher.hash(password)))
    return load_actor(conn, row.id)


def actor_by_username(conn: Connection, username: str) -> Actor:
    """The active person with ``username`` (for single sign-on, where the identity provider
    has already checked the password); raises LoginFailed when there is none."""
    pid = conn.execute(select(Person.id).where(Person.username == username, Person.active)).scalar_one_or_none()
    if pid is None:
        raise LoginFailed(f"no active account for {username!r}")
    return load_actor(conn, pid)


_UNIT_MODELS = {"community": Community, "subdistrict": Subdistrict, "department": Department}


def _unit_ids(conn: Connection, unit_level: str, unit: str | None) -> dict[str, int | None]:
    ids: dict[str, int | None] = {"community_id": None, "subdistrict_id": None, "department_id": None}
    if unit_level == "district":
        return ids
    if not unit:
        raise AccountError(f"a {unit_level}-level account needs --unit (its code)")
    model = _UNIT_MODELS[unit_level]
    found = conn.execute(select(model.id).where(model.code == unit)).scalar_one_or_none()
    if found is None:
        raise AccountError(f"no {unit_level} with code {unit!r}")
    ids[f"{unit_level}_id"] = found
    return ids


def create_user(conn: Connection, *, username: str, full_name: str, role: str, password: str,
                unit_level: str = "district", unit: str | None = None, phone: str | None = None) -> int:
    """Create an active account and return its person id.

    ``unit`` is the code of the community, subdistrict or department the person belongs to
    (none for the district command centre). Raises AccountError with the reason.
    """
    if not USERNAME_RE.match(username or ""):
        raise AccountError(f"username {username!r}: 2-64 letters, digits or _ . @ -")
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if unit_level not in ROLE_UNIT_LEVELS[role]:
        raise AccountError(
            f"a {role} belongs to a {' or '.join(sorted(ROLE_UNIT_LEVELS[role]))} unit, not {unit_level!r}")
    exists = conn.execute(select(Person.id).where(Person.username == username)).first()
    if exists:
        raise AccountError(f"username {username!r} is taken")
    pw_hash = hash_password(password)
    return conn.execute(insert(Person).values(
        username=username, full_name=full_name, role=role, unit_level=unit_level, phone=phone,
        password_hash=pw_hash, **_unit_ids(conn, unit_level, unit)).returning(Person.id)).scalar_one()


def set_password(conn: Connection, username: str, password: str) -> None:
    """Replace the password of ``username``; raises AccountError if there is no such account."""
    n = conn.execute(update(Person).where(Person.username == username)
                     .values(password_hash=hash_password(password))).rowcount
    if n == 0:
        raise AccountError(f"no account {username!r}")
