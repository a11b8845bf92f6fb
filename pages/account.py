"""我的账号 — who is signed in, with which role and unit (every role has this page)."""
from __future__ import annotations

import streamlit as st

from i18n import role_label
from pages import ui

who = ui.require_page("account")
ui.css("theme")
st.title(ui.tr("account.heading"))
st.markdown(
    f"**{ui.tr('account.username')}**: {who.username}  \n"
    f"**{ui.tr('account.role')}**: {role_label(who.role, ui.lang())}  \n"
    f"**{ui.tr('account.unit')}**: {ui.tr('account.unit.' + who.unit_level)}")
