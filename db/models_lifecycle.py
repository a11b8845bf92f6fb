"""Typed models of what migration 0002 (case lifecycle) adds.

``db/models.py`` belongs to the foundation; the lifecycle columns of ``cases`` and
``case_event`` are added to those same tables here (``extend_existing``) and mapped read-write
by ``CaseLifecycle`` / ``CaseEventState``. Status changes go through
``dispatch.service.transition`` only; these classes are for reading and for tests.
"""
from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import (Boolean, Column, Date, DateTime, Float, ForeignKey, Integer, Numeric,
                        SmallInteger, Table, Text, Time, text)
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, Case, CaseEvent  # noqa: F401  (Case/CaseEvent define the tables extended below)


class WorkingPeriod(Base):
    """A working period of every working day (default 08:30–12:00 and 13:30–17:30)."""
    __tablename__ = "working_period"
    id: Mapped[int] = mapped_column(primary_key=True)
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)


class CalendarDay(Base):
    """工作日历: one day; kind workday | weekend | holiday | makeup_workday (调休) | closure."""
    __tablename__ = "calendar_day"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_working: Mapped[bool] = mapped_column(Boolean)
    kind: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, server_default=text("'manual'"))


class TimeLimitPolicy(Base):
    """处置时限: category × level → value in working hours or working days."""
    __tablename__ = "time_limit_policy"
    category_code: Mapped[str] = mapped_column(Text, primary_key=True)
    level: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    unit: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class CaseStatDay(Base):
    """Daily indicator counters per grid / department / person, kept from case_event by a trigger."""
    __tablename__ = "case_stat_day"
    dim: Mapped[str] = mapped_column(Text, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reported: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    registered: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    closed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    closed_np: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    closed_on_time: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    closed_lower: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    closed_on_spot: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    disposal_wh: Mapped[float] = mapped_column(Float, server_default=text("0"))
    verified: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    reworked: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    open: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    overdue: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    overdue_np: Mapped[int] = mapped_column(Integer, server_default=text("0"))


def _ts(name: str) -> Column:
    return Column(name, DateTime(timezone=True), nullable=True)


_cases = Table(
    "cases", Base.metadata,
    Column("handler_id", Integer, ForeignKey("person.id"), nullable=True),
    Column("time_limit_value", Numeric(8, 2), nullable=True),
    Column("time_limit_unit", Text, nullable=True),
    _ts("deadline_from"), _ts("warn_at"), _ts("accepted_at"), _ts("verified_at"),
    Column("rework_count", SmallInteger, nullable=False, server_default=text("0")),
    _ts("rejected_at"), Column("reject_reason", Text, nullable=True),
    _ts("merged_at"),
    _ts("postponed_at"),
    Column("postpone_count", SmallInteger, nullable=False, server_default=text("0")),
    Column("postpone_reason", Text, nullable=True),
    _ts("postpone_requested_at"),
    Column("postpone_requested_by", Integer, ForeignKey("person.id"), nullable=True),
    _ts("postpone_requested_due_at"),
    Column("postpone_request_reason", Text, nullable=True),
    _ts("supervised_at"),
    Column("result_photo_ref", Text, nullable=True),
    Column("disposal_wh", Float, nullable=True),
    Column("evaluation_score", SmallInteger, nullable=True),
    Column("evaluation_comment", Text, nullable=True),
    _ts("evaluated_at"),
    extend_existing=True,
)

_case_event = Table(
    "case_event", Base.metadata,
    Column("grid_id", Integer, nullable=True),
    Column("handler_id", Integer, nullable=True),
    _ts("due_at"),
    Column("postponed", Boolean, nullable=False, server_default=text("false")),
    Column("disposal_wh", Float, nullable=True),
    extend_existing=True,
)


class CaseLifecycle(Base):
    """A case with its lifecycle columns (same table as ``db.models.Case``)."""
    __table__ = _cases
    __mapper_args__ = {"primary_key": [_cases.c.id]}

    if True:  # typed names of the columns added by 0002, for readers and type checkers
        handler_id: Mapped[int | None]
        time_limit_value: Mapped[Decimal | None]
        time_limit_unit: Mapped[str | None]
        deadline_from: Mapped[datetime | None]
        warn_at: Mapped[datetime | None]
        accepted_at: Mapped[datetime | None]
        verified_at: Mapped[datetime | None]
        rework_count: Mapped[int]
        rejected_at: Mapped[datetime | None]
        reject_reason: Mapped[str | None]
        merged_at: Mapped[datetime | None]
        postponed_at: Mapped[datetime | None]
        postpone_count: Mapped[int]
        postpone_reason: Mapped[str | None]
        postpone_requested_at: Mapped[datetime | None]
        postpone_requested_by: Mapped[int | None]
        postpone_requested_due_at: Mapped[datetime | None]
        postpone_request_reason: Mapped[str | None]
        supervised_at: Mapped[datetime | None]
        result_photo_ref: Mapped[str | None]
        disposal_wh: Mapped[float | None]
        evaluation_score: Mapped[int | None]
        evaluation_comment: Mapped[str | None]
        evaluated_at: Mapped[datetime | None]


class CaseEventState(Base):
    """A case event with the case's state after it (same table as ``db.models.CaseEvent``)."""
    __table__ = _case_event
    __mapper_args__ = {"primary_key": [_case_event.c.id]}

    if True:
        grid_id: Mapped[int | None]
        handler_id: Mapped[int | None]
        due_at: Mapped[datetime | None]
        postponed: Mapped[bool]
        disposal_wh: Mapped[float | None]


# Readers (and the schema test's ids) look for __tablename__ on every mapped class.
CaseLifecycle.__tablename__ = "cases"
CaseEventState.__tablename__ = "case_event"

__all__ = ["WorkingPeriod", "CalendarDay", "TimeLimitPolicy", "CaseStatDay", "CaseLifecycle", "CaseEventState"]
