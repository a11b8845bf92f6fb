"""Grid governance command dashboard: the only frame (page config and navigation)."""
import streamlit as st

st.set_page_config(page_title="网格化管理指挥平台", page_icon="🗺️", layout="wide")
nav = st.navigation([st.Page("pages/wall.py", title="指挥大屏", icon="🗺️", default=True)])
nav.run()
