"""The publish and history commands through manage.py: one-line errors, nothing written."""
from __future__ import annotations

import pytest

import manage


@pytest.mark.parametrize("argv, message", [
    (["draft-publish", "987654321", "--reason", "x"], "error: draft 987654321 does not exist\n"),
    (["draft-impact", "987654321"], "error: draft 987654321 does not exist\n"),
    (["draft-publish", "987654321", "--reason", "x", "--at", "next month"], "error: --at next month: not an ISO"),
    (["draft-publish", "1", "--reason", "x", "--as", "nobody_here"], "error: --as nobody_here: no active person"),
    (["boundary-export", "--change", "987654321", "--out", "/tmp/x.gpkg"],
     "error: boundary change #987654321 does not exist\n"),
    (["boundary-compare", "987654321", "1"], "error: boundary change #987654321 does not exist\n"),
    (["boundary-rollback", "987654321", "--reason", "x"], "error: boundary change #987654321 does not exist\n"),
])
def test_bad_input_is_one_line_naming_it(argv, message, capsys):
    assert manage.main([*argv, "--test"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_apply_due_and_history_run(capsys):
    assert manage.main(["boundary-apply-due", "--test"]) == 0
    assert capsys.readouterr().out.startswith("scheduled boundary changes applied: ")
    assert manage.main(["boundary-history", "--test"]) == 0
