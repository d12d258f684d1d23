"""Next-item policy benchmark: our policy against fixed order, random order and an N-in-a-row mastery rule.

    .venv/bin/python bench/policy_sim.py                    # student models fitted on ../shared/data (ASSIST2009)
    .venv/bin/python bench/policy_sim.py --students 60      # quicker
    .venv/bin/python bench/policy_sim.py --synthetic        # no public data: built-in parameters (loud notice)

Two simulated student populations (BKT learners and logistic/AFM learners, parameters fitted per skill on the public
data) on an 8-skill curriculum with prerequisites. Our policy chooses with the engine's PFA baseline, trained on a
simulated history of the same population (fixed order, varying lengths) — a third model, so the policy is never
graded by the model it chooses with. The same students (same seeds) meet every policy.

Reports items used, share of skills truly mastered at the stop, items until all skills were truly mastered, skills
mastered per 100 items, and for each adaptive run the fixed-order length that reaches the same share (interpolated
between measured lengths): the reduction in items is the figure of merit (target: at least 30 %).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adaptive import get_model_class  # noqa: E402
from adaptive.data import read_log  # noqa: E402
from adaptive.policy import PolicyConfig  # noqa: E402
from adaptive.simulate import (  # noqa: E402
    SYNTHETIC_AFM,
    SYNTHETIC_BKT,
    AdaptivePolicy,
    FixedOrder,
    MasteryRule,
    RandomOrder,
    bkt_population,
    fit_student_models,
    history_log,
    logistic_population,
    make_curriculum,
    match_fixed_order,
    run_policy,
)

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "assist2009_dkvmn" / "assist2009_updated_train.csv"
FIXED_LENGTHS = (3, 4, 6, 8, 10, 12, 15, 18, 22, 26, 30, 36, 44)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DKVMN-format log to fit the student models")
    ap.add_argument("--synthetic", action="store_true", help="use built-in parameters instead of the public data")
    ap.add_argument("--students", type=int, default=150)
    ap.add_argument("--max-items", type=int, default=320)
    ap.add_argument("--thresholds", default="0.85,0.9,0.95", help="mastery thresholds of our policy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cap", type=int, default=20, help="items per skill before our policy sets it aside")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    t0 = time.time()
    source = "synthetic"
    if not args.synthetic and args.data.is_file():
        log = read_log(args.data, "dkvmn")
        bkt, afm = fit_student_models(log, n_skills=20, seed=args.seed)
        source = f"{args.data.name} ({log.n_students} students, {len(log)} responses; 20 skills fitted)"
    else:
        print("!" * 100)
        print(f"!!  NOTICE: public data not found at {args.data} (or --synthetic): the simulated students use")
        print("!!  BUILT-IN SYNTHETIC PARAMETERS, not parameters fitted on real students. Results are indicative only.")
        print("!" * 100)
        bkt, afm = SYNTHETIC_BKT, SYNTHETIC_AFM
    curriculum = make_curriculum(seed=args.seed)
    print(f"student models from: {source}  [{time.time() - t0:.1f}s]")
    print(f"curriculum: {len(curriculum.skills)} skills, {len(curriculum.items)} items, prerequisites "
          f"{curriculum.prerequisites}")
    populations = [bkt_population(curriculum, bkt, seed=args.seed),
                   logistic_population(curriculum, afm, seed=args.seed)]
    thresholds = [float(x) for x in args.thresholds.split(",")]
    report: dict = {"source": source, "students": args.students, "max_items": args.max_items, "populations": {}}
    kw = {"n_students": args.students, "max_items": args.max_items, "seed": args.seed}
    for pop in populations:
        t1 = time.time()
        model = get_model_class("pfa")().fit(history_log(pop, curriculum, n_students=300, seed=args.seed + 1000))
        rows = []
        configs = [PolicyConfig(mastery_threshold=thr, max_items_per_skill=args.cap, stop_when_stuck=True)
                   for thr in thresholds]
        adaptive = [run_policy(AdaptivePolicy(model, cfg, name=f"adaptive@{cfg.mastery_threshold}"), pop, curriculum,
                               **kw) for cfg in configs]
        fixed = [run_policy(FixedOrder(k), pop, curriculum, **kw) for k in FIXED_LENGTHS]
        budget = round(adaptive[len(adaptive) // 2].items_mean)
        others = [run_policy(RandomOrder(budget), pop, curriculum, **kw),
                  run_policy(MasteryRule(3), pop, curriculum, **kw),
                  run_policy(MasteryRule(5, cap=30), pop, curriculum, **kw)]
        print(f"\n== students: {pop.name} learners ({args.students}, same seeds for every policy) "
              f"[{time.time() - t1:.0f}s]")
        print(f"{'policy':<16}{'items':>8}{'mastered':>10}{'all':>7}{'to mastery':>12}{'per 100':>9}"
              f"{'fixed, same share':>19}{'fewer':>8}")
        for r in [*adaptive, *others, *fixed]:
            match = match_fixed_order(fixed, r.share_mastered) if not r.policy.startswith("fixed") else None
            fewer = (1 - r.items_mean / match) if match else None
            rows.append({**r.row(), "fixed_items_same_share": match, "fewer_items_than_fixed": fewer})
            m = f"{match:>19.1f}" if match else f"{'-':>19}"
            f = f"{100 * fewer:>7.0f}%" if fewer is not None else f"{'-':>8}"
            print(f"{r.policy:<16}{r.items_mean:>8.1f}{r.share_mastered:>10.3f}{r.share_all_mastered:>7.2f}"
                  f"{r.items_to_mastery:>12.1f}{r.learning_per_item:>9.2f}{m}{f}")
        report["populations"][pop.name] = rows
    print(f"\ntotal {time.time() - t0:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
