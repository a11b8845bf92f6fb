"""Faults injected on this machine only: a scratch database on the local test cluster.

Committed rows are needed (a restart or a killed process must find them), and case events
cannot be deleted, so the module works in ``<test db>_faults``, created, migrated and dropped here.
"""
from __future__ import annotations

import os

import pytest

from tests.factories import scratch_database


@pytest.fixture(scope="module")
def scratch_url():
    with scratch_database("faults") as scratch:
        yield scratch


def local_cluster_only():
    if os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("restarts the project's own local cluster only, never an external server")
