"""The intake service: Open311 GeoReport v2 (with this project's extensions) over FastAPI.

Reports from phones, the hotline, WeChat and the website come in here and are written through
the lifecycle (``dispatch.service.report_case``); the database puts each case in its grid and
wakes the walls. See docs/intake.md.
"""
