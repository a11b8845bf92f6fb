"""The intake service's settings, from the environment (read once when the app is made)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from db.config import photo_dir, tiles_path


def _num(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None          # None: db.config.database_url()
    photo_dir: Path = field(default_factory=photo_dir)
    max_photo_bytes: int = 12 * 1024 * 1024  # the upload as received
    max_photo_pixels: int = 50_000_000       # refuse decompression bombs before decoding
    photo_max_side: int = 2048
    photo_processes: int = 1                 # low-priority photo processes per server process; 0: in-thread
    # Token buckets (requests per second, burst). 0 switches a limit off.
    rate_per_key: float = 20.0
    burst_per_key: float = 60.0
    rate_per_address: float = 10.0
    burst_per_address: float = 30.0
    read_key_required: bool = False          # GET endpoints public unless set
    duplicate_radius_m: float = 50.0
    duplicate_days: int = 30
    tiles: Path | None = field(default_factory=tiles_path)  # GRIDGOV_TILES: the city's own base map
    # The database: pooled connections per server process, and how long a request may wait —
    # for a pooled connection (all busy: overloaded), for a new connection (an unreachable or hung
    # server), for a statement — before it is answered 503 with Retry-After instead of hanging.
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_wait_s: float = 5.0
    db_connect_timeout_s: int = 5
    statement_timeout_ms: int = 15000
    max_in_flight: int = 200                 # requests at once per server process, beyond: 503 at once; 0: no limit

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        env = {
            "photo_dir": Path(os.environ["INTAKE_PHOTO_DIR"]) if os.environ.get("INTAKE_PHOTO_DIR") else None,
            "max_photo_bytes": int(_num("INTAKE_MAX_PHOTO_MB", 12) * 1024 * 1024),
            "rate_per_key": _num("INTAKE_RATE_PER_KEY", cls.rate_per_key),
            "burst_per_key": _num("INTAKE_BURST_PER_KEY", cls.burst_per_key),
            "rate_per_address": _num("INTAKE_RATE_PER_ADDRESS", cls.rate_per_address),
            "burst_per_address": _num("INTAKE_BURST_PER_ADDRESS", cls.burst_per_address),
            "photo_processes": int(_num("INTAKE_PHOTO_PROCESSES", cls.photo_processes)),
            "read_key_required": os.environ.get("INTAKE_READ_KEY_REQUIRED", "") in ("1", "true", "yes"),
            "database_url": os.environ.get("INTAKE_DATABASE_URL") or None,
            "db_pool_size": int(_num("INTAKE_DB_POOL_SIZE", cls.db_pool_size)),
            "db_max_overflow": int(_num("INTAKE_DB_MAX_OVERFLOW", cls.db_max_overflow)),
            "db_pool_wait_s": _num("INTAKE_DB_POOL_WAIT_S", cls.db_pool_wait_s),
            "db_connect_timeout_s": max(1, int(_num("INTAKE_DB_CONNECT_TIMEOUT_S", cls.db_connect_timeout_s))),
            "statement_timeout_ms": int(_num("INTAKE_STATEMENT_TIMEOUT_MS", cls.statement_timeout_ms)),
            "max_in_flight": int(_num("INTAKE_MAX_IN_FLIGHT", cls.max_in_flight)),
        }
        env = {k: v for k, v in env.items() if v is not None}
        env.update(overrides)
        return cls(**env)
