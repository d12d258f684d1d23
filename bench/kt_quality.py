"""Knowledge-tracing quality on public datasets: our models against BKT and plain DKT, same folds, same run.

    .venv/bin/python bench/kt_quality.py --datasets assist2009,assist2015,statics2011 --folds 1
    .venv/bin/python bench/kt_quality.py --datasets statics2011 --folds 1-5 --models dkt_plain,ensemble

Every figure is question-level and leak-free (one prediction per event, from the student's earlier events; the
expanded multi-skill rows of ASSIST2009 are collapsed into one event), on the test students of the fold, with
epochs chosen on the fold's validation students. Data: ../shared/data (see its README).

Baselines, trained and evaluated in this run on the same folds:
- ``bkt``: standard BKT, one 4-parameter HMM per skill (prior, learn, guess, slip) fitted by EM (below). pyBKT 1.4.3
  installs but cannot run here (its import probes scikit-learn metrics and breaks with scikit-learn 1.9; its
  pure-Python EM breaks with numpy 2), so this is a plain implementation of the same model. A multi-skill event is
  predicted as the mean of its skills' predictions.
- ``pybkt``: pyBKT itself, when an interpreter that can run it is given (``--pybkt-python``, or the environment
  variable ``PYBKT_PYTHON``; how to make one: ``bench/pybkt_bridge.py``); the same fold goes out as CSV and the
  predictions come back collapsed per event like ``bkt``'s. The "margin over BKT" column uses it when it ran.
- ``dkt_plain``: DKT as published: skill inputs only, one output per skill (``dkt`` with item_embeddings=false,
  head=skill), the mean over an event's skills.

Variants and overrides (for tuning runs; every option is echoed in the output):

    --config akt:dropout=0.3,d_model=128      # config overrides for a model of the run
    --variant akt_kq=akt:kq_same=true         # a further model name: a base model with overrides
    --train weight_decay=1e-5,max_len=200     # adaptive.train.TrainConfig options for the sequence models
    --ensemble akt+dkt                        # mean of the listed models' logits, per event (models of this run)
    --variant ens5=ensemble:'{"members": ["pfa", "dkt", "dkt"]}'   # a JSON object for options that are lists

The JSON file (``--json``) holds ``{dataset: {fold: {model: metrics}}}``; an ``ensemble`` model's entry adds its
members' test AUC, the AUC of their plain mean logit and the stacking weights, from the same predictions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adaptive.data import ResponseLog, read_log
from adaptive.evaluate import metrics
from adaptive.models import get_model_class

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REFERENCE = {  # pyKT leak-free AUC (../shared/data/README.md)
    "assist2009": {"DKT": 0.7541, "AKT": 0.7853},
    "assist2015": {"DKT": 0.7271, "AKT": 0.7281},
    "statics2011": {"DKT": 0.8222, "AKT": 0.8309},
}


def load(name: str, fold: int) -> tuple[ResponseLog, ResponseLog, ResponseLog]:
    if name == "assist2009":  # AKT files with problem ids; valid_k is a disjoint set of students
        d = DATA / "assist2009_pid_akt"
        return (read_log(d / f"assist2009_pid_train{fold}.csv", "akt"),
                read_log(d / f"assist2009_pid_valid{fold}.csv", "akt"),
                read_log(d / f"assist2009_pid_test{fold}.csv", "akt"))
    if name == "assist2015":  # pyKT files: validation = fold (k - 1) of train_valid.csv, test = test.csv
        d = DATA / "assist2015_pykt"
        return (read_log(d / "train_valid.csv", "pykt", exclude_folds=[fold - 1]),
                read_log(d / "train_valid.csv", "pykt", folds=[fold - 1]),
                read_log(d / "test.csv", "pykt"))
    if name == "statics2011":  # AKT's STATICS folds (3-line files, one id per step)
        d = DATA / "statics2011_akt"
        return (read_log(d / f"statics_train{fold}.csv", "dkvmn"), read_log(d / f"statics_valid{fold}.csv", "dkvmn"),
                read_log(d / f"statics_test{fold}.csv", "dkvmn"))
    raise SystemExit(f"unknown dataset {name}")


# --- standard BKT, fitted by EM -----------------------------------------------------------------------------------
class BKT:
    """One HMM per skill: P(L0), P(T) (learn), P(G) (guess), P(S) (slip); no forgetting. Baum-Welch on all the
    students' sequences of the skill at once (padded matrix), guess and slip capped at 0.45 to keep the model
    identifiable."""

    def __init__(self, iterations: int = 30) -> None:
        self.iterations = iterations
        self.params: dict[str, tuple[float, float, float, float]] = {}
        self.default = (0.5, 0.1, 0.2, 0.1)

    @staticmethod
    def _by_skill(log: ResponseLog) -> dict[str, list[list[int]]]:
        out: dict[str, dict[str, list[int]]] = {}
        for seq in log.sequences():
            for r in seq:
                for s in r.skill_ids:
                    out.setdefault(s, {}).setdefault(r.user_id, []).append(r.correct)
        return {s: list(u.values()) for s, u in out.items()}

    @staticmethod
    def _matrix(seqs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        t = max(len(s) for s in seqs)
        obs = np.zeros((len(seqs), t))
        mask = np.zeros((len(seqs), t), bool)
        for i, s in enumerate(seqs):
            obs[i, : len(s)] = s
            mask[i, : len(s)] = True
        return obs, mask

    @staticmethod
    def _forward(obs: np.ndarray, mask: np.ndarray, p: tuple[float, float, float, float]):
        l0, tr, g, sl = p
        n, t = obs.shape
        pred = np.zeros((n, t))  # P(L_t | obs < t)
        filt = np.zeros((n, t))  # P(L_t | obs <= t)
        cur = np.full(n, l0)
        for k in range(t):
            pred[:, k] = cur
            like_l = np.where(obs[:, k] == 1, 1 - sl, sl)
            like_u = np.where(obs[:, k] == 1, g, 1 - g)
            post = cur * like_l / (cur * like_l + (1 - cur) * like_u)
            post = np.where(mask[:, k], post, cur)
            filt[:, k] = post
            cur = post + (1 - post) * tr
        return pred, filt

    def _fit_skill(self, seqs: list[list[int]]) -> tuple[float, float, float, float]:
        obs, mask = self._matrix(seqs)
        l0, tr, g, sl = self.default
        n, t = obs.shape
        for _ in range(self.iterations):
            pred, filt = self._forward(obs, mask, (l0, tr, g, sl))
            # backward pass: smoothed P(L_k | all obs) with the no-forgetting transition
            smooth = np.zeros((n, t))
            trans_ul = np.zeros((n, t))  # P(U_k, L_{k+1} | all)
            nxt = filt[:, -1].copy()
            smooth[:, -1] = nxt
            for k in range(t - 2, -1, -1):
                valid = mask[:, k + 1]
                f = filt[:, k]
                p_next = pred[:, k + 1]  # = f + (1 - f) * tr
                # P(L_k | L_{k+1}, obs<=k) = f / p_next ; P(U_k | L_{k+1}) = (1 - f) tr / p_next; U_{k+1} implies U_k
                s_next = smooth[:, k + 1]
                ul = np.where(valid, s_next * (1 - f) * tr / np.maximum(p_next, 1e-12), 0.0)
                sm = np.where(valid, s_next * f / np.maximum(p_next, 1e-12), f)
                smooth[:, k] = sm
                trans_ul[:, k] = ul
            m = mask
            l0 = float(smooth[:, 0].mean())
            unl = ((1 - smooth) * m)[:, :-1] * m[:, 1:]
            tr = float(trans_ul[:, :-1].sum() / max(unl.sum(), 1e-9))
            g = float(((1 - smooth) * obs * m).sum() / max(((1 - smooth) * m).sum(), 1e-9))
            sl = float((smooth * (1 - obs) * m).sum() / max((smooth * m).sum(), 1e-9))
            l0, tr = min(max(l0, 1e-3), 1 - 1e-3), min(max(tr, 1e-3), 1 - 1e-3)
            g, sl = min(max(g, 1e-3), 0.45), min(max(sl, 1e-3), 0.45)
        return l0, tr, g, sl

    def fit(self, log: ResponseLog) -> BKT:
        for s, seqs in self._by_skill(log).items():
            self.params[s] = self._fit_skill(seqs)
        return self

    def predict_log(self, log: ResponseLog) -> tuple[np.ndarray, np.ndarray]:
        ys, ps = [], []
        for seq in log.sequences():
            state: dict[str, float] = {}
            for r in seq:
                probs = []
                for s in r.skill_ids:
                    l0, tr, g, sl = self.params.get(s, self.default)
                    cur = state.get(s, l0)
                    probs.append(cur * (1 - sl) + (1 - cur) * g)
                ys.append(r.correct)
                ps.append(float(np.mean(probs)) if probs else 0.5)
                for s in r.skill_ids:  # update after the whole event is predicted
                    l0, tr, g, sl = self.params.get(s, self.default)
                    cur = state.get(s, l0)
                    like_l, like_u = (1 - sl, g) if r.correct else (sl, 1 - g)
                    post = cur * like_l / (cur * like_l + (1 - cur) * like_u)
                    state[s] = post + (1 - post) * tr
        return np.asarray(ys, float), np.asarray(ps, float)


MODELS = {
    "pfa": ("pfa", {}),  # PFA + item difficulty: success and failure counts
    "pfa_recency": ("pfa_recency", {}),  # + recency features (streaks, moving averages, residuals, runs)
    "dkt": ("dkt", {}),
    "akt": ("akt", {}),
    "dkt_plain": ("dkt", {"item_embeddings": False, "head": "skill"}),
    "ensemble": ("ensemble", {}),  # the servable stack of pfa_recency, dkt and akt (question encoder) logits
}


def parse_value(text: str) -> object:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_options(text: str) -> dict[str, object]:
    """``key=value,key=value`` -> dict (ints, floats and booleans parsed); a JSON object is taken as it is."""
    if text.strip().startswith("{"):
        return dict(json.loads(text))
    out = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        out[key.strip()] = parse_value(value.strip())
    return out


def run(dataset: str, fold: int, names: list[str], epochs: int, patience: int, batch_size: int = 64,
        lr: float = 1e-3, train_opts: dict | None = None, ensembles: Sequence[str] = ()) -> dict[str, dict]:
    t0 = time.time()
    train, valid, test = load(dataset, fold)
    print(f"\n## {dataset} fold {fold}: train {train}, valid {valid}, test {test} "
          f"(read in {time.time() - t0:.1f}s)", flush=True)
    results: dict[str, dict] = {}
    in_ensemble = {m for e in ensembles for m in e.split("+")}
    aligned: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in names:
        t0 = time.time()
        model: Any
        if name == "bkt":
            model = BKT().fit(train)
            y, p = model.predict_log(test)
            extra: dict = {}
        elif name == "pybkt":
            from pybkt_bridge import pybkt_predict

            y, p = pybkt_predict(train, test, PYBKT["python"] or "", num_fits=PYBKT["num_fits"])
            extra = {"num_fits": PYBKT["num_fits"]}
        else:
            kind, cfg = MODELS[name]
            model = get_model_class(kind)(**cfg)
            opts = model.options_for_fit({"epochs": epochs, "patience": patience, "progress": True,
                                          "batch_size": batch_size, "lr": lr, **(train_opts or {})})
            print(f"{name}: {kind} {json.dumps(cfg)} {json.dumps(opts)}", flush=True)
            model.fit(train, valid, **opts)
            if kind == "ensemble":  # the members' own test AUC and their plain mean, from the same predictions
                y, z = model._member_logits(test)
                if SAVE_LOGITS["dir"]:  # for offline analysis of the combination
                    save_member_logits(Path(SAVE_LOGITS["dir"]) / f"{dataset}_fold{fold}_{name}.npz", model,
                                       valid, test, (y, z))
                p = 1 / (1 + np.exp(-model.combine_logits(z)))
                member_auc = {lab: round(metrics(y, 1 / (1 + np.exp(-zk)))["auc"], 4)
                              for lab, zk in zip(model.labels, z, strict=True)}
                mean_auc = round(metrics(y, 1 / (1 + np.exp(-z.mean(0))))["auc"], 4)
                print(f"{name}: members' test AUC {json.dumps(member_auc)}; their mean logit {mean_auc}; "
                      f"combined {json.dumps(model.metrics['combine'])}", flush=True)
            else:
                y, p = model.predict_log(test)
            if name in in_ensemble:
                aligned[name] = (y, p)  # predict_log gives every model's events in the log's order
            hist = model.metrics.get("train", {})
            extra = {"best_epoch": hist.get("best_epoch"), "seconds_per_epoch": hist.get("seconds_per_epoch"),
                     "valid_auc": hist.get("best_valid_auc"), "config": cfg,
                     "epochs": [(e["epoch"], round(e["loss"], 4), round(e["valid_auc"], 4))
                                for e in hist.get("epochs", [])]}
            if kind == "ensemble":
                extra.update(members_auc=member_auc, mean_logit_auc=mean_auc, combine=model.metrics["combine"],
                             best_epochs={k: v.get("best_epoch") for k, v in hist.items() if isinstance(v, dict)})
        m = {k: v for k, v in metrics(y, p).items() if k != "reliability"}
        m.update(extra, seconds=round(time.time() - t0, 1))
        results[name] = m
        print(f"{name:>10}: auc {m['auc']:.4f}  acc {m['accuracy']:.4f}  rmse {m['rmse']:.4f}  ece {m['ece']:.4f}  "
              f"n {m['n']}  {json.dumps(extra)}  {m['seconds']}s", flush=True)
    for ens in ensembles:
        parts = ens.split("+")
        y = aligned[parts[0]][0]
        assert all(np.array_equal(aligned[q][0], y) for q in parts)
        eps = 1e-7
        logit = np.mean([np.log(np.clip(aligned[q][1], eps, 1 - eps) / np.clip(1 - aligned[q][1], eps, 1 - eps))
                         for q in parts], 0)
        m = {k: v for k, v in metrics(y, 1 / (1 + np.exp(-logit))).items() if k != "reliability"}
        results[ens] = m
        print(f"{ens:>10}: auc {m['auc']:.4f}  acc {m['accuracy']:.4f}  rmse {m['rmse']:.4f}  ece {m['ece']:.4f}  "
              f"n {m['n']}  (mean logit of {', '.join(parts)})", flush=True)
    return results


PYBKT: dict[str, Any] = {"python": None, "num_fits": 1}  # set from the command line
SAVE_LOGITS: dict[str, str | None] = {"dir": None}


def save_member_logits(path: Path, model: Any, valid: ResponseLog, test: ResponseLog,
                       test_yz: tuple[np.ndarray, np.ndarray]) -> None:
    """An ensemble's member logits on the validation and test students, with the answers and each event's number
    of earlier answers by its student (``{valid,test}_{y,z,n_prior}``; z is [members, events]; ``labels``)."""
    def n_prior(log: ResponseLog) -> np.ndarray:
        return np.concatenate([np.arange(len(seq)) for seq in log.sequences()])

    vy, vz = model._member_logits(valid)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, labels=np.array(model.labels), valid_y=vy, valid_z=vz, valid_n_prior=n_prior(valid),
                        test_y=test_yz[0], test_z=test_yz[1], test_n_prior=n_prior(test))
    print(f"member logits saved to {path}", flush=True)


def table(all_results: dict[str, dict[int, dict[str, dict]]]) -> str:
    """One row per dataset and model: the test AUC (mean ± SD over the folds run, with their count) and the mean
    paired margins (the same folds) over BKT (pyBKT when it ran) and plain DKT."""
    lines = ["| dataset | model | AUC (folds) | margin over BKT (pyBKT if run) | over plain DKT "
             "| pyKT ref. DKT / AKT |",
             "|---|---|---|---|---|---|"]
    for ds, by_fold in all_results.items():
        ref = REFERENCE.get(ds, {})
        folds = list(by_fold.values())
        names = list(dict.fromkeys(n for res in folds for n in res))
        for name in names:
            aucs = np.array([res[name]["auc"] for res in folds if name in res])
            auc = f"{aucs.mean():.4f}" + (f" ± {aucs.std(ddof=1):.4f} ({len(aucs)})" if len(aucs) > 1 else "")
            margins = []
            for base in ("bkt", "dkt_plain"):
                diffs = [res[name]["auc"] - res[b]["auc"] for res in folds
                         for b in [("pybkt" if base == "bkt" and "pybkt" in res else base)]
                         if name in res and b in res and b != name]
                margins.append(f"{np.mean(diffs):+.4f}" if diffs else "-")
            lines.append(f"| {ds} | {name} | {auc} | {margins[0]} | {margins[1]} | "
                         f"{ref.get('DKT', '-')} / {ref.get('AKT', '-')} |")
    return "\n".join(lines)


def parse_folds(text: str) -> list[int]:
    """``1``, ``1,3`` or ``1-5`` -> the fold numbers (1 to 5)."""
    folds: list[int] = []
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        folds.extend(range(int(lo), int(hi or lo) + 1))
    if not folds or any(not 1 <= f <= 5 for f in folds):
        raise ValueError(f"folds must be among 1 to 5: {text!r}")
    return list(dict.fromkeys(folds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="assist2009,assist2015,statics2011")
    ap.add_argument("--models", default="bkt,pfa,dkt_plain,dkt,akt")
    ap.add_argument("--fold", "--folds", dest="folds", default="1", metavar="K[,K|-K]",
                    help="the folds to run: 1, 1,3 or 1-5 (a table row is the mean ± SD over them)")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--config", action="append", default=[], metavar="MODEL:K=V,...",
                    help="config overrides for one model name of the run (repeatable)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=MODEL:K=V,...",
                    help="a further model name: a base model with config overrides (repeatable)")
    ap.add_argument("--train", default="", metavar="K=V,...", help="TrainConfig options for the sequence models")
    ap.add_argument("--ensemble", action="append", default=[], metavar="A+B",
                    help="also score the mean logit of these models of the run (repeatable)")
    ap.add_argument("--pybkt-python", default=os.environ.get("PYBKT_PYTHON"), metavar="PATH",
                    help="an interpreter with pyBKT installed, for the model name 'pybkt' (bench/pybkt_bridge.py)")
    ap.add_argument("--pybkt-fits", type=int, default=1, help="pyBKT's num_fits (random restarts of its EM)")
    ap.add_argument("--save-logits", metavar="DIR",
                    help="save each ensemble's member logits on the validation and test students to DIR "
                         "(DATASET_foldK_NAME.npz)")
    args = ap.parse_args()
    if "pybkt" in args.models.split(",") and not args.pybkt_python:
        ap.error("the model 'pybkt' needs --pybkt-python PATH (or PYBKT_PYTHON); see bench/pybkt_bridge.py")
    PYBKT.update(python=args.pybkt_python, num_fits=args.pybkt_fits)
    SAVE_LOGITS["dir"] = args.save_logits
    torch.set_num_threads(args.threads)
    for spec in args.variant:
        label, _, rest = spec.partition("=")
        base, _, opts = rest.partition(":")
        kind, cfg = MODELS[base]
        MODELS[label] = (kind, {**cfg, **parse_options(opts)})
    for spec in args.config:
        label, _, opts = spec.partition(":")
        kind, cfg = MODELS[label]
        MODELS[label] = (kind, {**cfg, **parse_options(opts)})
    try:
        folds = parse_folds(args.folds)
    except ValueError as exc:
        ap.error(str(exc))
    all_results: dict[str, dict[int, dict[str, dict]]] = {}
    for ds in args.datasets.split(","):
        for fold in folds:
            all_results.setdefault(ds, {})[fold] = run(ds, fold, args.models.split(","), args.epochs, args.patience,
                                                       args.batch_size, args.lr, parse_options(args.train),
                                                       args.ensemble)
            if len(folds) > 1:
                print("\n" + table({ds: all_results[ds]}), flush=True)  # the folds so far
            if args.json:  # after every fold: a long run stopped half-way keeps what it measured
                Path(args.json).write_text(json.dumps(all_results, indent=1, default=float))
    print("\n" + table(all_results))


if __name__ == "__main__":
    main()
