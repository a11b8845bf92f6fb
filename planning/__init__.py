"""The planner's workspace (网格规划): drafts, validation, impact preview, publish, history.

Plain Python (no Streamlit): the planner page and the command line call the same functions.
"""
