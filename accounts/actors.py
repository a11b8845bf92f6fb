"""Who is acting: a person with a role and the unit they belong to.

Every service call takes an ``Actor``; the service (not the UI) decides what the actor may do.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from db.models import Community, Person

ROLES = ("grid_worker", "department_staff", "dispatcher", "command_staff", "planner", "admin")


@dataclass(frozen=True)
class Actor:
    person_id: int
    username: str
    full_name: str
    role: str
    unit_level: str  # community | subdistrict | district | department
    community_id: int | None = None
    subdistrict_id: int | None = None
    department_id: int | None = None


class UnknownActor(LookupError):
    pass


def _actor_query():
    # a community-level person belongs to its community's subdistrict too
    return (select(Person.id, Person.username, Person.full_name, Person.role, Person.unit_level, Person.community_id,
                   func.coalesce(Person.subdistrict_id, Community.subdistrict_id).label("subdistrict_id"),
                   Person.department_id)
            .outerjoin(Community, Community.id == Person.community_id))


def _actor(row) -> Actor:
    return Actor(person_id=row.id, username=row.username, full_name=row.full_name, role=row.role,
                 unit_level=row.unit_level, community_id=row.community_id,
                 subdistrict_id=row.subdistrict_id, department_id=row.department_id)


def load_actor(conn: Connection, person_id: int) -> Actor:
    """The active person ``person_id`` as an Actor; raises UnknownActor otherwise."""
    row = conn.execute(_actor_query().where(Person.id == person_id, Person.active)).one_or_none()
    if row is None:
        raise UnknownActor(f"no active person with id {person_id}")
    return _actor(row)


def all_actors(conn: Connection) -> dict[int, Actor]:
    """Every person, active or not, as an Actor by person id (for replaying past events)."""
    return {row.id: _actor(row) for row in conn.execute(_actor_query())}
