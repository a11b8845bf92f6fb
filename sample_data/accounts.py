"""Sample log-in accounts, one per role and level, created only with the sample data.

They share one password, generated for each install (``secrets``) and kept in
``var/sample-password`` (mode 0600, see db/secret_file.py); ``make run`` prints it with the
list of usernames. Nothing in the repository holds it. Hashes are argon2id
(``argon2.PasswordHasher().hash``); the app verifies with ``PasswordHasher().verify``. Only these
accounts get a password: the other 598 sample grid workers cannot log in.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from db.config import VAR
from db.secret_file import create_secret

PASSWORD_FILE = VAR / "sample-password"
# The one password earlier versions printed in the README: installs that still have it are
# moved to the generated one (sample_data.load.retire_known_passwords).
RETIRED_PASSWORDS = ("gridgov-sample",)


def sample_password(path: Path = PASSWORD_FILE) -> str:
    """This install's sample password: read from ``path``, created there on first use."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    # 16 characters of the URL-safe alphabet, ~96 bits: not guessable, still typeable
    return create_secret(path, secrets.token_urlsafe(12))


@dataclass(frozen=True)
class SampleAccount:
    username: str
    full_name: str
    role: str
    unit_level: str  # district | subdistrict | community | department
    unit: str | None  # subdistrict or community name, or department code; None for district
    what: str  # for the account list in the docs


ACCOUNTS: tuple[SampleAccount, ...] = (
    SampleAccount("admin", "赵建国", "admin", "district", None, "系统管理员 administrator"),
    SampleAccount("command", "王海涛", "command_staff", "district", None, "指挥中心值班长 command staff (views the wall)"),
    SampleAccount("planner", "孙丽娟", "planner", "district", None, "网格规划员 grid planner"),
    SampleAccount("dispatcher", "刘晓东", "dispatcher", "district", None, "区指挥中心派遣员 district command-centre dispatcher"),
    SampleAccount("dispatcher_sub", "陈静", "dispatcher", "subdistrict", "创新街道", "创新街道派遣员 subdistrict dispatcher"),
    SampleAccount("dispatcher_comm", "杨秀英", "dispatcher", "community", "科技社区", "科技社区派遣员 community dispatcher"),
    SampleAccount("staff_cgzf", "周强", "department_staff", "department", "CGZF", "城管执法局处置员 department staff"),
    SampleAccount("staff_hwc", "吴桂芝", "department_staff", "department", "HWC", "环卫处处置员 department staff"),
    # one of the 599 sample grid workers (the first of 科技社区), renamed so it is easy to type
    SampleAccount("gridworker", "", "grid_worker", "community", "科技社区", "科技社区网格员 grid worker"),
)


def login_hint(path: Path = PASSWORD_FILE) -> str:
    """What ``make run`` prints: the usernames and where the password is (and the password)."""
    return (f"sample accounts: {', '.join(a.username for a in ACCOUNTS)}\n"
            f"their password: {sample_password(path)}  (kept in {path}, mode 0600; "
            "for demonstrations: do not put them on a network people you do not know can reach)")
