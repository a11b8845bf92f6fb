"""The case lifecycle (closed loop, 闭环): states, transitions, permissions, calendar, deadlines, queries.

Plain Python over the database, no UI imports. Modules (each docstring has the details):

- ``states``: status codes, levels, actions, labels (zh/en) and the transition table.
- ``service``: ``transition(conn, *, case_id, action, actor, …, **values)``, the one function that
  changes case status (each move's handler declares the values it takes); ``report_case``; presence.
- ``permissions``: who may do what, by role and by the unit owning the case's level.
- ``errors``: IllegalTransition, PermissionDenied, Conflict, InvalidInput (messages zh/en).
- ``calendar`` / ``deadlines``: the working calendar (Asia/Shanghai, holidays and make-up days
  from the ``chinesecalendar`` package, editable tables) and deadlines on the working clock.
- ``queries``: the one definition of overdue and at risk, the queues, the case detail.
- ``desk``: the dispatcher's desk: queues and the case panel as typed rows, shaped from the above.
"""
