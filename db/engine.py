"""Engines and sessions. One engine per URL per process."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.config import TIME_ZONE, database_url


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    return create_engine(
        url or database_url(),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"options": f"-c timezone={TIME_ZONE}", "application_name": "gridgov"},
    )


def session(url: str | None = None) -> Session:
    return sessionmaker(get_engine(url), expire_on_commit=False)()
