"""The sample (nine accounts, admin among them) goes only where it belongs: the project's own
cluster, or a shared database when asked, and never next to real data; its password is this
install's own, in a file nobody else can read."""
from __future__ import annotations

import os
import stat
import threading

import pytest
from sqlalchemy import create_engine, text

import manage
from db.secret_file import create_secret, write_secret
from sample_data.accounts import sample_password
from sample_data.load import RealDataPresent, load_sample, real_data
from tests.ui.district import build_district
from tests.factories import scratch_database


def test_the_sample_password_is_generated_once_and_kept_0600(tmp_path):
    path = tmp_path / "var" / "sample-password"
    old = os.umask(0)  # a permissive umask must not leak into a secret
    try:
        pw = sample_password(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(pw) >= 16 and pw != "gridgov-sample"
    assert sample_password(path) == pw                        # read back, not made again
    assert sample_password(tmp_path / "other") != pw          # each install its own
    assert list(path.parent.iterdir()) == [path]              # no temporary file left behind


def test_racing_creators_agree_on_one_secret(tmp_path):
    path, got = tmp_path / "s", []
    threads = [threading.Thread(target=lambda i=i: got.append(create_secret(path, f"value-{i}"))) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(got)) == 1 and path.read_text().strip() == got[0]


def test_a_rewritten_secret_is_never_readable_by_others(tmp_path):
    path = tmp_path / "pg-password"
    path.write_text("old\n")
    path.chmod(0o644)
    write_secret(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "new\n"


@pytest.fixture(scope="module")
def shared_db():
    """A scratch database on the test server standing in for a shared one (``DATABASE_URL``)."""
    with scratch_database("shared") as scratch:
        eng = create_engine(scratch)
        try:
            yield scratch, eng
        finally:
            eng.dispose()


def _districts(eng) -> list[str]:
    with eng.connect() as c:
        return c.execute(text("SELECT code FROM district ORDER BY code")).scalars().all()


def test_load_sample_into_a_database_url_needs_to_be_asked(shared_db, monkeypatch, capsys):
    url, eng = shared_db
    monkeypatch.setenv("DATABASE_URL", url)
    assert manage.main(["load-sample", "--cases", "0"]) == 1
    assert manage.main(["load-sample", "--cases", "0", "--if-empty"]) == 1   # `make run` does not ask
    err = capsys.readouterr().err
    assert "DATABASE_URL" in err and "--into-shared-database" in err
    monkeypatch.setenv("TEST_DATABASE_URL", url)
    assert manage.main(["load-sample", "--test", "--cases", "0"]) == 1
    assert "TEST_DATABASE_URL" in capsys.readouterr().err
    assert _districts(eng) == []


def test_grids_or_cases_without_the_sample_are_real_data_too(shared_db):
    _, eng = shared_db
    with eng.connect() as c:
        assert real_data(c) is None
        c.execute(text("INSERT INTO cases(channel, description, received_x, received_y, received_crs, geom) "
                       "VALUES ('hotline', 'x', 1, 1, 'EPSG:4326', ST_SetSRID(ST_MakePoint(1, 1), 4326))"))
        assert real_data(c) == "1 cases"
        c.rollback()


def test_a_database_with_a_real_district_never_gets_the_sample(shared_db, monkeypatch, capsys):
    url, eng = shared_db
    with eng.begin() as c:  # committed; it goes with the scratch database (so this test comes last)
        build_district(c, code="210102", g_grid=(1, 1), cm_grid=(1, 1))
    monkeypatch.setenv("DATABASE_URL", url)
    assert manage.main(["load-sample", "--into-shared-database", "--cases", "0"]) == 1
    assert "not the sample's (district 210102" in capsys.readouterr().err
    # `make run` on a real install: nothing loaded, nothing failed
    assert manage.main(["load-sample", "--into-shared-database", "--if-empty"]) == 0
    assert "the sample is not loaded" in capsys.readouterr().out
    with eng.connect() as c:
        assert real_data(c).startswith("district 210102")
        with pytest.raises(RealDataPresent, match="never loaded next to real data"):
            load_sample(c, cases=0)
    assert _districts(eng) == ["210102"]


