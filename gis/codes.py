"""Grid codes (网格编码): the digit layout, defined here and nowhere else.

Beijing DB11 practice, close to CJ/T 213: 6-digit district code (GB/T 2260) + 3-digit
subdistrict + 3-digit community/village + 3-digit grid sequence = 15 digits. Change ``LAYOUT``
to change the layout, together with a new migration for the database's checks on code length
(migration 0001 wrote them out; tests/db/test_migrations_frozen.py checks that they agree).
"""
from __future__ import annotations

from dataclasses import dataclass

from gis.text import Msg

LAYOUT: tuple[tuple[str, int], ...] = (
    ("district", 6),
    ("subdistrict", 3),
    ("community", 3),
    ("grid", 3),
)
LEVELS = tuple(name for name, _ in LAYOUT)


def width(level: str) -> int:
    """Total number of digits of a code at ``level`` (prefix included)."""
    total = 0
    for name, n in LAYOUT:
        total += n
        if name == level:
            return total
    raise ValueError(f"unknown code level {level!r}; expected one of {LEVELS}")


GRID_CODE_LEN = width("grid")


@dataclass(frozen=True)
class GridCode:
    district: str
    subdistrict: str
    community: str
    grid: str

    def __str__(self) -> str:
        return self.district + self.subdistrict + self.community + self.grid


def compose(parent_code: str, seq: int, level: str) -> str:
    """The code of child number ``seq`` (1-based) at ``level`` under ``parent_code``."""
    digits = dict(LAYOUT)[level]
    if not 0 < seq < 10**digits:
        raise ValueError(f"sequence {seq} does not fit in {digits} digits at level {level}")
    code = f"{parent_code}{seq:0{digits}d}"
    if len(code) != width(level):
        raise ValueError(f"parent code {parent_code!r} has the wrong length for a {level} child")
    return code


def parse(code: str) -> GridCode:
    """Split a full grid code into its parts; the error says what is wrong."""
    if len(code) != GRID_CODE_LEN or not code.isdigit():
        raise ValueError(Msg(f"grid code {code!r} must be {GRID_CODE_LEN} digits",
                             f"网格编码 {code!r} 必须是 {GRID_CODE_LEN} 位数字"))
    parts, i = [], 0
    for _, n in LAYOUT:
        parts.append(code[i:i + n])
        i += n
    return GridCode(*parts)


def parent(code: str, level: str) -> str:
    """The prefix of ``code`` that is the code of its ancestor at ``level``."""
    return code[: width(level)]
