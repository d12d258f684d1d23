"""Next-item policy benchmark: our policy against fixed order, random order and N-in-a-row mastery rules.

    .venv/bin/python bench/policy_sim.py --students 100     # student models fitted on ../shared/data (ASSIST2009)
    .venv/bin/python bench/policy_sim.py --students 40      # quicker
    .venv/bin/python bench/policy_sim.py --synthetic        # no public data: built-in parameters (loud notice)

Two simulated student populations (BKT learners and logistic/AFM learners, parameters fitted per skill on the public
data) on an 8-skill curriculum with prerequisites. Our policy never sees the simulator's parameters: it chooses items
with the engine's PFA baseline and decides mastery with a per-skill knowledge-level tracker
(``adaptive.mastery.SkillTracker``, 2-4 levels chosen per skill by held-out likelihood), both fitted on a simulated
*history* of other students of the same population working in fixed order (what a course's logs look like before
the adaptive policy is switched on). The same students (same seeds) meet every policy.

Fairness: fixed order is measured at every length from 2 to 40 items per skill (and 44, 50, 60), with a budget that
never truncates it; "fixed, same share" interpolates the fixed-order items needed for exactly the share of skills
truly mastered that each policy reached; "fewer" = 1 - items / that. True mastery is the simulator's, the same for
every policy (BKT: in the known state; logistic: P(correct) on an average item >= 0.9). The oracle (peeks at the
true state) shows what any policy could save at most.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adaptive import get_model_class  # noqa: E402
from adaptive.data import read_log  # noqa: E402
from adaptive.mastery import SkillTracker  # noqa: E402
from adaptive.policy import PolicyConfig  # noqa: E402
from adaptive.simulate import (  # noqa: E402
    SYNTHETIC_AFM,
    SYNTHETIC_BKT,
    AdaptivePolicy,
    FixedOrder,
    MasteryRule,
    OraclePolicy,
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
FIXED_LENGTHS = (*range(2, 41), 44, 50, 60)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DKVMN-format log to fit the student models")
    ap.add_argument("--synthetic", action="store_true", help="use built-in parameters instead of the public data")
    ap.add_argument("--students", type=int, default=150)
    ap.add_argument("--max-items", type=int, default=480, help="budget per student (fixed order never hits it)")
    ap.add_argument("--thresholds", default="0.85,0.9,0.95", help="mastery thresholds of our policy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cap", type=int, default=30, help="items per skill before our policy sets it aside")
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
        history = history_log(pop, curriculum, n_students=300, seed=args.seed + 1000)
        model = get_model_class("pfa")().fit(history)
        tracker = SkillTracker.fit(history, seed=args.seed)
        levels = {s: tracker.of(s).levels for s in curriculum.skills}
        rows = []

        def ours(thr: float, criterion: str = "either", model: Any = model, tracker: SkillTracker = tracker
                 ) -> AdaptivePolicy:
            cfg = PolicyConfig(mastery_threshold=thr, max_items_per_skill=args.cap, stop_when_stuck=True)
            label = {"either": "ours", "model": "model-only", "auto": "auto"}[criterion] + f"@{thr}"
            return AdaptivePolicy(model, cfg, name=label, tracker=tracker, criterion=criterion)

        adaptive = [run_policy(ours(thr), pop, curriculum, **kw) for thr in thresholds]
        adaptive += [run_policy(ours(thr, "model"), pop, curriculum, **kw) for thr in thresholds]
        adaptive += [run_policy(ours(thr, "auto"), pop, curriculum, **kw) for thr in thresholds]
        fixed = [run_policy(FixedOrder(k), pop, curriculum, **kw) for k in FIXED_LENGTHS]
        budget = round(adaptive[len(thresholds) // 2].items_mean)
        others = [run_policy(RandomOrder(budget), pop, curriculum, **kw),
                  run_policy(MasteryRule(3), pop, curriculum, **kw),
                  run_policy(MasteryRule(5, cap=30), pop, curriculum, **kw),
                  run_policy(OraclePolicy(args.cap), pop, curriculum, **kw)]
        fixed_shown = [f for f in fixed if f.policy in {f"fixed-{k}" for k in (4, 8, 12, 16, 20, 25, 30, 40, 60)}]
        print(f"\ntracker levels per skill (fitted on the history): {levels}")
        print(f"\n== students: {pop.name} learners ({args.students}, same seeds for every policy) "
              f"[{time.time() - t1:.0f}s]")
        print(f"{'policy':<16}{'items':>8}{'mastered':>10}{'all':>7}{'to mastery':>12}{'per 100':>9}"
              f"{'fixed, same share':>19}{'fewer':>8}")
        for r in [*adaptive, *others, *fixed_shown]:
            match = match_fixed_order(fixed, r.share_mastered) if not r.policy.startswith("fixed") else None
            fewer = (1 - r.items_mean / match) if match else None
            rows.append({**r.row(), "fixed_items_same_share": match, "fewer_items_than_fixed": fewer})
            m = f"{match:>19.1f}" if match else f"{'-':>19}"
            f = f"{100 * fewer:>7.0f}%" if fewer is not None else f"{'-':>8}"
            print(f"{r.policy:<16}{r.items_mean:>8.1f}{r.share_mastered:>10.3f}{r.share_all_mastered:>7.2f}"
                  f"{r.items_to_mastery:>12.1f}{r.learning_per_item:>9.2f}{m}{f}")
        report["populations"][pop.name] = {"rows": rows, "fixed": [f.row() for f in fixed], "tracker_levels": levels}
    print(f"\ntotal {time.time() - t0:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
