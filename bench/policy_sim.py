"""Next-item policy benchmark: our policy against fixed order, random order and N-in-a-row mastery rules.

    .venv/bin/python bench/policy_sim.py --students 100     # student models fitted on ../shared/data (ASSIST2009)
    .venv/bin/python bench/policy_sim.py --students 40      # quicker
    .venv/bin/python bench/policy_sim.py --synthetic        # no public data: built-in parameters (loud notice)
    .venv/bin/python bench/policy_sim.py --students 100 --seeds 5 --criteria auto   # error bars across 5 seeds

Two simulated student populations (BKT learners and logistic/AFM learners, parameters fitted per skill on the public
data) on an 8-skill curriculum with prerequisites. Our policy never sees the simulator's parameters: it chooses items
with the engine's PFA baseline and decides mastery with a per-skill knowledge-level tracker
(``adaptive.mastery.SkillTracker``, 2-4 levels chosen per skill by cross-validated likelihood), both fitted on a
simulated *history* of other students of the same population working in fixed order (what a course's logs look
like before the adaptive policy is switched on). The same students (same seeds) meet every policy.

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


CRITERIA = {"either": "ours", "model": "model-only", "both": "both", "auto": "auto"}


def run_seed(args: argparse.Namespace, seed: int, criteria: list[str], thresholds: list[float],
             quiet: bool = False) -> dict[str, Any]:
    """One whole run (student models, curriculum, populations, history, every policy) from ``seed``."""
    say = (lambda *a, **k: None) if quiet else print
    t0 = time.time()
    source = "synthetic"
    if not args.synthetic and args.data.is_file():
        log = read_log(args.data, "dkvmn")
        bkt, afm = fit_student_models(log, n_skills=20, seed=seed)
        source = f"{args.data.name} ({log.n_students} students, {len(log)} responses; 20 skills fitted)"
    else:
        bkt, afm = SYNTHETIC_BKT, SYNTHETIC_AFM
    curriculum = make_curriculum(seed=seed)
    say(f"student models from: {source}  [{time.time() - t0:.1f}s]")
    say(f"curriculum: {len(curriculum.skills)} skills, {len(curriculum.items)} items, prerequisites "
        f"{curriculum.prerequisites}")
    populations = [bkt_population(curriculum, bkt, seed=seed), logistic_population(curriculum, afm, seed=seed)]
    report: dict = {"seed": seed, "source": source, "students": args.students, "max_items": args.max_items,
                    "populations": {}}
    kw = {"n_students": args.students, "max_items": args.max_items, "seed": seed}
    for pop in populations:
        t1 = time.time()
        history = history_log(pop, curriculum, n_students=300, seed=seed + 1000)
        model = get_model_class("pfa")().fit(history)
        tracker = SkillTracker.fit(history, seed=seed)
        levels = {s: tracker.of(s).levels for s in curriculum.skills}
        rows = []

        def ours(thr: float, criterion: str, model: Any = model, tracker: SkillTracker = tracker) -> AdaptivePolicy:
            cfg = PolicyConfig(mastery_threshold=thr, max_items_per_skill=args.cap, stop_when_stuck=True)
            return AdaptivePolicy(model, cfg, name=f"{CRITERIA[criterion]}@{thr}", tracker=tracker,
                                  criterion=criterion)

        adaptive = [run_policy(ours(thr, c), pop, curriculum, **kw) for c in criteria for thr in thresholds]
        fixed = [run_policy(FixedOrder(k), pop, curriculum, **kw) for k in FIXED_LENGTHS]
        budget = round(adaptive[len(thresholds) // 2].items_mean)
        others = [run_policy(RandomOrder(budget), pop, curriculum, **kw),
                  run_policy(MasteryRule(3), pop, curriculum, **kw),
                  run_policy(MasteryRule(5, cap=30), pop, curriculum, **kw),
                  run_policy(OraclePolicy(args.cap), pop, curriculum, **kw)]
        fixed_shown = [f for f in fixed if f.policy in {f"fixed-{k}" for k in (4, 8, 12, 16, 20, 25, 30, 40, 60)}]
        say(f"\ntracker levels per skill (fitted on the history): {levels}")
        say(f"\n== seed {seed}, students: {pop.name} learners ({args.students}, same seeds for every policy) "
            f"[{time.time() - t1:.0f}s]")
        say(f"{'policy':<16}{'items':>8}{'mastered':>10}{'all':>7}{'to mastery':>12}{'per 100':>9}"
            f"{'fixed, same share':>19}{'fewer':>8}")
        for r in [*adaptive, *others, *fixed_shown]:
            match = match_fixed_order(fixed, r.share_mastered) if not r.policy.startswith("fixed") else None
            fewer = (1 - r.items_mean / match) if match else None
            rows.append({**r.row(), "fixed_items_same_share": match, "fewer_items_than_fixed": fewer})
            m = f"{match:>19.1f}" if match else f"{'-':>19}"
            f = f"{100 * fewer:>7.0f}%" if fewer is not None else f"{'-':>8}"
            say(f"{r.policy:<16}{r.items_mean:>8.1f}{r.share_mastered:>10.3f}{r.share_all_mastered:>7.2f}"
                f"{r.items_to_mastery:>12.1f}{r.learning_per_item:>9.2f}{m}{f}")
        report["populations"][pop.name] = {"rows": rows, "fixed": [f.row() for f in fixed], "tracker_levels": levels}
    report["seconds"] = round(time.time() - t0, 1)
    return report


def _mean_sd(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return mean, sd


def summarize(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Per population and policy, across seeds: mean, sample SD, min and max of items, share truly mastered and
    "fewer items than fixed order for the same share" (seeds where no fixed-order length reached the share are
    counted in ``unmatched``, not averaged)."""
    out: dict[str, Any] = {}
    for pop in reports[0]["populations"]:
        policies: dict[str, dict[str, list[float]]] = {}
        unmatched: dict[str, int] = {}
        for rep in reports:
            for row in rep["populations"][pop]["rows"]:
                name = row["policy"]
                if name.startswith("fixed-"):
                    continue
                if name.startswith("random"):
                    name = "random"
                acc = policies.setdefault(name, {"items": [], "share_mastered": [], "fewer": []})
                acc["items"].append(row["items_mean"])
                acc["share_mastered"].append(row["share_mastered"])
                if row["fewer_items_than_fixed"] is None:
                    unmatched[name] = unmatched.get(name, 0) + 1
                else:
                    acc["fewer"].append(row["fewer_items_than_fixed"])
        out[pop] = {}
        for name, acc in policies.items():
            entry: dict[str, Any] = {"seeds": len(acc["items"]), "unmatched": unmatched.get(name, 0)}
            for key, vals in acc.items():
                if vals:
                    mean, sd = _mean_sd(vals)
                    entry[key] = {"mean": mean, "sd": sd, "min": min(vals), "max": max(vals)}
            out[pop][name] = entry
    return out


def print_summary(summary: dict[str, Any], seeds: list[int]) -> None:
    print(f"\n== across {len(seeds)} seeds ({','.join(map(str, seeds))}): mean ± SD [min, max]")
    for pop, policies in summary.items():
        print(f"\n-- {pop} learners")
        print(f"{'policy':<16}{'items':>16}{'mastered':>18}{'fewer than fixed, same share':>40}")
        for name, e in policies.items():
            items, share = e["items"], e["share_mastered"]
            fewer = e.get("fewer")
            ftxt = (f"{100 * fewer['mean']:.1f}% ± {100 * fewer['sd']:.1f} "
                    f"[{100 * fewer['min']:.0f}, {100 * fewer['max']:.0f}]") if fewer else "-"
            if e["unmatched"]:
                ftxt += f" ({e['unmatched']} unmatched)"
            print(f"{name:<16}{items['mean']:>9.1f} ± {items['sd']:<4.1f}{share['mean']:>10.3f} ± {share['sd']:<5.3f}"
                  f"{ftxt:>40}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DKVMN-format log to fit the student models")
    ap.add_argument("--synthetic", action="store_true", help="use built-in parameters instead of the public data")
    ap.add_argument("--students", type=int, default=150)
    ap.add_argument("--max-items", type=int, default=480, help="budget per student (fixed order never hits it)")
    ap.add_argument("--thresholds", default="0.85,0.9,0.95", help="mastery thresholds of our policy")
    ap.add_argument("--criteria", default="either,model,auto",
                    help="mastery criteria of our policy, comma-separated from: either (tracker or model), "
                         "both (tracker and model), model (P(correct) only), auto (per skill from the tracker's fit: "
                         "2 levels: tracker, 3+: both)")
    ap.add_argument("--seed", type=int, default=0, help="seed of a single run")
    ap.add_argument("--seeds", help="several runs, e.g. 0,1,2,3,4 (or a count: 5): every seed refits the student "
                                    "models, curriculum, history and students; prints mean ± SD across seeds")
    ap.add_argument("--cap", type=int, default=30, help="items per skill before our policy sets it aside")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    criteria = [c.strip() for c in args.criteria.split(",") if c.strip()]
    bad = [c for c in criteria if c not in CRITERIA]
    if bad or not criteria:
        ap.error(f"--criteria: unknown {bad}; choose from {', '.join(CRITERIA)}")
    try:
        thresholds = [float(x) for x in args.thresholds.split(",")]
    except ValueError:
        ap.error(f"--thresholds: not a comma-separated list of numbers: {args.thresholds!r}")
    if args.seeds:
        try:
            seeds = ([int(x) for x in args.seeds.split(",")] if "," in args.seeds
                     else list(range(int(args.seeds))))
        except ValueError:
            ap.error(f"--seeds: a count or a comma-separated list of integers, not {args.seeds!r}")
        if not seeds:
            ap.error("--seeds: at least one seed")
    else:
        seeds = [args.seed]
    if args.synthetic or not args.data.is_file():
        print("!" * 100)
        print(f"!!  NOTICE: public data not found at {args.data} (or --synthetic): the simulated students use")
        print("!!  BUILT-IN SYNTHETIC PARAMETERS, not parameters fitted on real students. Results are indicative only.")
        print("!" * 100)

    t0 = time.time()
    reports = []
    for i, seed in enumerate(seeds):
        if len(seeds) > 1:
            print(f"\n######## seed {seed} ({i + 1} of {len(seeds)}) [{time.time() - t0:.0f}s elapsed]", flush=True)
        reports.append(run_seed(args, seed, criteria, thresholds))
    result: dict[str, Any] = reports[0] if len(seeds) == 1 else {"seeds": seeds, "runs": reports}
    if len(seeds) > 1:
        result["summary"] = summarize(reports)
        print_summary(result["summary"], seeds)
    print(f"\ntotal {time.time() - t0:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
