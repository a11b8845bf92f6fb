"""Draft commands for ``manage.py`` (the planner's workspace on the command line).

    python manage.py draft-create --name NAME [--reason TEXT] [--district CODE] [--community CODE ...] [--as USER]
    python manage.py draft-list [--all]
    python manage.py draft-edit ID --op JSON [--as USER]
    python manage.py draft-undo ID [--as USER]
    python manage.py draft-validate ID
    python manage.py draft-abandon ID [--as USER]

Each takes ``--test`` (the test database) and ``--lang zh|en`` (messages; default en). A user's
mistake (a bad op, a draft that does not exist) is one line on stderr and exit 1, never a traceback.
"""
from __future__ import annotations

import json
import sys

from db.engine import command_engine


def _actor(conn, username: str | None) -> int | None:
    from sqlalchemy import text

    from planning.errors import EditError

    if username is None:
        return None
    pid = conn.execute(text("SELECT id FROM person WHERE username = :u AND active"), {"u": username}).scalar()
    if pid is None:
        raise EditError(f"没有启用的用户 {username}", f"no active user {username!r} (--as)")
    return pid


def _run(args, fn) -> int:
    """Run ``fn(conn)`` in one transaction; an EditError is a one-line message and exit 1."""
    from planning.errors import EditError

    try:
        with command_engine(args.test).begin() as conn:
            return fn(conn) or 0
    except EditError as e:
        print(f"error: {e.message(args.lang)}", file=sys.stderr)
        return 1


def _print_problems(problems, lang: str) -> None:
    if not problems:
        print("no problems" if lang == "en" else "未发现问题")
    for p in problems:
        where = ",".join(p.codes)
        print(f"{p.severity} {p.kind}{' ' + where if where else ''}: {p.message(lang)}")


def _print_result(res, lang: str) -> None:
    if res.changed:
        print(f"grids written: {', '.join(res.changed)}")
    if res.responsibilities_changed:
        print(f"responsibility grids written: {', '.join(res.responsibilities_changed)}")
    _print_problems(res.problems, lang)


def cmd_create(args) -> int:
    from planning.drafts import create_draft

    def go(conn):
        did = create_draft(conn, name=args.name, reason=args.reason, actor_id=_actor(conn, args.actor),
                           district_code=args.district, community_codes=args.community or None)
        print(f"draft {did} created")
    return _run(args, go)


def cmd_list(args) -> int:
    from planning.drafts import list_drafts

    def go(conn):
        rows = list_drafts(conn, status=None if args.all else "open")
        if not rows:
            print("no drafts")
        for d in rows:
            print(f"{d.id}\t{d.status}\t{d.name}\t{d.created_by or '-'}\t{d.updated_at:%Y-%m-%d %H:%M}\t"
                  f"{d.n_grids} grids\t{d.n_steps} steps\t{d.n_errors} errors\t{d.reason}")
    return _run(args, go)


def cmd_edit(args) -> int:
    from planning.drafts import apply_edit
    from planning.errors import EditError

    def go(conn):
        try:
            op = json.loads(args.op)
        except json.JSONDecodeError as e:
            raise EditError(f"--op 不是有效的 JSON：{e}", f"--op is not valid JSON: {e}") from None
        res = apply_edit(conn, args.id, op, actor_id=_actor(conn, args.actor))
        print(f"step {res.seq} recorded")
        _print_result(res, args.lang)
    return _run(args, go)


def cmd_undo(args) -> int:
    from planning.drafts import undo

    def go(conn):
        _print_result(undo(conn, args.id, actor_id=_actor(conn, args.actor)), args.lang)
    return _run(args, go)


def cmd_validate(args) -> int:
    from planning.validate import validate

    def go(conn):
        problems = validate(conn, args.id)
        _print_problems(problems, args.lang)
        return 1 if any(p.severity == "error" for p in problems) else 0
    return _run(args, go)


def cmd_abandon(args) -> int:
    from planning.drafts import abandon

    def go(conn):
        abandon(conn, args.id, actor_id=_actor(conn, args.actor))
        print(f"draft {args.id} abandoned")
    return _run(args, go)


def register_commands(register) -> None:
    def common(p, actor=True):
        p.add_argument("--test", action="store_true", help="act on the test database")
        p.add_argument("--lang", choices=("zh", "en"), default="en", help="language of messages (default en)")
        if actor:
            p.add_argument("--as", dest="actor", metavar="USER", help="the planner's username (recorded with the step)")

    def with_id(actor=True):
        def conf(p):
            p.add_argument("id", help="draft id")
            common(p, actor)
        return conf

    def conf_create(p):
        p.add_argument("--name", required=True, help="the draft's name")
        p.add_argument("--reason", default="", help="why (kept with the draft)")
        p.add_argument("--district", help="district code (needed when the database has several)")
        p.add_argument("--community", action="append", metavar="CODE",
                       help="limit the draft to this community (repeat for several); default the whole district")
        common(p)

    def conf_list(p):
        p.add_argument("--all", action="store_true", help="published and abandoned drafts too")
        common(p, actor=False)

    def conf_edit(p):
        with_id()(p)
        p.add_argument("--op", required=True, help='the edit as JSON, e.g. \'{"op":"merge","codes":["…","…"]}\' '
                                                    "(ops: move_vertex, split, merge, add, move_grid, assign_workers, "
                                                    "replace_from_file; docs/planning.md)")

    register("draft-create", cmd_create, "start a boundary draft (a copy of the current grids of a district or communities)",
             conf_create)
    register("draft-list", cmd_list, "list boundary drafts (open ones unless --all)", conf_list)
    register("draft-edit", cmd_edit, "apply one edit to a draft and validate it", conf_edit)
    register("draft-undo", cmd_undo, "take back a draft's last edit", with_id())
    register("draft-validate", cmd_validate, "list a draft's problems (exit 1 if there are errors)", with_id(False))
    register("draft-abandon", cmd_abandon, "close a draft without publishing it", with_id())
