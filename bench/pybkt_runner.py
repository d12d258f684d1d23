"""Fit pyBKT on a training CSV and predict a test CSV; run by ``bench/pybkt_bridge.py`` in pyBKT's own interpreter.

    <pybkt-python> bench/pybkt_runner.py TRAIN.csv TEST.csv OUT.csv [--seed 0] [--num-fits 5]

The CSVs have pyBKT's default columns (``order_id, user_id, skill_name, correct``) plus ``event`` (the question-level
event a row belongs to: a multi-skill event is one row per skill). OUT.csv gets ``event, correct, p`` per test row,
pyBKT's ``correct_predictions``: each skill's prediction from that skill's own earlier rows. Imports only pandas and
pyBKT (it runs outside this project's environment, where pyBKT cannot run: see bench/README.md).
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num-fits", type=int, default=5)
    args = ap.parse_args(argv)

    import pandas as pd
    from pyBKT.models import Model

    kinds = {"user_id": str, "skill_name": str}
    train = pd.read_csv(args.train, dtype=kinds)
    test = pd.read_csv(args.test, dtype=kinds)
    t0 = time.time()
    model = Model(seed=args.seed, num_fits=args.num_fits)
    model.fit(data=train)
    print(f"pybkt: fitted {train['skill_name'].nunique()} skills on {len(train)} rows in {time.time() - t0:.1f}s",
          file=sys.stderr, flush=True)
    # skills the training rows never saw cannot be predicted by pyBKT: they get the training mean
    known = set(train["skill_name"].unique())
    seen = test[test["skill_name"].isin(known)].copy()
    pred = model.predict(data=seen)
    by_order = dict(zip(pred["order_id"].to_numpy(), pred["correct_predictions"].to_numpy(), strict=True))
    out = test[["event", "correct"]].copy()
    fallback = float(train["correct"].mean())
    out["p"] = [by_order.get(o, fallback) for o in test["order_id"].to_numpy()]
    out.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
