"""``bench validate``: validating the whole sample district's draft after one edit.

In one rolled-back transaction on ``gridgov_bench`` (the sample district, 1,035 grids): a draft of
the whole district, one edit (a vertex shared by several grids moved by 2 m), then, best of
``--repeat`` each, alternating:

- ``validate_ms``: ``planning.validate.validate(conn, draft)`` — loading the draft's rows and the
  communities' outlines from the database and every check (target ≤ 100 ms, so validation can run
  on every edit);
- ``checks_ms``: the same checks on the shapes already in memory (``validate_grids``);
- ``coverage_ms``: shapely's bare ``coverage_is_valid`` on the same 1,035 polygons.

Also ``edit_ms``: the one edit through ``apply_edit`` (write, step, validation). Last line:
``validate_ratio`` = validate_ms / coverage_ms.
"""
from __future__ import annotations

import time

import shapely
from sqlalchemy import text

from bench import common

BENCH_DB = "gridgov_bench"


def configure(p) -> None:
    p.add_argument("--repeat", type=int, default=10, help="runs of each measurement; the best counts (default 10)")



def main(args) -> int:
    from planning.drafts import apply_edit, create_draft
    from planning.state import load_state
    from planning.validate import GridShape, validate, validate_grids

    eng = common.bench_engine(BENCH_DB, cases=0)
    with eng.connect() as c:
        tx = c.begin()
        d = create_draft(c, name="bench validate", reason="", actor_id=None)
        s = load_state(c, d)
        # a vertex shared by the most grids (a corner where several meet), moved by about 2 m
        owners: dict[tuple, int] = {}
        for g in s.live_grids():
            for xy in set(g.geom.exterior.coords):
                owners[xy] = owners.get(xy, 0) + 1
        (x, y), n = max(owners.items(), key=lambda kv: (kv[1], kv[0]))
        t = time.perf_counter()
        res = apply_edit(c, d, {"op": "move_vertex", "from": [x, y], "to": [x + 0.00002, y + 0.00001]}, actor_id=None)
        edit_ms = (time.perf_counter() - t) * 1000
        s = load_state(c, d)
        geoms = [g.geom for g in s.live_grids()]
        shapes = [GridShape(g.code, g.geom, g.community_id, g.responsibility_code) for g in s.live_grids()]
        repeat = max(1, args.repeat)
        best = {"validate": float("inf"), "checks": float("inf"), "coverage": float("inf")}
        for _ in range(repeat):
            best["validate"] = min(best["validate"], common.best_of(lambda: validate(c, d), 1) * 1000)
            best["checks"] = min(best["checks"], common.best_of(lambda: validate_grids(shapes), 1) * 1000)
            best["coverage"] = min(best["coverage"], common.best_of(lambda: shapely.coverage_is_valid(geoms), 1) * 1000)
        problems = validate(c, d)
        n_grids = c.execute(text("SELECT count(*) FROM boundary_draft_grid WHERE draft_id = :d AND NOT retired"),
                            {"d": d}).scalar()
        tx.rollback()
    print(f"grids={n_grids}")
    print(f"edit=move_vertex of a vertex shared by {n} grids; changed={len(res.changed)}")
    print(f"problems={len(problems)} errors={sum(p.severity == 'error' for p in problems)}")
    print(f"edit_ms={edit_ms:.1f}")
    print(f"checks_ms={best['checks']:.1f}")
    print(f"coverage_ms={best['coverage']:.1f}")
    print(f"validate_ms={best['validate']:.1f}")
    print(f"validate_ratio={best['validate'] / best['coverage']:.2f}")
    return 0
