"""The case lifecycle (closed loop, 闭环): plain Python over the database, no UI imports.

Modules (each docstring has the details):

- ``states``: status codes, levels, actions, labels (zh/en) and the transition table.
- ``service``: ``transition(...)`` — the one function that changes case status — and its named
  wrappers (register_case, dispatch_case, verify_case, …), ``report_case``, presence.
- ``permissions``: who may do what, by role and by the unit owning the case's level.
- ``errors``: IllegalTransition, PermissionDenied, Conflict, InvalidInput (messages zh/en).
- ``calendar`` / ``deadlines``: the working calendar (Asia/Shanghai, holidays and make-up days
  from the ``chinesecalendar`` package, editable tables) and deadlines on the working clock.
- ``queries``: the one definition of overdue and at risk, the queues, the case detail.
- ``indicators``: 考核 figures for any period by area, department or person, from the event log
  (daily roll-up kept by a database trigger); trend, ageing, KPI tiles.
- ``simulate``: plays raw reported cases forward into legal histories (sample and benchmark data);
  ``audit``: replays stored event logs against the rules.
- ``cli``: ``manage.py indicators | play-history | rebuild-stats``.
- ``actors``: the Actor every service call takes (``auth``/``auth_cli``, ``ui_service``,
  ``chart_data`` and ``export`` belong to the UI).

Running it:

    python manage.py migrate                         # includes 0002_lifecycle
    python manage.py indicators --from 2026-10-01 --to 2026-10-31 --by subdistrict
    python manage.py bench indicators --cases 1000000   # own database gridgov_bench_indicators
    GRIDGOV_TEST_DB=gridgov_test_b .venv/bin/python -m pytest tests/dispatch
"""
