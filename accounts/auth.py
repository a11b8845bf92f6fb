"""Local accounts: password hashing (argon2id), login, and which pages each role may open.

Plain Python over the database (no UI imports): the Streamlit frame, ``manage.py create-user``
and any intake service log people in the same way. Passwords are never stored, printed or
logged in clear; only argon2 hashes live in ``person.password_hash``.

Page access here decides what the navigation lists. It is not the only check: every action
on a case is checked again by the lifecycle service with the actor's role and unit.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from accounts import throttle
from accounts.actors import ROLES, Actor, load_actor
from db.models import Community, Department, Person, Subdistrict

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_PASSWORD_LENGTH = 8
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")  # the same rule as the person table's check

# A hash verified when the username is unknown, so that a wrong name and a wrong password
# take the same time and give the same answer.
_DUMMY_HASH = _hasher.hash("not-a-password-of-anyone")

log = logging.getLogger("gridgov.accounts")

# Each argon2 check takes 64 MiB and a core for ~50 ms: hundreds of sign-ins at once (an attack,
# or a shift starting) must queue, not exhaust memory. One cap per process, near the CPU count
# (more would only wait for a core anyway); GRIDGOV_PASSWORD_CHECKS overrides it.
MAX_PASSWORD_CHECKS = max(1, int(os.environ.get("GRIDGOV_PASSWORD_CHECKS") or os.cpu_count() or 2))
CHECK_WAIT_S = 20  # a check that cannot start within this is refused as "busy"
_checks = threading.BoundedSemaphore(MAX_PASSWORD_CHECKS)
_gauge_lock = threading.Lock()
_in_flight = 0
peak_checks = 0  # the most checks seen running at once in this process (for tests and logs)

# Page key → roles that may open it. The frame (app.py) lists a page only for these roles and
# only when its file exists, so pages still being written can be registered here in advance.
PAGE_ACCESS: dict[str, frozenset[str]] = {
    "wall": frozenset({"command_staff", "dispatcher", "planner", "admin"}),
    "wall_screen": frozenset({"command_staff", "dispatcher", "admin"}),
    "dispatch": frozenset({"dispatcher", "admin"}),
    "department_queue": frozenset({"department_staff", "admin"}),
    "planner": frozenset({"planner", "admin"}),  # drafts, publish, history of the grid boundaries
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


class Throttled(LoginFailed):
    """Too many recent failures for this account or address: wait ``seconds`` first."""

    code = "login.throttled"

    def __init__(self, seconds: float):
        self.seconds = int(seconds) + 1
        super().__init__(f"too many failed sign-ins; try again in {self.seconds} s")


class LoginBusy(LoginFailed):
    """Too many password checks queued in this process; try again shortly."""

    code = "login.busy"


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


@contextmanager
def _password_check():
    """Hold one of the process's MAX_PASSWORD_CHECKS slots while an argon2 hash is computed."""
    global _in_flight, peak_checks
    if not _checks.acquire(timeout=CHECK_WAIT_S):
        log.warning("password checks saturated (%d running); a sign-in was refused as busy", MAX_PASSWORD_CHECKS)
        raise LoginBusy("too many sign-ins at once; try again")
    try:
        with _gauge_lock:
            _in_flight += 1
            peak_checks = max(peak_checks, _in_flight)
        yield
    finally:
        with _gauge_lock:
            _in_flight -= 1
        _checks.release()


def authenticate(conn: Connection, username: str, password: str) -> Actor:
    """The active person whose username and password match, as an Actor.

    Raises LoginFailed otherwise, with the same message whether the name is unknown, the
    password wrong or the account inactive. A hash made with older parameters is upgraded.
    """
    row = conn.execute(select(Person.id, Person.password_hash, Person.active)
                       .where(Person.username == (username or "").strip())).one_or_none()
    stored = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
    with _password_check():
        try:
            _hasher.verify(stored, password or "")
            ok = row is not None and row.password_hash is not None and row.active
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    if not ok:
        raise LoginFailed("wrong username or password")
    if _hasher.check_needs_rehash(row.password_hash):
        with _password_check():
            new_hash = _hasher.hash(password)
        conn.execute(update(Person).where(Person.id == row.id).values(password_hash=new_hash))
    return load_actor(conn, row.id)


def sign_in(engine: Engine, username: str, password: str, *, client_address: str | None = None) -> Actor:
    """A password sign-in as every front end should make it: throttled, recorded, logged.

    Raises Throttled (before any password check) while the account or the address must wait,
    LoginFailed for a wrong name or password (the failure is committed on its own), LoginBusy
    when the process's password checks stay saturated.
    """
    with engine.connect() as conn:
        wait = throttle.wait_seconds(conn, username, client_address)
    if wait > 0:
        log.warning("sign-in for %r from %s refused: wait %.0f s", (username or "")[:200],
                    client_address or "local/proxy", wait)
        raise Throttled(wait)
    try:
        with engine.begin() as conn:
            actor = authenticate(conn, username, password)
    except LoginBusy:
        raise
    except LoginFailed:
        with engine.begin() as conn:
            throttle.record_failure(conn, username, client_address)
        raise
    log.info("signed in: %r from %s", actor.username, client_address or "local/proxy")
    return actor


def actor_by_sso(conn: Connection, issuer: str, subject: str) -> Actor:
    """The active person an administrator linked to this identity provider's ``issuer`` and
    ``subject`` (``manage.py link-sso``). Never by display name or e-mail: those are chosen by
    the user or reused, and an unverified e-mail proves nothing. Raises LoginFailed otherwise."""
    if not issuer or not subject:
        raise LoginFailed("the identity provider sent no issuer or subject")
    pid = conn.execute(select(Person.id).where(Person.sso_issuer == issuer, Person.sso_subject == subject,
                                               Person.active)).scalar_one_or_none()
    if pid is None:
        raise LoginFailed(f"no active account linked to {issuer} / {subject}")
    return load_actor(conn, pid)


def link_sso(conn: Connection, username: str, *, issuer: str, subject: str) -> None:
    """Record that ``issuer``'s ``subject`` is the person ``username`` (replacing any earlier link)."""
    if not issuer.strip() or not subject.strip():
        raise AccountError("both --issuer and --subject are needed")
    other = conn.execute(select(Person.username).where(Person.sso_issuer == issuer, Person.sso_subject == subject,
                                                       Person.username != username)).scalar_one_or_none()
    if other:
        raise AccountError(f"{issuer} / {subject} is already linked to {other!r}")
    n = conn.execute(update(Person).where(Person.username == username)
                     .values(sso_issuer=issuer, sso_subject=subject)).rowcount
    if n == 0:
        raise AccountError(f"no account {username!r}")


def set_active(conn: Connection, username: str, active: bool) -> None:
    """Deactivate (or reactivate) ``username``; a deactivated person is refused at their next
    page run or action (the frame and ``transition`` re-read the row)."""
    n = conn.execute(update(Person).where(Person.username == username).values(active=active)).rowcount
    if n == 0:
        raise AccountError(f"no account {username!r}")


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
