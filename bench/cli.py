"""``python manage.py bench NAME [options]``: NAME is a module ``bench/NAME.py``.

Each benchmark module defines ``configure(parser)`` and ``main(args) -> int`` and prints its
results as ``key=value`` lines, the ratio last.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path

HERE = Path(__file__).parent


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name not in ("cli", "common"))


def cmd_bench(args) -> int:
    mod = importlib.import_module(f"bench.{args.name}")
    p = argparse.ArgumentParser(prog=f"manage.py bench {args.name}")
    mod.configure(p)
    return mod.main(p.parse_args(args.rest))


def register_commands(register) -> None:
    def configure(p):
        p.add_argument("name", choices=available(), help="which benchmark")
        p.add_argument("rest", nargs=argparse.REMAINDER, help="options of that benchmark")

    register("bench", cmd_bench, "run a benchmark (join, report, indicators, wall, live, intake, load, validate, publish, "
             "pages, growth, partitions, overlay)", configure)
