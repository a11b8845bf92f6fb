"""我的账号 — who is signed in, with which role and unit (every role has this page)."""
from __future__ import annotations

import streamlit as st

from i18n import role_label
from ui import kit

who = kit.require_page("account")
kit.css("theme")
st.title(kit.tr("account.heading"))
st.markdown(
    f"**{kit.tr('account.username')}**: {who.username}  \n"
    f"**{kit.tr('account.role')}**: {role_label(who.role, kit.lang())}  \n"
    f"**{kit.tr('account.unit')}**: {kit.tr('account.unit.' + who.unit_level)}")
