"""The sample district in the test database, loaded once and committed.

``sample_loaded`` is session-scoped: it loads the sample district (with its default 4,011-case
history) if no district 211103 exists yet, and leaves it there for later sessions; every test
still runs in its own rolled-back transaction on top of it. Returns the generated district.
"""
from __future__ import annotations

import pytest

from sample_data.generate import SampleDistrict, generate


@pytest.fixture(scope="session")
def sample_loaded(engine) -> SampleDistrict:
    from sample_data.load import SampleDataPresent, load_sample, sample_loaded as present

    with engine.connect() as conn:
        loaded = present(conn)
    if not loaded:
        try:
            with engine.begin() as conn:
                load_sample(conn)
        except SampleDataPresent:
            pass  # loaded meanwhile by a parallel session
    return generate()
