"""The case panel's action buttons (``ui.case_panel.action_bar``) in an AppTest."""
from __future__ import annotations


def action_buttons(at, key: str) -> dict:
    """{action: its button} of the panel's action bar keyed ``key`` (``"<scope>-act-<case id>"``)."""
    prefix = f"{key}-do-"
    return {b.key[len(prefix):]: b for b in at.button if b.key and b.key.startswith(prefix)}


def choose(at, key: str, action: str):
    """Click ``action``'s button (its form opens) and run the page."""
    action_buttons(at, key)[action].click()
    return at.run()
