"""Typed SQLAlchemy 2 models of the schema created by the migrations (db/migrations).

The migrations are the source of truth for constraints and triggers; these classes are how
Python code reads and writes the tables. ``tests/db/test_models.py`` checks that the two agree.
"""
from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326


class Base(DeclarativeBase):
    pass


class District(Base):
    """区."""
    __tablename__ = "district"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False)


class Subdistrict(Base):
    """街道."""
    __tablename__ = "subdistrict"
    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"))
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    is_agricultural: Mapped[bool] = mapped_column(Boolean, default=False)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False))


class Community(Base):
    """社区 / 行政村."""
    __tablename__ = "community"
    id: Mapped[int] = mapped_column(primary_key=True)
    subdistrict_id: Mapped[int] = mapped_column(ForeignKey("subdistrict.id"))
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, default="community")
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False))


class Department(Base):
    """职能部门."""
    __tablename__ = "department"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    name_en: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Person(Base):
    """A user or grid worker (网格员), with a role and the unit it belongs to."""
    __tablename__ = "person"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    full_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    unit_level: Mapped[str] = mapped_column(Text)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"))
    subdistrict_id: Mapped[int | None] = mapped_column(ForeignKey("subdistrict.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    phone: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ResponsibilityGrid(Base):
    """责任单元格: unit grids looked after by the same grid worker(s)."""
    __tablename__ = "responsibility_grid"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)


class ResponsibilityGridWorker(Base):
    __tablename__ = "responsibility_grid_worker"
    responsibility_grid_id: Mapped[int] = mapped_column(ForeignKey("responsibility_grid.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)


class UnitGrid(Base):
    """基本单元格: stable identity of a unit grid; geometry lives in GridVersion."""
    __tablename__ = "unit_grid"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    responsibility_grid_id: Mapped[int | None] = mapped_column(ForeignKey("responsibility_grid.id"))
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BoundaryChange(Base):
    __tablename__ = "boundary_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GridVersion(Base):
    """One boundary of a unit grid, valid over [valid_from, valid_to)."""
    __tablename__ = "grid_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("unit_grid.id"))
    version_no: Mapped[int] = mapped_column(Integer)
    geom = mapped_column(Geometry("POLYGON", srid=SRID, spatial_index=False), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    change_id: Mapped[int | None] = mapped_column(ForeignKey("boundary_change.id"))


class CaseCategory(Base):
    """Case category: 2-digit major + 2-digit minor code (CJ/T 214 style)."""
    __tablename__ = "case_category"
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    major_code: Mapped[str] = mapped_column(Text)
    major_name: Mapped[str] = mapped_column(Text)
    major_name_en: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    default_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    default_level: Mapped[str] = mapped_column(Text, default="community")
    is_emergency: Mapped[bool] = mapped_column(Boolean, default=False)


class Case(Base):
    """案件: one reported problem, carried around the closed loop."""
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_no: Mapped[str] = mapped_column(Text, unique=True)
    channel: Mapped[str] = mapped_column(Text)
    category_code: Mapped[str | None] = mapped_column(ForeignKey("case_category.code"))
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(Text)
    reporter_name: Mapped[str | None] = mapped_column(Text)
    reporter_phone: Mapped[str | None] = mapped_column(Text)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    photo_ref: Mapped[str | None] = mapped_column(Text)
    received_x: Mapped[float] = mapped_column(Float)
    received_y: Mapped[float] = mapped_column(Float)
    received_crs: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)
    reported_grid_version_id: Mapped[int | None] = mapped_column(ForeignKey("grid_version.id"))
    reported_grid_code: Mapped[str | None] = mapped_column(Text)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("unit_grid.id"))
    grid_code: Mapped[str | None] = mapped_column(Text)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"))
    subdistrict_id: Mapped[int | None] = mapped_column(ForeignKey("subdistrict.id"))
    outside_jurisdiction: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(Text, default="reported")
    level: Mapped[str | None] = mapped_column(Text)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    self_handled: Mapped[bool] = mapped_column(Boolean, default=False)
    supervised: Mapped[bool] = mapped_column(Boolean, default=False)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseDepartment(Base):
    """Lead (主办) or cooperating (协办) department of a case."""
    __tablename__ = "case_department"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), primary_key=True)
    role: Mapped[str] = mapped_column(Text)


class CaseEvent(Base):
    """One step of a case's history; append-only (the database refuses updates and deletes)."""
    __tablename__ = "case_event"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    actor_role: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str | None] = mapped_column(Text)
    from_level: Mapped[str | None] = mapped_column(Text)
    to_level: Mapped[str | None] = mapped_column(Text)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    comment: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list] = mapped_column(JSONB, default=list)
    data: Mapped[dict] = mapped_column(JSONB, default=dict)


class CasePresence(Base):
    """Who has a case open in the dispatch panel right now ("being handled by X")."""
    __tablename__ = "case_presence"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- intake service (migration 0003; intake/) ----------------------------------------------------

class IntakeApiKey(Base):
    """An intake API key for one channel or integrator; only its sha256 is stored."""
    __tablename__ = "intake_api_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    key_sha256: Mapped[str] = mapped_column(Text, unique=True)
    key_prefix: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IntakeRequest(Base):
    """What an Open311 client sent besides the case, and the reporter's private status token."""
    __tablename__ = "intake_request"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("intake_api_key.id"))
    status_token: Mapped[str] = mapped_column(Text, unique=True)
    attributes: Mapped[dict] = mapped_column(JSONB, default=dict)
    email: Mapped[str | None] = mapped_column(Text)
    first_name: Mapped[str | None] = mapped_column(Text)
    last_name: Mapped[str | None] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(Text)
    account_id: Mapped[str | None] = mapped_column(Text)
    media_url: Mapped[str | None] = mapped_column(Text)
    photo_gps_lon: Mapped[float | None] = mapped_column(Float)
    photo_gps_lat: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IntakeIdempotency(Base):
    """An idempotency key of one API key: the body's hash and the first answer."""
    __tablename__ = "intake_idempotency"
    api_key_id: Mapped[int] = mapped_column(ForeignKey("intake_api_key.id", ondelete="CASCADE"), primary_key=True)
    idem_key: Mapped[str] = mapped_column(Text, primary_key=True)
    body_sha256: Mapped[str] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    response: Mapped[dict | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CasePossibleDuplicate(Base):
    """疑似重复: an open same-category case near a new report, for a dispatcher to confirm or reject."""
    __tablename__ = "case_possible_duplicate"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    distance_m: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(Text, default="pending")
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))


class IntakeServiceAttribute(Base):
    """An attribute of an Open311 service definition (a case category)."""
    __tablename__ = "intake_service_attribute"
    service_code: Mapped[str] = mapped_column(Text, primary_key=True)  # a case_category code (no FK: see 0003)
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    datatype: Mapped[str] = mapped_column(Text)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    order: Mapped[int] = mapped_column(Integer, default=1)
    description: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)
    values: Mapped[list] = mapped_column(JSONB, default=list)
