"""Typed SQLAlchemy 2 models: the one description in Python of the schema the migrations build.

The migrations (``db/migrations``) create the tables, constraints, triggers and SQL functions;
these classes are how code names the tables and columns: simple reads and writes are
``select()`` / ``insert()`` / ``update()`` on them. ``tests/db/test_models.py`` checks that every
table and column of the migrated database is here with the same type, nullability and default.
Defaults live in the database (``server_default``), so a Core insert that leaves a column out
gets the same value as a SQL one. Domain terms: ``docs/domain.md``.
"""
from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (REAL, BigInteger, Boolean, Date, DateTime, Double, ForeignKey, Integer, LargeBinary, Numeric,
                        SmallInteger, Text, Time, text)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.config import STORAGE_SRID

TZ_TIME = DateTime(timezone=True)
NOW = text("now()")
FALSE = text("false")
TRUE = text("true")
ZERO = text("0")


def _geom(kind: str) -> Geometry:
    # the GiST indexes are made by the migrations, some partial: the models do not declare them
    return Geometry(kind, srid=STORAGE_SRID, spatial_index=False)


class Base(DeclarativeBase):
    pass


# --- the administrative hierarchy (区 → 街道 → 社区/行政村) -------------------------------------
class District(Base):
    """区."""
    __tablename__ = "district"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(_geom("MULTIPOLYGON"))


class Subdistrict(Base):
    """街道."""
    __tablename__ = "subdistrict"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"))
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    is_agricultural: Mapped[bool] = mapped_column(Boolean, server_default=FALSE)
    geom: Mapped[WKBElement | None] = mapped_column(_geom("MULTIPOLYGON"))


class Community(Base):
    """社区 / 行政村 (kind community | village)."""
    __tablename__ = "community"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subdistrict_id: Mapped[int] = mapped_column(ForeignKey("subdistrict.id"))
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, server_default=text("'community'"))
    geom: Mapped[WKBElement | None] = mapped_column(_geom("MULTIPOLYGON"))


class Department(Base):
    """职能部门."""
    __tablename__ = "department"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    name_en: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=TRUE)


class Person(Base):
    """A user or grid worker (网格员), with a role and the one unit it belongs to."""
    __tablename__ = "person"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    full_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    unit_level: Mapped[str] = mapped_column(Text)  # community | subdistrict | district | department
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"))
    subdistrict_id: Mapped[int | None] = mapped_column(ForeignKey("subdistrict.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    phone: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(Text)  # argon2id; NULL: cannot log in
    active: Mapped[bool] = mapped_column(Boolean, server_default=TRUE)
    created_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)
    # single sign-on identity linked by an administrator (migration 0004): issuer + subject
    sso_issuer: Mapped[str | None] = mapped_column(Text)
    sso_subject: Mapped[str | None] = mapped_column(Text)


# --- grids: responsibility grids and versioned unit grids --------------------------------------
class ResponsibilityGrid(Base):
    """责任单元格: unit grids looked after by the same grid worker(s)."""
    __tablename__ = "responsibility_grid"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)


class ResponsibilityGridWorker(Base):
    """Which grid worker looks after which responsibility grid."""
    __tablename__ = "responsibility_grid_worker"
    responsibility_grid_id: Mapped[int] = mapped_column(ForeignKey("responsibility_grid.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)


class UnitGrid(Base):
    """基本单元格: the stable identity of a unit grid; its boundary lives in GridVersion."""
    __tablename__ = "unit_grid"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    responsibility_grid_id: Mapped[int | None] = mapped_column(ForeignKey("responsibility_grid.id"))
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)
    retired_at: Mapped[datetime | None] = mapped_column(TZ_TIME)


class BoundaryChange(Base):
    """One published boundary edit (import, redraw), the reason new grid versions exist."""
    __tablename__ = "boundary_change"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, server_default=text("''"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)
    reason: Mapped[str] = mapped_column(Text, server_default=text("''"))
    warnings_reason: Mapped[str | None] = mapped_column(Text)
    effective_at: Mapped[datetime] = mapped_column(TZ_TIME)  # its versions start then (trigger: created_at)
    applied_at: Mapped[datetime | None] = mapped_column(TZ_TIME)  # NULL until the database applied it
    status: Mapped[str] = mapped_column(Text, server_default=text("'applied'"))  # scheduled | applied | cancelled
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("boundary_draft.id"))
    community_ids: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))  # what it touches (conflicts)
    rollback_of: Mapped[int | None] = mapped_column(ForeignKey("boundary_change.id"))
    result: Mapped[dict | None] = mapped_column(JSONB)  # counts, once applied


class BoundaryChangeResponsibility(Base):
    """A responsibility grid and its grid workers as a boundary change sets them."""
    __tablename__ = "boundary_change_responsibility"
    change_id: Mapped[int] = mapped_column(ForeignKey("boundary_change.id"), primary_key=True)
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    person_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'::integer[]"))


class BoundaryChangeGrid(Base):
    """A unit grid as a boundary change sets it (applied from here, also when scheduled)."""
    __tablename__ = "boundary_change_grid"
    change_id: Mapped[int] = mapped_column(ForeignKey("boundary_change.id"), primary_key=True)
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    responsibility_code: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(_geom("POLYGON"))
    retired: Mapped[bool] = mapped_column(Boolean, server_default=FALSE)


class GridVersion(Base):
    """One boundary of a unit grid, valid over [valid_from, valid_to); current when valid_to is NULL."""
    __tablename__ = "grid_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("unit_grid.id"))
    version_no: Mapped[int] = mapped_column(Integer)
    geom: Mapped[WKBElement] = mapped_column(_geom("POLYGON"))
    valid_from: Mapped[datetime] = mapped_column(TZ_TIME)
    valid_to: Mapped[datetime | None] = mapped_column(TZ_TIME)
    change_id: Mapped[int | None] = mapped_column(ForeignKey("boundary_change.id"))


class BoundaryDraft(Base):
    """A planner's named draft: a working copy of a scope's grids, live boundaries untouched."""
    __tablename__ = "boundary_draft"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, server_default=text("''"))
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"))
    scope_community_ids: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))  # NULL: whole district
    base_change_id: Mapped[int | None] = mapped_column(ForeignKey("boundary_change.id"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'open'"))  # open | published | abandoned
    created_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)


class BoundaryDraftResponsibility(Base):
    """A responsibility grid as the draft has it, with its grid workers."""
    __tablename__ = "boundary_draft_responsibility"
    draft_id: Mapped[int] = mapped_column(ForeignKey("boundary_draft.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    responsibility_grid_id: Mapped[int | None] = mapped_column(ForeignKey("responsibility_grid.id"))  # NULL: new
    person_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'::integer[]"))


class BoundaryDraftGrid(Base):
    """A unit grid as the draft has it (geometry edited here, not in grid_version)."""
    __tablename__ = "boundary_draft_grid"
    draft_id: Mapped[int] = mapped_column(ForeignKey("boundary_draft.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("unit_grid.id"))  # NULL: new in this draft
    name: Mapped[str] = mapped_column(Text)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    responsibility_code: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(_geom("POLYGON"))
    retired: Mapped[bool] = mapped_column(Boolean, server_default=FALSE)


class BoundaryDraftStep(Base):
    """One edit of a draft as asked, and the rows it changed as they were (undo)."""
    __tablename__ = "boundary_draft_step"
    draft_id: Mapped[int] = mapped_column(ForeignKey("boundary_draft.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    op: Mapped[dict] = mapped_column(JSONB)
    before: Mapped[dict] = mapped_column(JSONB)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)


class DraftReferenceLayer(Base):
    """A reference layer (roads, buildings, any file) a planner loaded under a draft's grids."""
    __tablename__ = "draft_reference_layer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("boundary_draft.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, server_default=text("''"))  # the file's own name
    crs: Mapped[str] = mapped_column(Text)  # the system the file was read in (converted to WGS-84)
    n_features: Mapped[int] = mapped_column(Integer)
    n_vertices: Mapped[int] = mapped_column(Integer)
    shown: Mapped[bool] = mapped_column(Boolean, server_default=TRUE)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)


class DraftReferenceFeature(Base):
    """One feature of a reference layer: any geometry in WGS-84, its attributes cut short."""
    __tablename__ = "draft_reference_feature"
    layer_id: Mapped[int] = mapped_column(ForeignKey("draft_reference_layer.id", ondelete="CASCADE"),
                                          primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    geom: Mapped[WKBElement] = mapped_column(_geom("GEOMETRY"))
    properties: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


# --- reference data: categories, working calendar, time limits ---------------------------------
class CaseCategory(Base):
    """Case category: 2-digit major + 2-digit minor code (docs/domain.md, categories)."""
    __tablename__ = "case_category"
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)  # event | component | social
    major_code: Mapped[str] = mapped_column(Text)
    major_name: Mapped[str] = mapped_column(Text)
    major_name_en: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    default_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    default_level: Mapped[str] = mapped_column(Text, server_default=text("'community'"))
    is_emergency: Mapped[bool] = mapped_column(Boolean, server_default=FALSE)


class WorkingPeriod(Base):
    """A working period of every working day (default 08:30–12:00 and 13:30–17:30)."""
    __tablename__ = "working_period"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
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
    unit: Mapped[str] = mapped_column(Text)  # working_hours | working_days
    note: Mapped[str | None] = mapped_column(Text)


# --- cases and their history -------------------------------------------------------------------
class Case(Base):
    """案件: one reported problem, carried around the closed loop.

    Status and the lifecycle columns change only through ``dispatch.service.transition``; the
    grid columns are set by the database (trigger ``cases_assign_grid``, docs/domain.md).
    Indexes are the migrations' (not declared here); the point has two partial GiST, open cases
    and ended ones, and none over every case (0018: ``db.statuses.terminal_sql``).
    """
    __tablename__ = "cases"
    # partitioned by month of reported_at (migration 0024): the key is part of the primary key;
    # id and case_no are unique through ``case_key``
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_no: Mapped[str] = mapped_column(Text, index=True)
    channel: Mapped[str] = mapped_column(Text)
    category_code: Mapped[str | None] = mapped_column(ForeignKey("case_category.code"))
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    address: Mapped[str | None] = mapped_column(Text)
    reporter_name: Mapped[str | None] = mapped_column(Text)
    reporter_phone: Mapped[str | None] = mapped_column(Text)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    photo_ref: Mapped[str | None] = mapped_column(Text)
    # exactly as received: coordinates and the coordinate system they were given in. All four
    # NULL while the case awaits location (待定位: an address only, migration 0011)
    received_x: Mapped[float | None] = mapped_column(Double)
    received_y: Mapped[float | None] = mapped_column(Double)
    received_crs: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement | None] = mapped_column(_geom("POINT"))
    # report-time stamp (never changes) and the grid responsible now
    reported_grid_version_id: Mapped[int | None] = mapped_column(ForeignKey("grid_version.id"))
    reported_grid_code: Mapped[str | None] = mapped_column(Text)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("unit_grid.id"))
    grid_code: Mapped[str | None] = mapped_column(Text)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"))
    subdistrict_id: Mapped[int | None] = mapped_column(ForeignKey("subdistrict.id"))
    outside_jurisdiction: Mapped[bool] = mapped_column(Boolean, server_default=FALSE)
    status: Mapped[str] = mapped_column(Text, server_default=text("'reported'"))
    level: Mapped[str | None] = mapped_column(Text)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    due_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    reported_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW, primary_key=True)
    registered_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    dispatched_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    feedback_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    closed_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    self_handled: Mapped[bool] = mapped_column(Boolean, server_default=FALSE)
    supervised: Mapped[bool] = mapped_column(Boolean, server_default=FALSE)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("case_key.id"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    updated_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)
    # lifecycle (migration 0002): handler, deadline, postponement, rework, evaluation
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    time_limit_value: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    time_limit_unit: Mapped[str | None] = mapped_column(Text)
    deadline_from: Mapped[datetime | None] = mapped_column(TZ_TIME)
    warn_at: Mapped[datetime | None] = mapped_column(TZ_TIME)  # from here less than a fifth is left
    accepted_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    accept_due_at: Mapped[datetime | None] = mapped_column(TZ_TIME)  # 接收 due by (migration 0035)
    verified_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    rework_count: Mapped[int] = mapped_column(SmallInteger, server_default=ZERO)
    rejected_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    merged_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    postponed_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    postpone_count: Mapped[int] = mapped_column(SmallInteger, server_default=ZERO)
    postpone_reason: Mapped[str | None] = mapped_column(Text)
    postpone_requested_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    postpone_requested_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    postpone_requested_due_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    postpone_request_reason: Mapped[str | None] = mapped_column(Text)
    supervised_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    chase_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))  # 催办 (migration 0032)
    last_chased_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    public_reply: Mapped[str | None] = mapped_column(Text)  # 答复市民 (migration 0034): the reporter's pages show it
    public_reply_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    result_photo_ref: Mapped[str | None] = mapped_column(Text)
    disposal_wh: Mapped[float | None] = mapped_column(REAL)  # working hours from dispatch to closure
    evaluation_score: Mapped[int | None] = mapped_column(SmallInteger)
    evaluation_comment: Mapped[str | None] = mapped_column(Text)
    evaluated_at: Mapped[datetime | None] = mapped_column(TZ_TIME)


class CaseKey(Base):
    """One row per case, kept by triggers on ``cases`` (migration 0024): what foreign keys to a
    case point at, and what keeps ``id`` and ``case_no`` unique across the month partitions."""
    __tablename__ = "case_key"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_no: Mapped[str] = mapped_column(Text, unique=True)
    reported_at: Mapped[datetime] = mapped_column(TZ_TIME)
    # when the case left the open set (closed, rejected or merged); None while open: which months
    # hold the open cases (db.partitions.live_months)
    ended_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    # the case's duplicate_of, kept with it: a case's duplicates are listed from here (one index),
    # where over cases they could lie in any month (dispatch.queries.case_detail)
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger)


class CaseDepartment(Base):
    """Lead (主办) or cooperating (协办) department of a case."""
    __tablename__ = "case_department"
    case_id: Mapped[int] = mapped_column(ForeignKey("case_key.id"), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), primary_key=True)
    role: Mapped[str] = mapped_column(Text)  # lead | assist


class CaseEvent(Base):
    """One step of a case's history; append-only (the database refuses updates and deletes).

    Besides what happened, each event carries the case's state *after* it (status, level, lead
    department, grid, handler, deadline, postponed), so the state before an event is the
    previous event's; the indicators are computed from these rows.
    """
    __tablename__ = "case_event"
    # partitioned by month of ``at`` (migration 0024)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_key.id"))
    at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    actor_role: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str | None] = mapped_column(Text)
    from_level: Mapped[str | None] = mapped_column(Text)
    to_level: Mapped[str | None] = mapped_column(Text)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    comment: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    data: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # the state after the event (migration 0002); snapshots, so no foreign keys
    grid_id: Mapped[int | None] = mapped_column(Integer)
    handler_id: Mapped[int | None] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    postponed: Mapped[bool] = mapped_column(Boolean, server_default=FALSE)
    disposal_wh: Mapped[float | None] = mapped_column(REAL)
    # the case's category and channel after the event (migration 0010), for filtered roll-ups
    category_code: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(Text)
    # the case had no position after the event (待定位, migration 0020): counted apart from 辖区外
    awaiting_location: Mapped[bool] = mapped_column(Boolean, server_default=FALSE)


class CasePresence(Base):
    """Who has a case open in the dispatch panel right now ("being handled by X")."""
    __tablename__ = "case_presence"
    case_id: Mapped[int] = mapped_column(ForeignKey("case_key.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)


class CaseStatDay(Base):
    """Daily indicator counters per grid / department / person, kept from case_event by a trigger."""
    __tablename__ = "case_stat_day"
    dim: Mapped[str] = mapped_column(Text, primary_key=True)  # grid | department | person
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: none / outside every grid
    reported: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    registered: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_np: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_on_time: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_lower: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_on_spot: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    disposal_wh: Mapped[float] = mapped_column(Double, server_default=ZERO)
    verified: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    reworked: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    open: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    overdue: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    overdue_np: Mapped[int] = mapped_column(Integer, server_default=ZERO)


class CaseStatCut(Base):
    """The same counters per day and per month, by community, lead department, category, level and
    channel (migration 0010): what filtered indicators and trends read."""
    __tablename__ = "case_stat_cut"
    grain: Mapped[str] = mapped_column(Text, primary_key=True)  # day | month
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the day, or the month's first day
    community_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: outside every grid
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: none
    category_code: Mapped[str] = mapped_column(Text, primary_key=True)  # '': none
    level: Mapped[str] = mapped_column(Text, primary_key=True)  # '': none
    channel: Mapped[str] = mapped_column(Text, primary_key=True)
    reported: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    registered: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_np: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_on_time: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_lower: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_on_spot: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    disposal_wh: Mapped[float] = mapped_column(Double, server_default=ZERO)
    verified: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    reworked: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    open: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    overdue: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    overdue_np: Mapped[int] = mapped_column(Integer, server_default=ZERO)


class CaseStatGroup(Base):
    """The same counters as ``case_stat_cut`` per day and per month by grid (``dim`` 'grid') and
    by person ('person') — migration 0021 — with the category, community, lead department, level
    and channel: what filtered tables by grid or person read."""
    __tablename__ = "case_stat_group"
    grain: Mapped[str] = mapped_column(Text, primary_key=True)  # day | month
    dim: Mapped[str] = mapped_column(Text, primary_key=True)  # grid | person
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the day, or the month's first day
    category_code: Mapped[str] = mapped_column(Text, primary_key=True)  # '': none
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: none / outside every grid; -1: 待定位
    community_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: outside every grid; -1: 待定位
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: none
    level: Mapped[str] = mapped_column(Text, primary_key=True)  # '': none
    channel: Mapped[str] = mapped_column(Text, primary_key=True)
    reported: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    registered: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_np: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_on_time: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_lower: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_on_spot: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    disposal_wh: Mapped[float] = mapped_column(Double, server_default=ZERO)
    verified: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    reworked: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    open: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    overdue: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    overdue_np: Mapped[int] = mapped_column(Integer, server_default=ZERO)


class CaseStatOne(Base):
    """The same counters per day and per month by grid, person or department (``dim``) under one
    filter (``filter`` the column: category_code, level, channel, department_id, or '' none;
    ``value`` its value as text) or, by grid or person, two (level+channel, level+department_id,
    channel+department_id; the values joined by '|'), with the community — migration 0025 — for every delta dated
    before ``CaseStatOneMark.folded_before`` (the days after it are read from ``case_stat_group`` /
    ``case_stat_cut``): what a table or trend under one filter reads."""
    __tablename__ = "case_stat_one"
    grain: Mapped[str] = mapped_column(Text, primary_key=True)  # day | month
    dim: Mapped[str] = mapped_column(Text, primary_key=True)  # grid | person | department
    filter: Mapped[str] = mapped_column(Text, primary_key=True)  # '' | category_code | level | channel | department_id | a pair
    value: Mapped[str] = mapped_column(Text, primary_key=True)  # '': none
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the day, or the month's first day
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: none / outside every grid; -1: 待定位
    community_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: outside every grid; -1: 待定位
    reported: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    registered: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_np: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_on_time: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_lower: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    closed_on_spot: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    disposal_wh: Mapped[float] = mapped_column(Double, server_default=ZERO)
    verified: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    reworked: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    open: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    overdue: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    overdue_np: Mapped[int] = mapped_column(Integer, server_default=ZERO)


class CaseStatOneMark(Base):
    """One row: ``case_stat_one`` holds every delta dated before ``folded_before`` and none after
    (moved on by the scheduled ``case_stat_one_fold_due``, migration 0025)."""
    __tablename__ = "case_stat_one_mark"
    one: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=TRUE)
    folded_before: Mapped[date] = mapped_column(Date)


# --- intake service (migration 0003; intake/) ----------------------------------------------------

class IntakeApiKey(Base):
    """An intake API key for one channel or integrator; only its sha256 is stored."""
    __tablename__ = "intake_api_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    key_sha256: Mapped[str] = mapped_column(Text, unique=True)
    key_prefix: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)
    revoked_at: Mapped[datetime | None] = mapped_column(TZ_TIME)


class IntakeRequest(Base):
    """What an Open311 client sent besides the case, and the reporter's private status token."""
    __tablename__ = "intake_request"
    case_id: Mapped[int] = mapped_column(ForeignKey("case_key.id", ondelete="CASCADE"), primary_key=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("intake_api_key.id"))
    status_token: Mapped[str] = mapped_column(Text, unique=True)
    attributes: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    email: Mapped[str | None] = mapped_column(Text)
    first_name: Mapped[str | None] = mapped_column(Text)
    last_name: Mapped[str | None] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(Text)
    account_id: Mapped[str | None] = mapped_column(Text)
    media_url: Mapped[str | None] = mapped_column(Text)
    photo_gps_lon: Mapped[float | None] = mapped_column(Double)
    photo_gps_lat: Mapped[float | None] = mapped_column(Double)
    received_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)


class IntakeIdempotency(Base):
    """An idempotency key of one API key: the body's hash and the first answer."""
    __tablename__ = "intake_idempotency"
    api_key_id: Mapped[int] = mapped_column(ForeignKey("intake_api_key.id", ondelete="CASCADE"), primary_key=True)
    idem_key: Mapped[str] = mapped_column(Text, primary_key=True)
    body_sha256: Mapped[str] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_key.id", ondelete="CASCADE"))
    response: Mapped[dict | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)


class IntakeRateBucket(Base):
    """A token bucket of the intake's rate limits (UNLOGGED; ``intake_take_token`` keeps it)."""
    __tablename__ = "intake_rate_bucket"
    who: Mapped[str] = mapped_column(Text, primary_key=True)
    tokens: Mapped[float] = mapped_column(Double)
    taken: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(TZ_TIME)


class CasePossibleDuplicate(Base):
    """疑似重复: an open same-category case near a new report, for a dispatcher to confirm or reject."""
    __tablename__ = "case_possible_duplicate"
    case_id: Mapped[int] = mapped_column(ForeignKey("case_key.id", ondelete="CASCADE"), primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("case_key.id", ondelete="CASCADE"), primary_key=True)
    distance_m: Mapped[float] = mapped_column(Double)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    found_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)
    decided_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))


class IntakeServiceAttribute(Base):
    """An attribute of an Open311 service definition (a case category)."""
    __tablename__ = "intake_service_attribute"
    service_code: Mapped[str] = mapped_column(Text, primary_key=True)  # a case_category code (no FK: see 0003)
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    datatype: Mapped[str] = mapped_column(Text)
    required: Mapped[bool] = mapped_column(Boolean, server_default=FALSE)
    order: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    description: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)
    values: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))


# --- accounts: failed sign-ins (migration 0004) --------------------------------------------------
class LoginFailure(Base):
    """One failed sign-in: the username typed, the person it named (if any), the client's address."""
    __tablename__ = "login_failure"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)
    username: Mapped[str] = mapped_column(Text)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    client_address: Mapped[str | None] = mapped_column(Text)


class WebSession(Base):
    """A sign-in that survives a reload (migration 0031; accounts/sessions.py): the token's SHA-256 only."""
    __tablename__ = "web_session"
    token_sha256: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)
    last_seen_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)
    revoked_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    client_address: Mapped[str | None] = mapped_column(Text)


# --- the reporter's way back (migration 0005; intake/public.py) ---------------------------------

class CaseSatisfaction(Base):
    """满意度: the reporter's one answer on a closed case, and a reopen request for a dispatcher."""
    __tablename__ = "case_satisfaction"
    case_id: Mapped[int] = mapped_column(ForeignKey("case_key.id", ondelete="CASCADE"), primary_key=True)
    rating: Mapped[str] = mapped_column(Text)  # satisfied | basically_satisfied | unsatisfied
    comment: Mapped[str] = mapped_column(Text, server_default=text("''"))
    answered_at: Mapped[datetime] = mapped_column(TZ_TIME, server_default=NOW)
    reopen_requested: Mapped[bool] = mapped_column(Boolean, server_default=FALSE)
    reopen_status: Mapped[str | None] = mapped_column(Text)  # pending | accepted | declined
    decided_at: Mapped[datetime | None] = mapped_column(TZ_TIME)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
