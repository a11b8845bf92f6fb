"""The transition table and labels are complete and consistent (no database)."""
from __future__ import annotations

import pytest

from dispatch import states
from dispatch.errors import IllegalTransition, InvalidInput


def test_statuses_are_the_database_check_values():
    from importlib import import_module

    m = import_module("db.migrations.versions.0001_foundation")
    assert states.STATUSES == m.CASE_STATUSES
    assert states.LEVELS == m.LEVELS


@pytest.mark.parametrize("kind, table, codes", [
    ("status", states.STATUS_LABELS, states.STATUSES),
    ("level", states.LEVEL_LABELS, states.LEVELS),
    ("action", states.ACTION_LABELS, (states.REPORT, states.REGRID, *states.ACTIONS)),
])
def test_every_code_has_chinese_and_english_labels(kind, table, codes):
    assert set(table) == set(codes)
    for code in codes:
        assert table[code]["zh"] and table[code]["en"]
        assert states.label(kind, code, "en") == table[code]["en"]


def test_targets_and_sources_are_known_states():
    for action, move in states.TRANSITIONS.items():
        assert move.sources <= set(states.STATUSES), action
        assert move.target is None or move.target in states.STATUSES, action
        # an ended case is evaluated, and its reporter may still be answered (答复市民); nothing else
        assert not (move.sources & set(states.TERMINAL_STATUSES)) or action in ("evaluate", "reply"), action
        assert move.target is None or action != "reply", "a reply changes no state"


def test_every_state_is_reachable_from_reported():
    seen, todo = {"reported"}, ["reported"]
    while todo:
        s = todo.pop()
        for a in states.allowed_actions(s):
            t = states.target(a, s)
            if t not in seen:
                seen.add(t)
                todo.append(t)
    assert seen == set(states.STATUSES)


def test_terminal_states_allow_nothing_but_evaluation_of_closed_and_a_reply():
    assert states.allowed_actions("rejected") == ["reply"]
    assert states.allowed_actions("merged") == ["reply"]
    assert states.allowed_actions("closed") == ["reply", "evaluate"]


def test_actions_between():
    assert states.actions_between("awaiting_verification", "closed") == ["verify_pass"]
    assert states.actions_between("reported", "closed") == ["self_handle"]
    assert "escalate" in states.actions_between("disposing", "disposing")
    assert states.actions_between("closed", "reported") == []


def test_error_messages_in_both_languages():
    e = IllegalTransition(case_no="202610120000001", status="closed", action="dispatch", last=None)
    assert "202610120000001" in str(e) and "结案" in str(e) and "派遣" in str(e)
    en = e.message("en")
    assert "202610120000001" in en and "Closed" in en and "Dispatch" in en
    bad = InvalidInput("须填写理由", "A reason is needed")
    assert isinstance(bad, ValueError) and bad.message("en") == "A reason is needed" and str(bad) == "须填写理由"
