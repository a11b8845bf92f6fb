"""Sample log-in accounts, one per role and level, created only with the sample data.

All share one documented password (docs/sample-data.md) and are hashed with argon2
(``argon2.PasswordHasher().hash``); the app verifies with ``PasswordHasher().verify``. Only these
accounts get a password: the other 598 sample grid workers cannot log in.
"""
from __future__ import annotations

from dataclasses import dataclass

SAMPLE_PASSWORD = "gridgov-sample"


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
