"""Case status codes (案件状态): the values of the CHECK on ``cases.status``, and which end a case.

They live at the bottom layer because more than the lifecycle needs them: the grid rule re-assigns
only open cases after a boundary change (``gis.assign``). The lifecycle (``dispatch.states``)
re-exports them and owns the moves between them.
"""
from __future__ import annotations

STATUSES: tuple[str, ...] = (
    "reported", "registered", "rejected", "dispatched", "disposing", "awaiting_verification",
    "closed", "rework", "postponed", "returned", "merged",
)
TERMINAL_STATUSES: tuple[str, ...] = ("closed", "rejected", "merged")
OPEN_STATUSES: tuple[str, ...] = tuple(s for s in STATUSES if s not in TERMINAL_STATUSES)

_TERMINAL_SQL = "(" + ", ".join(f"'{s}'" for s in TERMINAL_STATUSES) + ")"


def open_sql(a: str = "c") -> str:
    """SQL: the case (alias ``a``) is open — THE definition of open (not closed, rejected or merged).

    >>> open_sql("x")
    "x.status NOT IN ('closed', 'rejected', 'merged')"
    """
    return f"{a}.status NOT IN {_TERMINAL_SQL}"


def terminal_sql(a: str = "c") -> str:
    """SQL: the case has ended (closed, rejected or merged), the complement of ``open_sql``.

    The points are indexed in two halves (migration 0018): ``cases_open_geom_gix`` over the open
    cases, ``cases_closed_geom_gix`` over the terminal ones. A spatial query over cases of every
    status is written as two branches, one with ``open_sql`` and one with this, joined by
    ``UNION ALL``: each branch probes its half (an ``OR`` of the two does not, when the point
    comes from a join).

    >>> terminal_sql("x")
    "x.status IN ('closed', 'rejected', 'merged')"
    """
    return f"{a}.status IN {_TERMINAL_SQL}"
