"""``manage.py api-key create|list|revoke`` and ``manage.py intake-serve``.

``api-key create --channel NAME`` prints the new key once; only its hash is stored, so a lost
key is revoked and replaced, never recovered.
"""
from __future__ import annotations

import os

from db.engine import command_engine


def cmd_api_key(args) -> int:
    from intake import keys

    eng = command_engine(args.test)
    if args.action == "create":
        if not args.channel:
            raise ValueError("api-key create needs --channel (grid_worker, hotline, wechat, website or other)")
        with eng.begin() as conn:
            rec, key = keys.create_key(conn, channel=args.channel, name=args.name)
        print(f"created key {rec.id} for channel {rec.channel} ({rec.name}); it is shown only this once:")
        print(key)
    elif args.action == "list":
        with eng.connect() as conn:
            rows = keys.list_keys(conn)
        print(f"{'id':>4}  {'channel':<12} {'name':<24} {'prefix':<9} {'created':<20} revoked")
        for r in rows:
            revoked = f"{r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "-"
            print(f"{r['id']:>4}  {r['channel']:<12} {r['name'][:24]:<24} {r['key_prefix']:<9} "
                  f"{r['created_at']:%Y-%m-%d %H:%M}     {revoked}")
    else:
        if args.id is None:
            raise ValueError("api-key revoke needs --id (see api-key list)")
        with eng.begin() as conn:
            ok = keys.revoke(conn, args.id)
        if not ok:
            raise ValueError(f"no live key with id {args.id}")
        print(f"key {args.id} revoked")
    return 0


def cmd_intake_serve(args) -> int:
    import uvicorn

    host = args.host or os.environ.get("ADDRESS") or "127.0.0.1"
    port = args.port or int(os.environ.get("INTAKE_PORT") or 8502)
    uvicorn.run("intake.app:create_app", factory=True, host=host, port=port, workers=args.workers,
                log_level="warning", access_log=False)
    return 0


def register_commands(register) -> None:
    def configure_key(p):
        p.add_argument("action", choices=("create", "list", "revoke"))
        p.add_argument("--channel", help="create: grid_worker, hotline, wechat, website or other")
        p.add_argument("--name", help="create: who the key is for (default: the channel)")
        p.add_argument("--id", type=int, help="revoke: the key's id (see list)")
        p.add_argument("--test", action="store_true", help="act on the test database")

    def configure_serve(p):
        p.add_argument("--host", help="listen address (default ADDRESS or 127.0.0.1)")
        p.add_argument("--port", type=int, help="port (default INTAKE_PORT or 8502)")
        p.add_argument("--workers", type=int, default=int(os.environ.get("INTAKE_WORKERS") or os.cpu_count() or 2),
                       help="uvicorn worker processes (default INTAKE_WORKERS or the CPU count)")

    register("api-key", cmd_api_key, "intake API keys: create (prints the key once), list, revoke", configure_key)
    register("intake-serve", cmd_intake_serve, "serve the Open311 intake service (foreground)", configure_serve)
