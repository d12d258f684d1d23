"""Serving latency and training speed of the knowledge-tracing models.

    .venv/bin/python bench/kt_speed.py                 # latency only (simulated bank, no data needed)
    .venv/bin/python bench/kt_speed.py --train-epoch   # + one training epoch on ASSIST2009 fold 1, 2 threads
    .venv/bin/python bench/kt_speed.py --models akt,akt_aq --variant akt_aq=akt:question_layers=1,kq_same=true

Latency: one student with a 500-response history; each step is what the web app does per answer: one incremental
``update`` with the new response, then ``predict_proba`` over 2,000 candidate items, on one thread. Reported for
pre-encoded candidates (``model.encode_candidates`` once per bank, the intended use) and for raw item ids, plus the
state's JSON round trip (what the app stores per answer). Target: p99 under 10 ms. The latency does not depend on
the trained values of the weights, so the models are fitted for one epoch on a simulated bank of 2,500 items.
Wall-clock and the thread's CPU time are both reported: on a shared machine the first includes waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kt_quality import parse_options  # the same --variant syntax (key=value,... or a JSON object)

from adaptive.models import get_model_class
from adaptive.models.base import KTModel
from adaptive.state import State
from adaptive.synthetic import simulate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


VARIANTS: dict[str, tuple[str, dict]] = {}  # --variant NAME=MODEL:K=V,... (a configured model under a new name)


def make(name: str) -> KTModel:
    kind, cfg = VARIANTS.get(name, (name, {}))
    return get_model_class(kind)(**cfg)


def latency(names: list[str], steps: int, history: int, n_candidates: int) -> None:
    torch.set_num_threads(1)
    log, _ = simulate(n_students=60, n_skills=100, items_per_skill=25, length=history + steps, block=10, seed=0)
    seqs = log.sequences()
    print(f"latency: history {history}, {n_candidates} candidates, {steps} steps, 1 thread")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("| model | update + score p50 / p99 (ms) | CPU time p50 / p99 (ms) | same, raw ids p50 / p99 (ms) "
          "| state JSON round trip p50 (ms) |")
    print("|---|---|---|---|---|")
    for name in names:
        model = make(name)
        opts: dict[str, int] = model.options_for_fit({"epochs": 1, "batch_size": 64})
        model.fit(log.subset(log.students()[:50]), None, **opts)
        items = list(model.vocab.items)[:n_candidates]
        cands = model.encode_candidates(items)
        seq = seqs[-1]
        state = model.state_from_history(seq[:history])
        model.predict_proba(state, cands)  # warm up
        t_enc, t_cpu, t_raw, t_json = [], [], [], []
        for k in range(steps):
            r = seq[history + k]
            t0, c0 = time.perf_counter(), time.thread_time()
            state = model.update(state, r)
            p = model.predict_proba(state, cands)
            t_enc.append(time.perf_counter() - t0)
            t_cpu.append(time.thread_time() - c0)
            t0 = time.perf_counter()
            model.update(state, r)
            model.predict_proba(state, items)
            t_raw.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            State.from_json(state.to_json())
            t_json.append(time.perf_counter() - t0)
            assert p.shape == (len(items),)
        print(f"| {name} | {pct(t_enc, 50):.2f} / {pct(t_enc, 99):.2f} | {pct(t_cpu, 50):.2f} / {pct(t_cpu, 99):.2f} "
              f"| {pct(t_raw, 50):.2f} / {pct(t_raw, 99):.2f} | {pct(t_json, 50):.2f} |", flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


def train_epoch(names: list[str], threads: int) -> None:
    from adaptive.data import read_log

    torch.set_num_threads(threads)
    d = DATA / "assist2009_pid_akt"
    if not d.is_dir():
        print(f"skipping the training epoch: {d} is missing")
        return
    train = read_log(d / "assist2009_pid_train1.csv", "akt")
    valid = read_log(d / "assist2009_pid_valid1.csv", "akt")
    print(f"\ntraining: ASSIST2009 fold 1 ({train}), {threads} threads, one epoch (+ validation pass)")
    print("| model | seconds per epoch | train + validation pass |")
    print("|---|---|---|")
    for name in names:
        model = make(name)
        t0 = time.perf_counter()
        opts = model.options_for_fit({"epochs": 1})
        model.fit(train, valid, **opts)
        total = time.perf_counter() - t0
        per_epoch = model.metrics.get("train", {}).get("epochs", [{}])[0].get("seconds", total)
        print(f"| {name} | {per_epoch:.1f} | {total:.1f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="pfa,pfa_recency,dkt,akt")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--history", type=int, default=500)
    ap.add_argument("--candidates", type=int, default=2000)
    ap.add_argument("--train-epoch", action="store_true", help="also time one epoch on ASSIST2009 fold 1")
    ap.add_argument("--threads", type=int, default=2, help="threads for the training epoch")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=MODEL:K=V,...",
                    help="a configured model under a new name, e.g. akt_aq=akt:question_layers=1,kq_same=true or "
                         "ens=ensemble:'{\"members\": [\"pfa\", \"dkt\"]}'")
    args = ap.parse_args()
    for spec in args.variant:
        label, _, rest = spec.partition("=")
        kind, _, opts = rest.partition(":")
        VARIANTS[label] = (kind, parse_options(opts))
    names = args.models.split(",")
    latency(names, args.steps, args.history, args.candidates)
    if args.train_epoch:
        train_epoch([n for n in names if n != "pfa"], args.threads)


if __name__ == "__main__":
    main()
