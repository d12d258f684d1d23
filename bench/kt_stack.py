"""Which members to stack: the stacked AUC of member subsets, from one run's saved member logits.

    .venv/bin/python bench/kt_quality.py --datasets assist2009 --folds 1-5 --models ens6 \\
        --variant 'ens6=ensemble:{"members": ["pfa_recency", "dkt", "akt", "dkt"]}' --save-logits /tmp/logits
    .venv/bin/python bench/kt_stack.py /tmp/logits --dataset assist2009 \\
        --subset pfa_recency,dkt,akt --subset pfa_recency,dkt,dkt_2,akt

Every subset is stacked as the ``ensemble`` model stacks its members (``adaptive.models.ensemble.stack_weights``,
the default prior SD, fitted on the fold's validation students) and scored on the fold's test students. The members
were trained once, so the subsets are compared on the same training (paired, fold by fold); the first subset is the
baseline of the margins. Members are named by their labels in the run (``dkt_2``: the second ``dkt``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adaptive.evaluate import auc_score
from adaptive.models.ensemble import EnsembleConfig, stack_weights


def stacked_auc(data: np.lib.npyio.NpzFile, members: list[str], weight_sd: float) -> float:
    labels = [str(v) for v in data["labels"]]
    missing = [m for m in members if m not in labels]
    if missing:
        raise SystemExit(f"no member {missing} in this run (members: {', '.join(labels)})")
    rows = [labels.index(m) for m in members]
    fitted = stack_weights(data["valid_y"], data["valid_z"][rows], weight_sd)
    if fitted is None:
        raise SystemExit(f"stacking {members} gave non-finite weights")
    w, b = fitted
    return auc_score(data["test_y"], np.asarray(w) @ data["test_z"][rows] + b)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logits", type=Path, help="the --save-logits directory of a kt_quality run")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--subset", action="append", required=True, metavar="M1,M2,...",
                    help="members to stack (repeatable; the first is the baseline of the margins)")
    ap.add_argument("--weight-sd", type=float, default=EnsembleConfig().weight_sd)
    args = ap.parse_args(argv)
    files = sorted(args.logits.glob(f"{args.dataset}_fold*_*.npz"))
    if not files:
        raise SystemExit(f"no {args.dataset}_fold*_*.npz in {args.logits}")
    subsets = [s.split(",") for s in args.subset]
    folds = [f.name.split("_fold")[1].split("_")[0] for f in files]
    aucs = np.zeros((len(subsets), len(files)))
    for j, f in enumerate(files):
        with np.load(f) as data:
            for i, members in enumerate(subsets):
                aucs[i, j] = stacked_auc(data, members, args.weight_sd)
    print(f"{args.dataset}: stacked test AUC by fold ({', '.join(folds)}), margin over the first subset (paired)")
    print("| members | " + " | ".join(f"fold {k}" for k in folds) + " | mean ± SD | margin (min / max) |")
    print("|---|" + "---|" * len(folds) + "---|---|")
    for i, members in enumerate(subsets):
        d = aucs[i] - aucs[0]
        sd = aucs[i].std(ddof=1) if len(folds) > 1 else 0.0
        print(f"| {' + '.join(members)} | " + " | ".join(f"{a:.4f}" for a in aucs[i])
              + f" | {aucs[i].mean():.4f} ± {sd:.4f} | {d.mean():+.4f} ({d.min():+.4f} / {d.max():+.4f}) |")


if __name__ == "__main__":
    main()
