"""PFA with item difficulty (an IRT + PFA logistic model with Gaussian priors): the interpretable baseline.

    logit P(correct) = bias + easiness[item]
                       + mean over the item's skills s of (beta[s] + gamma[s] * log1p(S_s) + rho[s] * log1p(F_s))
                       + gamma_all * log1p(S_all) + rho_all * log1p(F_all)
                       + w . recency features (``recency=True``: the ``pfa_recency`` model)

The recency features (:class:`Recency`, one weight each) say what counts cannot: how the student's latest answers
went. Per skill of the item (averaged over its skills): the current streak of right or wrong answers on it (at least
1, 2, 3), exponential moving averages of its answers (+1 right, -1 wrong) with decays 0.5, 0.8 and 0.95, the
residuals of its answers (1/0 minus the item's success rate in training: moving averages with decays 0.8 and 0.95,
and their mean), and whether the skill is new to the student. Over all skills: the last answer, the moving averages
and the residuals of every answer, how often this very item was answered before and how it went last time, and
whether the item has the same skills as the previous one (with the length of that run). In the spirit of Gervet et
al.'s "best-LR" (2020), R-PFA and Elo: see bench/README.md for what they add.

``S_s`` / ``F_s`` are the student's earlier successes / failures on skill ``s``, ``S_all`` / ``F_all`` on any
skill. Every parameter has a Gaussian prior (MAP fit by L-BFGS, a convex problem, run to its optimum: see
``_fit_map``), and the prior means are the
untrained model: P(correct) starts at 0.7 and moves up with successes and down with failures, so the model works
from the first response with no training data. Unknown items have easiness 0 (an average item of their skills),
shifted by the author's seed when there is one (``KTModel.item_priors``); a trained item's easiness has the seed as
its prior mean (the data moves it away from the author's guess as answers accumulate). Unknown skills use the
prior-mean skill parameters (row 0), still with their own counts.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from adaptive.data import Response, ResponseLog
from adaptive.models.base import MAX_SKILLS, Candidates, KTModel, Vocab
from adaptive.state import State


@dataclasses.dataclass
class PFAConfig:
    bias: float = math.log(0.7 / 0.3)  # prior mean of the intercept: P = 0.7 for a newcomer
    gamma: float = 0.25  # prior mean of the success weight (per log1p count)
    rho: float = -0.15  # prior mean of the failure weight
    gamma_all: float = 0.1
    rho_all: float = -0.1
    sd_item: float = 1.0  # prior standard deviations
    sd_skill: float = 1.0
    sd_slope: float = 0.5
    max_iter: int = 1000  # at most this many L-BFGS iterations (it stops when converged: 125-200 on ASSIST2009)
    recency: bool = False  # the recency features (on in ``pfa_recency``)
    sd_recency: float = 1.0  # prior SD of their weights (prior mean 0: an untrained model ignores them)
    rate_prior: float = 5.0  # an item's success rate (for the residuals) counts this many answers at the mean rate


@dataclasses.dataclass
class PFARecencyConfig(PFAConfig):
    recency: bool = True


RECENCY_DECAYS = (0.5, 0.8, 0.95)
RESIDUAL_DECAYS = (0.8, 0.95)
SKILL_RECENCY = ("right_streak_1", "right_streak_2", "right_streak_3", "wrong_streak_1", "wrong_streak_2",
                 "wrong_streak_3", "skill_ema_0.5", "skill_ema_0.8", "skill_ema_0.95", "skill_residual_0.8",
                 "skill_residual_0.95", "skill_residual_mean", "new_skill")
GLOBAL_RECENCY = ("last", "ema_0.5", "ema_0.8", "ema_0.95", "residual_0.8", "residual_0.95", "residual_mean",
                  "log1p_item_attempts", "item_last", "same_skills", "log1p_same_skills_run")


class Recency:
    """A student's recent answers, from which the recency features are computed: in training (one pass over each
    student's events) and when serving (kept in ``state.data["recency"]``, JSON-able, keyed by raw item and skill
    ids so it survives retraining).

    - ``skills``: per skill, ``[streak, ema_0.5, ema_0.8, ema_0.95, residual_0.8, residual_0.95, residual sum,
      answers]`` (streak > 0: right answers in a row, < 0: wrong ones; a residual is the answer (1/0) minus the
      item's success rate in training: how much better than the average student the student does on the same
      items);
    - ``last`` / ``emas`` / ``residuals``: the last answer (+1/-1), the moving averages over every answer, and the
      residuals' ``[residual_0.8, residual_0.95, sum, answers]`` over every answer;
    - ``items``: per item answered, ``[attempts, last answer as +1/-1]``, the ``max_items`` most recently answered
      items only (oldest first; an item answered again moves to the end), so a state stays bounded however long
      the student practises. Training computes its features through the same ``add``, so it forgets alike;
    - ``prev`` / ``run``: the previous answer's skills and how many answers in a row had exactly those skills.
    """

    max_items = 1000

    def __init__(self, data: Mapping[str, Any] | None = None, copy: bool = True) -> None:
        """From ``to_data``'s dict (``copy=False``: share its containers, for reading only). ``add`` replaces the
        per-skill and per-item lists rather than changing them, so a copy need not copy them (a state's update
        stays cheap however many items the student answered)."""
        data = data or {}
        self.skills: dict[str, list[float]] = (
            dict(data.get("skills", {})) if copy else data.get("skills", {}))
        self.last = float(data.get("last", 0.0))
        self.emas: list[float] = list(data.get("emas", [0.0] * len(RECENCY_DECAYS)))
        self.residuals: list[float] = list(data.get("residuals", [0.0] * (len(RESIDUAL_DECAYS) + 2)))
        self.items: dict[str, list[float]] = dict(data.get("items", {})) if copy else data.get("items", {})
        self.prev: list[str] = list(data.get("prev", []))
        self.run = int(data.get("run", 0))

    def to_data(self) -> dict[str, Any]:
        return {"skills": self.skills, "last": self.last, "emas": self.emas, "residuals": self.residuals,
                "items": self.items, "prev": self.prev, "run": self.run}

    def skill_features(self, skill: str) -> list[float]:
        """The ``SKILL_RECENCY`` values of one skill."""
        rec = self.skills.get(skill)
        if rec is None:
            return [0.0] * (len(SKILL_RECENCY) - 1) + [1.0]
        st, k = rec[0], len(RECENCY_DECAYS) + len(RESIDUAL_DECAYS)
        return [float(st >= 1), float(st >= 2), float(st >= 3), float(st <= -1), float(st <= -2), float(st <= -3),
                *rec[1 : 1 + k], rec[1 + k] / (rec[2 + k] + 1), 0.0]

    def global_features(self, item_id: str, skills: Sequence[str]) -> list[float]:
        """The ``GLOBAL_RECENCY`` values for an item with these skills."""
        attempts, last = self.items.get(item_id, (0.0, 0.0))
        same = bool(self.prev) and sorted(skills) == self.prev
        res, k = self.residuals, len(RESIDUAL_DECAYS)
        return [self.last, *self.emas, *res[:k], res[k] / (res[k + 1] + 1), math.log1p(attempts), last, float(same),
                math.log1p(self.run) if same else 0.0]

    @staticmethod
    def _add_residual(acc: list[float], residual: float) -> None:
        """Fold a residual into ``[moving averages..., sum, answers]`` (in place)."""
        for j, d in enumerate(RESIDUAL_DECAYS):
            acc[j] = d * acc[j] + (1 - d) * residual
        acc[-2] += residual
        acc[-1] += 1

    def add(self, item_id: str, skills: Sequence[str], correct: int, expected: float) -> None:
        """Fold in an answer to ``item_id``; ``expected``: the item's success rate in training."""
        v = 1.0 if correct else -1.0
        k = 1 + len(RECENCY_DECAYS)
        for s in skills:
            old = self.skills.get(s)
            rec = list(old) if old is not None else [0.0] * (k + len(RESIDUAL_DECAYS) + 2)
            self.skills[s] = rec  # a new list: the old one may be shared with the state this one was copied from
            st = rec[0]
            rec[0] = (st + 1 if st > 0 else 1.0) if correct else (st - 1 if st < 0 else -1.0)
            for j, d in enumerate(RECENCY_DECAYS):
                rec[1 + j] = d * rec[1 + j] + (1 - d) * v
            tail = rec[k:]
            self._add_residual(tail, correct - expected)
            rec[k:] = tail
        self.last = v
        self.emas = [d * e + (1 - d) * v for d, e in zip(RECENCY_DECAYS, self.emas, strict=True)]
        self._add_residual(self.residuals, correct - expected)
        attempts, _ = self.items.pop(item_id, (0.0, 0.0))
        self.items[item_id] = [attempts + 1, v]  # (re)inserted last: the dict is in order of last answer
        if len(self.items) > self.max_items:
            del self.items[next(iter(self.items))]
        key = sorted(skills)
        self.run = self.run + 1 if key == self.prev else 1
        self.prev = key


class PFANet(nn.Module):
    easiness_prior: torch.Tensor

    def __init__(self, n_items: int, n_skills: int, cfg: PFAConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.bias = nn.Parameter(torch.tensor(cfg.bias))
        self.easiness = nn.Parameter(torch.zeros(n_items))
        self.beta = nn.Parameter(torch.zeros(n_skills))
        self.gamma = nn.Parameter(torch.full((n_skills,), cfg.gamma))
        self.rho = nn.Parameter(torch.full((n_skills,), cfg.rho))
        self.slopes_all = nn.Parameter(torch.tensor([cfg.gamma_all, cfg.rho_all]))
        if cfg.recency:  # one weight per recency feature: SKILL_RECENCY, then GLOBAL_RECENCY
            self.recency = nn.Parameter(torch.zeros(len(SKILL_RECENCY) + len(GLOBAL_RECENCY)))
            # each item's success rate in training (row 0: every answer's, for unknown items), for the residuals
            self.register_buffer("item_rate", torch.full((n_items,), 1 / (1 + math.exp(-cfg.bias))))
        # prior means of the easiness (minus the authors' seeds); not saved: it only matters while fitting
        self.register_buffer("easiness_prior", torch.zeros(n_items), persistent=False)

    def forward(self, f: dict[str, torch.Tensor]) -> torch.Tensor:
        present = f["present"].float()
        s, fl = torch.log1p(f["S"]), torch.log1p(f["F"])
        sk = f["skills"]
        per_skill = (self.beta[sk] + self.gamma[sk] * s + self.rho[sk] * fl) * present
        skill_term = per_skill.sum(-1) / present.sum(-1).clamp(min=1.0)
        glob = self.slopes_all[0] * torch.log1p(f["S_all"]) + self.slopes_all[1] * torch.log1p(f["F_all"])
        z = self.bias + self.easiness[f["items"]] + skill_term + glob
        if self.cfg.recency:  # per-skill features averaged over the item's skills, then the global ones
            k = len(SKILL_RECENCY)
            rec_skill = (f["rec_skill"] * present.unsqueeze(-1)).sum(-2) / present.sum(-1, keepdim=True).clamp(min=1.0)
            z = z + rec_skill @ self.recency[:k] + f["rec_global"] @ self.recency[k:]
        return z

    def curvature(self, f: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per parameter, the sum over the rows of ``f`` of its squared coefficient in the logit (which is linear in
        the parameters): the diagonal of ``X^T X``. ``fit`` scales its variables by it (a diagonal preconditioner:
        it changes how fast L-BFGS converges, never what it converges to)."""
        present = f["present"].to(self.bias.dtype)
        coef = present / present.sum(-1, keepdim=True).clamp(min=1.0)  # each skill's share of the skill term
        sk = f["skills"].flatten()

        def per_skill(x: torch.Tensor) -> torch.Tensor:
            return torch.bincount(sk, weights=(x**2).flatten(), minlength=len(self.beta)).to(self.bias.dtype)

        out = {
            "bias": torch.tensor(float(len(f["items"])), dtype=self.bias.dtype),
            "easiness": torch.bincount(f["items"], minlength=len(self.easiness)).to(self.bias.dtype),
            "beta": per_skill(coef),
            "gamma": per_skill(coef * torch.log1p(f["S"])),
            "rho": per_skill(coef * torch.log1p(f["F"])),
            "slopes_all": torch.stack([(torch.log1p(f["S_all"]) ** 2).sum(), (torch.log1p(f["F_all"]) ** 2).sum()]),
        }
        if self.cfg.recency:
            rec_skill = (f["rec_skill"] * coef.unsqueeze(-1)).sum(-2)
            out["recency"] = torch.cat([(rec_skill**2).sum(0), (f["rec_global"] ** 2).sum(0)])
        return {k: v.to(self.bias.dtype) for k, v in out.items()}

    def prior_precision(self) -> dict[str, float]:
        """Each parameter's prior precision (1 / SD^2; see ``prior_penalty``)."""
        c = self.cfg
        slope = 1 / c.sd_slope**2
        return {"bias": 1 / c.sd_skill**2, "easiness": 1 / c.sd_item**2, "beta": 1 / c.sd_skill**2, "gamma": slope,
                "rho": slope, "slopes_all": slope, "recency": 1 / c.sd_recency**2}

    def prior_penalty(self) -> torch.Tensor:
        """Minus the log prior, up to a constant: ``precision / 2 * (value - prior mean)^2`` over the parameters."""
        c, precision = self.cfg, self.prior_precision()
        deviations = {
            "easiness": self.easiness[1:] - self.easiness_prior[1:],  # row 0 (unknown items) is not fitted
            "beta": self.beta,
            "gamma": self.gamma - c.gamma,
            "rho": self.rho - c.rho,
            "slopes_all": self.slopes_all - torch.tensor([c.gamma_all, c.rho_all]),
            "bias": self.bias - c.bias,
        }
        if c.recency:
            deviations["recency"] = self.recency
        return torch.stack([precision[k] / 2 * (d**2).sum() for k, d in deviations.items()]).sum()


class _Scaled(nn.Module):
    """A parametrisation ``theta = u * scale`` (the fit's change of variables)."""

    scale: torch.Tensor

    def __init__(self, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return u * self.scale

    def right_inverse(self, theta: torch.Tensor) -> torch.Tensor:
        return theta / self.scale


FIT_CHUNK = 25  # L-BFGS iterations between convergence checks (and progress updates)
FIT_TOLERANCE = 1e-7  # converged when a chunk lowers the mean objective by less than this


def _fit_map(net: PFANet, feats: dict[str, torch.Tensor], y: torch.Tensor, max_iter: int, *, progress: bool = False,
             desc: str = "fit") -> dict[str, Any]:
    """The MAP fit: full-batch L-BFGS on the mean penalised log loss, run to convergence.

    The objective is convex, so its optimum is unique and the fit's result should not depend on the path. Two
    things make it so in practice: the fit runs in float64 (in float32 the line search stalls on loss differences
    under the sum's rounding, and two runs with two threads stopped at different points, 0.0005 test AUC apart),
    and the variables are scaled by the curvature's diagonal (``PFANet.curvature``; item and skill parameters seen
    in a handful of rows or in thousands differ in curvature by orders of magnitude: unscaled, L-BFGS took about 800
    iterations on ASSIST2009 to reach the test AUC that scaled it reaches in about 50). It stops when ``FIT_CHUNK``
    iterations lower the objective by less than ``FIT_TOLERANCE``, or after ``max_iter`` iterations. The weights
    are float32 again after.
    """
    from torch.nn.utils import parametrize

    net.double()
    feats64 = {k: (v.double() if v.is_floating_point() else v) for k, v in feats.items()}
    y64 = y.double()
    n = len(y64)
    precision = net.prior_precision()
    with torch.no_grad():  # p(1 - p) is about 0.2 around the prior mean P = 0.7
        scales = {k: (0.2 * d + precision[k]).rsqrt() for k, d in net.curvature(feats64).items()}
    for name, scale in scales.items():
        parametrize.register_parametrization(net, name, _Scaled(scale))
    bce = nn.BCEWithLogitsLoss(reduction="sum")

    def objective() -> torch.Tensor:
        return (bce(net(feats64), y64) + net.prior_penalty()) / n

    opt = torch.optim.LBFGS(net.parameters(), lr=1, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-12)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=max_iter, desc=desc, unit="it")
    net.train()
    with torch.no_grad():
        last = float(objective())
    done, converged = 0, False
    try:
        while done < max_iter:
            chunk = min(FIT_CHUNK, max_iter - done)
            opt.param_groups[0].update(max_iter=chunk, max_eval=4 * chunk)
            opt.step(closure)
            steps = int(opt.state[opt.param_groups[0]["params"][0]]["n_iter"]) - done
            done += steps
            with torch.no_grad():
                now = float(objective())
            if bar is not None:
                bar.update(steps)
                bar.set_postfix(objective=f"{now:.6f}")
            if last - now < FIT_TOLERANCE:  # also when L-BFGS stopped on its own tolerances
                converged = True
                if bar is not None:  # end the bar at 100 %: max_iter is only a cap
                    bar.total = done
                    bar.refresh()
                break
            last = now
    finally:
        if bar is not None:
            bar.close()
        for name in scales:
            parametrize.remove_parametrizations(net, name, leave_parametrized=True)
        net.eval()
        net.float()
    return {"objective": now if done else last, "iterations": done, "converged": converged}


class PFAModel(KTModel):
    """IRT + PFA logistic baseline (see the module docstring)."""

    name = "pfa"
    Config = PFAConfig
    fit_options = ("seed", "max_iter", "progress")

    def build_net(self) -> nn.Module:
        return PFANet(self.vocab.n_items, self.vocab.n_skills, self.config)

    # features ---------------------------------------------------------------------------------------------------
    def features(self, log: ResponseLog, own: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, torch.Tensor]:
        """One row per event, from the student's earlier events only. ``own``: the training log's (right answers,
        answers) per item, when ``log`` is that log: each residual then uses its item's rate without the answer
        itself (a student's own answers do not make their residuals look smaller than a new student's)."""
        rows_items: list[int] = []
        rows_sk: list[list[int]] = []
        rows_s: list[list[float]] = []
        rows_f: list[list[float]] = []
        glob: list[tuple[float, float]] = []
        rec_sk: list[list[list[float]]] = []
        rec_gl: list[list[float]] = []
        recency = self.config.recency
        if recency:
            rate = cast(torch.Tensor, cast(PFANet, self.net).item_rate).tolist()
            prior, base = self.config.rate_prior, rate[0]
        y: list[float] = []
        for seq in log.sequences():
            counts: dict[str, list[int]] = {}
            s_all = f_all = 0
            rec = Recency()
            for r in seq:
                raw = (r.skill_ids or self.skills_of(r.item_id))[:MAX_SKILLS]
                idx = self.vocab.items.get(r.item_id, 0)
                if recency:
                    rec_sk.append([rec.skill_features(s) for s in raw])
                    rec_gl.append(rec.global_features(r.item_id, raw))
                    if own is not None and idx:  # leave this answer out of its item's rate
                        expected = (own[0][idx] - r.correct + prior * base) / (own[1][idx] - 1 + prior)
                    else:
                        expected = rate[idx]
                    rec.add(r.item_id, raw, r.correct, expected)
                rows_items.append(idx)
                rows_sk.append([self.vocab.skills.get(s, 0) for s in raw])
                rows_s.append([counts.get(s, (0, 0))[0] for s in raw])
                rows_f.append([counts.get(s, (0, 0))[1] for s in raw])
                glob.append((s_all, f_all))
                y.append(r.correct)
                for s in raw:
                    counts.setdefault(s, [0, 0])[0 if r.correct else 1] += 1
                s_all += r.correct
                f_all += 1 - r.correct
        n = len(y)
        k = max((len(x) for x in rows_sk), default=1) or 1
        sk = np.zeros((n, k), np.int64)
        present = np.zeros((n, k), bool)
        s_arr = np.zeros((n, k), np.float32)
        f_arr = np.zeros((n, k), np.float32)
        for i in range(n):
            m = len(rows_sk[i])
            sk[i, :m] = rows_sk[i]
            present[i, :m] = True
            s_arr[i, :m] = rows_s[i]
            f_arr[i, :m] = rows_f[i]
        g = np.asarray(glob, np.float32).reshape(-1, 2)
        out = {}
        if recency:
            rs = np.zeros((n, k, len(SKILL_RECENCY)), np.float32)
            for i, rows in enumerate(rec_sk):
                if rows:
                    rs[i, : len(rows)] = rows
            out = {"rec_skill": torch.from_numpy(rs),
                   "rec_global": torch.tensor(rec_gl, dtype=torch.float32).reshape(n, len(GLOBAL_RECENCY))}
        return out | {
            "items": torch.tensor(rows_items, dtype=torch.long),
            "skills": torch.from_numpy(sk),
            "present": torch.from_numpy(present),
            "S": torch.from_numpy(s_arr),
            "F": torch.from_numpy(f_arr),
            "S_all": torch.from_numpy(g[:, 0].copy()),
            "F_all": torch.from_numpy(g[:, 1].copy()),
            "y": torch.tensor(y, dtype=torch.float32),
        }

    # training ---------------------------------------------------------------------------------------------------
    def fit(self, log: ResponseLog, valid: ResponseLog | None = None, **options: Any) -> PFAModel:
        """MAP fit by full-batch L-BFGS to convergence (no randomness; options ``max_iter``, ``progress``)."""
        from adaptive.evaluate import evaluate_model

        if len(log) == 0:
            raise ValueError("cannot fit on an empty log")
        unknown = set(options) - {"max_iter", "seed", "progress", "device", "epochs", "batch_size", "lr",
                                  "patience", "max_len", "weight_decay", "min_epochs"}
        if unknown:
            raise ValueError(f"{self.name}: unknown training option(s) {sorted(unknown)}")
        t0 = time.time()
        self.vocab = Vocab.build(log)
        self._cand_cache.clear()
        self.net = self.build_net()
        self.fingerprint = f"{self.name}-{__import__('uuid').uuid4().hex[:12]}"
        net = cast(PFANet, self.net)
        own = None
        if self.config.recency:  # the items' success rates, shrunk towards the mean by rate_prior answers
            own = self._item_counts(log)
            base = own[0][1:].sum() / max(own[1][1:].sum(), 1.0)
            prior = self.config.rate_prior
            rate = (own[0] + prior * base) / (own[1] + prior)
            rate[0] = base
            cast(torch.Tensor, net.item_rate).copy_(torch.from_numpy(rate))
        feats = self.features(log, own)
        y = feats.pop("y")
        with torch.no_grad():
            for item, seed in self.item_priors.items():
                idx = self.vocab.items.get(item)
                if idx is not None:
                    net.easiness_prior[idx] = -seed
                    net.easiness[idx] = -seed  # start at the prior mean
        fit = _fit_map(net, feats, y, int(options.get("max_iter", self.config.max_iter)),
                       progress=bool(options.get("progress")), desc=f"fit {self.name}")
        self.metrics = {"train": {"objective": fit["objective"], "n": len(y), "iterations": fit["iterations"],
                                  "converged": fit["converged"]},
                        "fit_seconds": round(time.time() - t0, 2),
                        "n_train_students": log.n_students, "n_train_responses": len(log)}
        if valid is not None and len(valid):
            self.metrics["valid"] = {k: v for k, v in evaluate_model(self, valid).items() if k != "reliability"}
        return self

    def _item_counts(self, log: ResponseLog) -> tuple[np.ndarray, np.ndarray]:
        """(right answers, answers) per vocabulary item (float64, row 0 unused)."""
        right = np.zeros(self.vocab.n_items)
        total = np.zeros(self.vocab.n_items)
        for seq in log.sequences():
            for r in seq:
                idx = self.vocab.items.get(r.item_id, 0)
                right[idx] += r.correct
                total[idx] += 1
        return right, total

    @torch.no_grad()
    def predict_log(self, log: ResponseLog, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        feats = self.features(log)
        y = feats.pop("y")
        return y.double().numpy(), torch.sigmoid(self.net(feats)).double().numpy()

    # incremental ------------------------------------------------------------------------------------------------
    def _state_data(self) -> dict[str, Any]:
        return {"S_all": 0, "F_all": 0}

    def _advance(self, state: State, item: int, skills: torch.Tensor, correct: int, response: Response) -> None:
        key = "S_all" if correct else "F_all"
        state.data = dict(state.data)
        state.data[key] = int(state.data.get(key, 0)) + 1
        if self.config.recency:
            rec = Recency(state.data.get("recency"))
            rec.add(response.item_id, (response.skill_ids or self.skills_of(response.item_id))[:MAX_SKILLS],
                    correct, float(cast(torch.Tensor, cast(PFANet, self.net).item_rate)[item]))
            state.data["recency"] = rec.to_data()

    def _score(self, state: State, cands: Candidates) -> torch.Tensor:
        names: Sequence[str] = cands.skill_names
        s_by = torch.tensor([0.0] + [float(state.counts.get(s, (0, 0))[0]) for s in names[1:]])
        f_by = torch.tensor([0.0] + [float(state.counts.get(s, (0, 0))[1]) for s in names[1:]])
        keys = cands.skill_keys
        n = len(cands)
        memo_key = f"pfa:skills:{self.fingerprint}"
        skills = cands.memo.get(memo_key)
        if skills is None:  # the candidates' skills in this model's vocabulary, once per candidate set
            skills = cands.memo[memo_key] = (self._vocab_index(names)[keys], keys > 0)
        feats = {
            "items": cands.items,
            "skills": skills[0],
            "present": skills[1],
            "S": s_by[keys],
            "F": f_by[keys],
            "S_all": torch.full((n,), float(state.data.get("S_all", 0))),
            "F_all": torch.full((n,), float(state.data.get("F_all", 0))),
        }
        if self.config.recency:
            feats |= self._recency_features(Recency(state.data.get("recency"), copy=False), cands)
        return self.net(feats)

    @staticmethod
    def _recency_features(rec: Recency, cands: Candidates) -> dict[str, torch.Tensor]:
        """The recency features of every candidate: the same values ``features`` computes in training."""
        names = cands.skill_names  # index 0 is "no skill"
        per_skill = torch.tensor([[0.0] * len(SKILL_RECENCY)] + [rec.skill_features(s) for s in names[1:]])
        n = len(cands)
        glob = np.tile(np.asarray(rec.global_features("", ()), np.float32), (n, 1))
        positions = cands.memo.get("pfa:positions")
        if positions is None:  # item id -> its rows among the candidates, once per candidate set
            positions = {}
            for i, item_id in enumerate(cands.ids):
                positions.setdefault(item_id, []).append(i)
            cands.memo["pfa:positions"] = positions
        col = GLOBAL_RECENCY.index("log1p_item_attempts")  # then item_last
        for item_id, (attempts, last) in rec.items.items():  # the items answered so far (fewer than candidates)
            for i in positions.get(item_id, ()):
                glob[i, col] = math.log1p(attempts)
                glob[i, col + 1] = last
        glob_t = torch.from_numpy(glob)
        if rec.prev:  # candidates with exactly the previous answer's skills
            keys = cands.skill_keys
            prev = set(rec.prev)
            in_prev = torch.tensor([False] + [s in prev for s in names[1:]])
            present = keys > 0
            same = (in_prev[keys] | ~present).all(-1) & (present.sum(-1) == len(prev))
            glob_t[:, -2] = same.float()
            glob_t[:, -1] = same.float() * math.log1p(rec.run)
        return {"rec_skill": per_skill[cands.skill_keys], "rec_global": glob_t}

    def _vocab_index(self, names: Sequence[str]) -> torch.Tensor:
        return torch.tensor([self.vocab.skills.get(s, 0) for s in names], dtype=torch.long)

    # interpretation ---------------------------------------------------------------------------------------------
    def item_difficulty(self) -> dict[str, float]:
        """Estimated difficulty (minus easiness) of each training item, on the logit scale."""
        e = cast(PFANet, self.net).easiness.detach().numpy()
        return {it: -float(e[i]) for it, i in self.vocab.items.items()}

    def skill_parameters(self) -> dict[str, dict[str, float]]:
        n = cast(PFANet, self.net)
        return {s: {"beta": float(n.beta[i]), "gamma": float(n.gamma[i]), "rho": float(n.rho[i])}
                for s, i in self.vocab.skills.items()}


class PFARecencyModel(PFAModel):
    """The baseline with its recency features on: a stronger predictor on the public datasets (the ensemble's
    default member), kept apart from ``pfa`` because the features also learn how the training data's items were
    sequenced (runs of one skill, repeats, streaks before a skill is left): in the policy simulations
    (tests/adaptive_policy) a policy driven by it needs more items than one driven by plain ``pfa``, so the
    untrained baseline and the policy's default stay ``pfa``."""

    name = "pfa_recency"
    Config = PFARecencyConfig

