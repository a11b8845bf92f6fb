"""Publish and history commands for ``manage.py`` (the planner page calls the same functions).

    python manage.py draft-impact ID
    python manage.py draft-publish ID --reason TEXT [--at ISO] [--warnings-reason TEXT] [--as USERNAME]
    python manage.py boundary-history
    python manage.py boundary-compare A B
    python manage.py boundary-export --change N --out FILE.gpkg [--district CODE]
    python manage.py boundary-rollback N --reason TEXT [--as USERNAME]
    python manage.py boundary-apply-due          (what pg_cron or the app's timer run each minute)

Each takes ``--test`` to act on the test database. Errors are one line on stderr, exit 1.
"""
from __future__ import annotations

import sys
from datetime import datetime

from sqlalchemy import text

from db.engine import command_engine


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 1


def _actor(conn, username: str | None) -> int | None:
    if username is None:
        return None
    pid = conn.execute(text("SELECT id FROM person WHERE username = :u AND active"), {"u": username}).scalar()
    if pid is None:
        raise LookupError(f"--as {username}: no active person with that username")
    return pid


def _guard(fn):
    """One-line errors for what a user can get wrong; anything else is a bug and shows as one."""
    def run(args) -> int:
        from planning.publish import PublishConflict, PublishRefused

        try:
            return fn(args)
        except (PublishRefused, PublishConflict) as e:
            warned = isinstance(e, PublishRefused) and e.findings and all(f.severity == "warning" for f in e.findings)
            return _fail(e.message_en + (" (give it with --warnings-reason)" if warned else ""))
        except (LookupError, ValueError) as e:
            return _fail(str(e))
    run.__doc__ = fn.__doc__
    return run


@_guard
def cmd_draft_impact(args) -> int:
    from planning.impact import impact

    with command_engine(args.test).connect() as conn:
        if conn.execute(text("SELECT 1 FROM boundary_draft WHERE id = :d"), {"d": args.id}).scalar() is None:
            raise LookupError(f"draft {args.id} does not exist")
        imp = impact(conn, args.id)
    print(f"open cases that would change grid or community: {imp.cases_moved}")
    for g in imp.per_grid:
        print(f"  grid {g['code']}: {g['moved_out']} out, {g['moved_in']} in")
    for m in imp.moves:
        what = [k for k, v in (("grid", m.grid_changes), ("community", m.community_changes),
                               ("subdistrict", m.subdistrict_changes), ("worker", m.worker_changes)) if v]
        print(f"  case {m.case_no}: {m.old_grid} → {m.new_grid} ({', '.join(what)})")
    print(f"workload per grid worker, last 90 days of cases (before → after), {len(imp.workload)} worker(s):")
    for w in imp.workload:
        print(f"  {w.name}: {w.before} → {w.after}")
    fmt = lambda b: "-" if b is None else f"{b:.2f}"  # noqa: E731
    print(f"balance (max/mean): {fmt(imp.balance_before)} → {fmt(imp.balance_after)}")
    return 0


@_guard
def cmd_draft_publish(args) -> int:
    from planning.publish import publish

    at = None
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            raise ValueError(f"--at {args.at}: not an ISO time (e.g. 2027-01-01T00:00+08:00)") from None
    with command_engine(args.test).begin() as conn:
        res = publish(conn, args.id, actor_id=_actor(conn, args.as_user), reason=args.reason, effective_at=at,
                      warnings_reason=args.warnings_reason)
    if res.status == "scheduled":
        print(f"boundary change #{res.change_id} scheduled for {res.effective_at.isoformat()}; the database "
              "applies it then (apply_due_boundary_changes)")
    else:
        _print_result(res)
    return 0


def _print_result(res) -> None:
    print(f"boundary change #{res.change_id} applied: {res.versions_added} new version(s), {res.grids_added} new "
          f"grid(s), {res.grids_retired} retired, {res.grids_unchanged} unchanged (no new version); "
          f"open cases moved: {res.cases_moved}")


@_guard
def cmd_boundary_history(args) -> int:
    from planning.history import list_changes

    with command_engine(args.test).connect() as conn:
        rows = list_changes(conn)
    for c in rows:
        by = c.by or "-"
        extra = f" rollback of #{c.rollback_of}" if c.rollback_of else ""
        print(f"#{c.id} {c.status:9} {c.effective_at.isoformat(timespec='seconds')} {c.kind:8} "
              f"{c.versions:5} version(s) by {by}: {c.reason or c.note}{extra}")
    return 0


@_guard
def cmd_boundary_compare(args) -> int:
    from planning.history import compare

    with command_engine(args.test).connect() as conn:
        diff = compare(conn, args.a, args.b)
    for r in diff["table"]:
        print(f"{r['change']:8} {r['code']} {r['name']}  area m² {r['area_a_m2']} → {r['area_b_m2']}")
    n = {k: len(diff[k]["features"]) for k in ("added", "removed", "changed")}
    print(f"{n['added']} added, {n['removed']} removed, {n['changed']} changed from #{args.a} to #{args.b}")
    return 0


@_guard
def cmd_boundary_export(args) -> int:
    from planning.history import export_version

    with command_engine(args.test).connect() as conn:
        n = export_version(conn, args.out, change_id=args.change, district_code=args.district)
    print(f"wrote {n} unit grid(s) as of change #{args.change} to {args.out} (GeoPackage, layer unit_grid, WGS-84)")
    return 0


@_guard
def cmd_boundary_rollback(args) -> int:
    from planning.history import rollback

    with command_engine(args.test).begin() as conn:
        res = rollback(conn, args.change, actor_id=_actor(conn, args.as_user), reason=args.reason)
    _print_result(res)
    return 0


@_guard
def cmd_boundary_apply_due(args) -> int:
    from planning.publish import apply_due

    with command_engine(args.test).begin() as conn:
        n = apply_due(conn)
    print(f"scheduled boundary changes applied: {n}")
    return 0


def register_commands(register) -> None:
    def test_flag(p):
        p.add_argument("--test", action="store_true", help="act on the test database")

    def as_user(p):
        p.add_argument("--as", dest="as_user", metavar="USERNAME", help="the planner who acts (recorded)")

    def conf_impact(p):
        p.add_argument("id", type=int, help="draft id")
        test_flag(p)

    def conf_publish(p):
        p.add_argument("id", type=int, help="draft id")
        p.add_argument("--reason", required=True, help="why the boundaries change (recorded)")
        p.add_argument("--at", help="effective time, ISO with zone (e.g. 2027-01-01T00:00+08:00); default now")
        p.add_argument("--warnings-reason", help="why the draft's warnings are kept (needed when it has any)")
        as_user(p)
        test_flag(p)

    def conf_compare(p):
        p.add_argument("a", type=int, help="boundary change id")
        p.add_argument("b", type=int, help="boundary change id")
        test_flag(p)

    def conf_export(p):
        p.add_argument("--change", type=int, required=True, help="the version as of this boundary change")
        p.add_argument("--out", required=True, help="output FILE.gpkg")
        p.add_argument("--district", help="only this district code")
        test_flag(p)

    def conf_rollback(p):
        p.add_argument("change", type=int, help="publish the boundaries as of this change again")
        p.add_argument("--reason", required=True, help="why (recorded)")
        as_user(p)
        test_flag(p)

    register("draft-impact", cmd_draft_impact, "what publishing a draft would move (cases, workload)", conf_impact)
    register("draft-publish", cmd_draft_publish, "publish a draft now or at --at (one transaction)", conf_publish)
    register("boundary-history", cmd_boundary_history, "list the boundary changes, newest first", test_flag)
    register("boundary-compare", cmd_boundary_compare, "grids added, removed and changed between two changes",
             conf_compare)
    register("boundary-export", cmd_boundary_export, "export the grids as of a change as GeoPackage", conf_export)
    register("boundary-rollback", cmd_boundary_rollback, "publish the boundaries as of a change again", conf_rollback)
    register("boundary-apply-due", cmd_boundary_apply_due, "apply the scheduled boundary changes that are due",
             test_flag)
