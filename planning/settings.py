"""The planner's thresholds, in one place (metres and square metres on the ground).

Draft geometry is WGS-84 degrees; ``m_per_deg`` converts at the place's latitude, which is
exact enough for the small distances here (a grid is a few hundred metres across).
"""
from __future__ import annotations

import math

# A vertex the planner drags ("from") picks every draft vertex within this distance, and a drawn
# vertex ("to", a new grid's corners) snaps to an existing vertex within it: shared edges stay shared.
SNAP_TOLERANCE_M = 0.5
# A grid smaller than this is a sliver (a leftover of drawing), a warning.
SLIVER_MAX_M2 = 50.0
# Overlaps and gaps smaller than this are floating-point noise of the overlay, not a planner's.
OVERLAP_MIN_M2 = 0.01
GAP_MIN_M2 = 0.01
# A grid may stick out of its community's current outline by this much before it is reported.
OUTSIDE_PARENT_M = 1.0

M_PER_DEG_LAT = 110574.0
M_PER_DEG_LON_EQUATOR = 111320.0


def m_per_deg(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at ``lat``."""
    return M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat)), M_PER_DEG_LAT


def m2_per_deg2(lat: float) -> float:
    mx, my = m_per_deg(lat)
    return mx * my


def deg(metres: float, lat: float) -> float:
    """A distance in degrees that is at least ``metres`` in every direction at ``lat``."""
    mx, my = m_per_deg(lat)
    return metres / min(mx, my)
