"""``manage.py indicators`` prints the table; the command is registered with manage.py."""
from __future__ import annotations

import manage


def test_indicators_command_prints_a_table(capsys):
    rc = manage.main(["indicators", "--from", "2026-10-01", "--to", "2026-10-31", "--by", "subdistrict", "--test"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "2026-10-01 – 2026-10-31" in out and "结案率" in out and "按期结案率" in out and "合计" in out


def test_indicators_command_in_english_and_csv(capsys):
    assert manage.main(["indicators", "--from", "2026-10-01", "--to", "2026-10-31", "--by", "department",
                        "--lang", "en", "--test"]) == 0
    assert "On-time closure rate" in capsys.readouterr().out
    assert manage.main(["indicators", "--from", "2026-10-01", "--to", "2026-10-31", "--csv", "--test"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("id,code,name,registered,closed,due")


def test_bad_period_is_an_error_not_a_crash(capsys):
    assert manage.main(["indicators", "--from", "2026-10-31", "--to", "2026-10-01", "--test"]) == 2
    assert "before" in capsys.readouterr().err
