"""Per-skill knowledge tracking for the policy's mastery decisions: a discrete learning-curve HMM fitted on a log.

The knowledge-tracing model's P(correct) is the right input for choosing an item of the right difficulty, but a poor
stopping rule on its own: with real slip rates a learner who knows a skill answers only 70-80 % of its items
correctly, so no threshold on P(correct) separates "knows it but slips" from "not learned yet"; and a count-based
model (PFA) climbs ever more slowly with practice, so a fixed threshold on it over-practises some skills.

:class:`SkillTracker` keeps, per skill, a posterior over ``K`` ordered knowledge levels (``K = 2`` is Bayesian
knowledge tracing: unknown / known). Practice moves a learner up one level with a per-level probability; each level
has its own success rate (level 0's is the guess rate, the top level's one minus the slip rate). The parameters of
each skill are fitted by EM (Baum-Welch) on a response log — the course's own history, or public data — and the
number of levels is chosen per skill by held-out likelihood, so all-or-none learning gets two levels and gradual
learning gets a ladder. Mastery is **the posterior probability of the top level**: relative to the skill's own
ceiling, not to an absolute success rate, and driven by the order of the answers (a recent run of successes after
early failures counts as it should).

Pure numpy; the per-learner state is a small JSON-able dict ``{skill: [p_level_0, ..., p_level_K-1]}``.

>>> tracker = SkillTracker({"a": LevelParams.bkt(0.3, 0.2, 0.2, 0.1)})
>>> state = tracker.init_state(["a"])
>>> for correct in (1, 1, 1):
...     state = tracker.update(state, ("a",), correct)
>>> round(tracker.mastery(state)["a"], 3)
0.988
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class LevelParams:
    """One skill's learning-curve HMM: ``init`` (K), ``advance`` (K - 1: P(level k -> k+1) per practice
    opportunity), ``success`` (K: P(correct) at each level, increasing)."""

    init: tuple[float, ...]
    advance: tuple[float, ...]
    success: tuple[float, ...]

    def __post_init__(self) -> None:
        k = len(self.success)
        if k < 2 or len(self.init) != k or len(self.advance) != k - 1:
            raise ValueError("LevelParams needs K >= 2 levels: init (K), advance (K - 1), success (K)")

    @property
    def levels(self) -> int:
        return len(self.success)

    @classmethod
    def bkt(cls, p_init: float, p_learn: float, p_guess: float, p_slip: float) -> LevelParams:
        """Classic BKT as a two-level curve."""
        return cls((1.0 - p_init, p_init), (p_learn,), (p_guess, 1.0 - p_slip))

    def to_dict(self) -> dict[str, list[float]]:
        return {"init": list(self.init), "advance": list(self.advance), "success": list(self.success)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Sequence[float]]) -> LevelParams:
        return cls(tuple(map(float, d["init"])), tuple(map(float, d["advance"])), tuple(map(float, d["success"])))

    def transition(self) -> np.ndarray:
        k = self.levels
        a = np.zeros((k, k))
        for i in range(k - 1):
            a[i, i] = 1.0 - self.advance[i]
            a[i, i + 1] = self.advance[i]
        a[k - 1, k - 1] = 1.0
        return a


# a cautious default for skills the log does not cover: BKT with typical published values
DEFAULT_PARAMS = LevelParams.bkt(0.3, 0.15, 0.2, 0.1)


class SkillTracker:
    """Posterior over knowledge levels per skill (see the module docstring)."""

    def __init__(self, params: Mapping[str, LevelParams], default: LevelParams = DEFAULT_PARAMS) -> None:
        self.params = dict(params)
        self.default = default

    def of(self, skill: str) -> LevelParams:
        return self.params.get(skill, self.default)

    # per-learner state ------------------------------------------------------------------------------------------
    def init_state(self, skills: Iterable[str] = ()) -> dict[str, list[float]]:
        return {s: list(self.of(s).init) for s in skills}

    def update(self, state: Mapping[str, Sequence[float]], skills: Sequence[str], correct: int
               ) -> dict[str, list[float]]:
        """The state after one answer on an item of ``skills`` (a new dict; the input is untouched)."""
        out = {k: list(v) for k, v in state.items()}
        for s in skills:
            p = self.of(s)
            post = np.asarray(out.get(s, p.init), dtype=float)
            if len(post) != p.levels:  # parameters changed since the state was built
                post = np.asarray(p.init, dtype=float)
            e = np.asarray(p.success) if correct else 1.0 - np.asarray(p.success)
            post = post * e
            post = post / max(post.sum(), 1e-300)
            post = post @ p.transition()
            out[s] = [float(x) for x in post]
        return out

    def state_from_answers(self, answers: Iterable[tuple[Sequence[str], int]]) -> dict[str, list[float]]:
        """Fold :meth:`update` over ``(skills, correct)`` pairs (e.g. a learner's stored attempts, oldest first)."""
        state: dict[str, list[float]] = {}
        for skills, correct in answers:
            state = self.update(state, skills, correct)
        return state

    def mastery(self, state: Mapping[str, Sequence[float]], skills: Iterable[str] | None = None) -> dict[str, float]:
        """P(top level) per skill (the prior for a skill not yet practised)."""
        keys = [skills] if isinstance(skills, str) else list(skills) if skills is not None else list(state)
        out = {}
        for s in keys:
            p = self.of(s)
            post = state.get(s)
            out[s] = float(post[-1]) if post is not None and len(post) == p.levels else float(p.init[-1])
        return out

    def fitted_levels(self) -> dict[str, int]:
        """The number of knowledge levels fitted per skill (chosen by held-out likelihood in :meth:`fit`); skills
        not listed use the default. 2 levels = all-or-none learning (BKT-like); 3+ = graded learning."""
        return {s: p.levels for s, p in self.params.items()}

    def p_correct(self, state: Mapping[str, Sequence[float]], skill: str) -> float:
        """The tracker's own P(correct) on the skill's next item."""
        p = self.of(skill)
        post = state.get(skill)
        post = post if post is not None and len(post) == p.levels else p.init
        return float(np.dot(post, p.success))

    # persistence --------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"default": self.default.to_dict(), "params": {s: p.to_dict() for s, p in self.params.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SkillTracker:
        return cls({s: LevelParams.from_dict(p) for s, p in d["params"].items()}, LevelParams.from_dict(d["default"]))

    # fitting ------------------------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, log: Any, *, levels: Sequence[int] = (2, 3, 4), min_students: int = 30, max_len: int = 60,
            holdout: float = 0.25, seed: int = 0) -> SkillTracker:
        """Fit every skill of ``log`` (an :class:`adaptive.data.ResponseLog`) with at least ``min_students``
        students; the number of levels per skill is chosen among ``levels`` by cross-validated log-likelihood with the
        one-standard-error rule (:func:`fit_levels_select`), then refitted on all students. Skills with fewer
        students get the default."""
        per_skill = answers_by_skill(log, max_len=max_len)
        params = {}
        for s, seqs in per_skill.items():
            if len(seqs) >= min_students:
                params[s] = fit_levels_select(seqs, levels=levels, holdout=holdout, seed=seed)
        return cls(params)


def answers_by_skill(log: Any, max_len: int = 60) -> dict[str, list[list[int]]]:
    """Per skill, each student's answers on items of that skill (first ``max_len``), in order."""
    out: dict[str, list[list[int]]] = {}
    for seq in log.sequences():
        per: dict[str, list[int]] = {}
        for r in seq:
            for s in r.skill_ids:
                per.setdefault(s, []).append(int(r.correct))
        for s, ys in per.items():
            out.setdefault(s, []).append(ys[:max_len])
    return out


def _arrays(sequences: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    n = len(sequences)
    t_max = max((len(s) for s in sequences), default=1) or 1
    obs = np.zeros((n, t_max))
    mask = np.zeros((n, t_max), bool)
    for i, s in enumerate(sequences):
        obs[i, : len(s)] = s
        mask[i, : len(s)] = True
    return obs, mask


def _forward(p: LevelParams, obs: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaled forward pass: alpha [n, t, K] (filtered, before the transition), scale [n, t], emissions."""
    n, t_max = obs.shape
    succ = np.asarray(p.success)
    e = np.where(obs[..., None] == 1, succ, 1.0 - succ)
    e[~mask] = 1.0
    a = p.transition()
    alpha = np.zeros((n, t_max, p.levels))
    scale = np.zeros((n, t_max))
    prev = np.tile(np.asarray(p.init), (n, 1))
    for t in range(t_max):
        cur = prev * e[:, t]
        scale[:, t] = cur.sum(-1)
        cur /= np.maximum(scale[:, t, None], 1e-300)
        alpha[:, t] = cur
        # a padded step does not advance the learner
        prev = np.where(mask[:, t, None], cur @ a, cur)
    return alpha, scale, e


def log_likelihood(p: LevelParams, sequences: Sequence[Sequence[int]]) -> float:
    """Total log-likelihood of the sequences under ``p``."""
    return float(sequence_log_likelihoods(p, sequences).sum())


def sequence_log_likelihoods(p: LevelParams, sequences: Sequence[Sequence[int]]) -> np.ndarray:
    """Log-likelihood of each sequence under ``p`` (an array, one value per sequence)."""
    if not sequences:
        return np.zeros(0)
    obs, mask = _arrays(sequences)
    _, scale, _ = _forward(p, obs, mask)
    return np.log(np.where(mask, np.maximum(scale, 1e-300), 1.0)).sum(-1)


def fit_levels(sequences: Sequence[Sequence[int]], levels: int = 2, *, iters: int = 40, min_gap: float = 0.02,
               max_guess: float = 0.5, min_success: float = 0.01) -> LevelParams:
    """Baum-Welch for one skill's left-to-right ``levels``-level curve, vectorised over students.

    The success rates are kept increasing (each at least ``min_gap`` above the one below) so the levels stay
    ordered; level 0's success (the guess rate) is capped at ``max_guess`` so "knows it" and "guesses well" cannot
    swap."""
    obs, mask = _arrays(sequences)
    n, t_max = obs.shape
    k = levels
    init = np.full(k, 1.0 / k)
    adv = np.full(k - 1, 0.15)
    succ = np.linspace(0.25, 0.9, k)
    for _ in range(iters):
        p = LevelParams(tuple(init), tuple(adv), tuple(succ))
        alpha, scale, e = _forward(p, obs, mask)
        a = p.transition()
        beta = np.ones((n, t_max, k))
        for t in range(t_max - 2, -1, -1):
            nxt = e[:, t + 1] * beta[:, t + 1] / np.maximum(scale[:, t + 1, None], 1e-300)
            step = nxt @ a.T
            beta[:, t] = np.where(mask[:, t + 1, None], step, 1.0)
        gamma = alpha * beta
        gamma /= np.maximum(gamma.sum(-1, keepdims=True), 1e-300)
        gamma[~mask] = 0.0
        # expected k -> k+1 moves between consecutive observed steps
        valid = mask[:, 1:]
        nxt = e[:, 1:] * beta[:, 1:] / np.maximum(scale[:, 1:, None], 1e-300)  # [n, t-1, K]
        up = alpha[:, :-1, :-1] * adv * nxt[:, :, 1:]  # [n, t-1, K-1]
        stay_mass = (gamma[:, :-1, :-1] * valid[..., None]).sum((0, 1))
        init = gamma[:, 0].sum(0) / max(gamma[:, 0].sum(), 1e-12)
        init = np.clip(init, 1e-3, None)
        init /= init.sum()
        adv = np.clip((up * valid[..., None]).sum((0, 1)) / np.maximum(stay_mass, 1e-9), 1e-3, 0.9)
        right = (gamma * obs[..., None]).sum((0, 1))
        total = np.maximum(gamma.sum((0, 1)), 1e-9)
        succ = np.clip(right / total, min_success, 1 - min_success)
        succ[0] = min(succ[0], max_guess)
        for j in range(1, k):
            succ[j] = max(succ[j], succ[j - 1] + min_gap)
        succ = np.clip(succ, min_success, 1 - min_success)
    return LevelParams(tuple(float(x) for x in init), tuple(float(x) for x in adv), tuple(float(x) for x in succ))


def fit_levels_select(sequences: Sequence[Sequence[int]], *, levels: Sequence[int] = (2, 3, 4), holdout: float = 0.25,
                      seed: int = 0, iters: int = 40) -> LevelParams:
    """The number of levels chosen by cross-validated log-likelihood, refitted on all students.

    Students are split at random into ``round(1 / holdout)`` folds; each is held out once, so every student's
    sequence is scored by a fit that did not see it. Among ``levels``, the **fewest** levels whose held-out
    log-likelihood is within one standard error of the best are chosen (the one-standard-error rule; the error is
    that of the paired per-student difference): a richer curve must fit clearly better, not just by the noise of one
    split. This is what keeps all-or-none (BKT-like) skills at 2 levels when a 3rd or 4th level only fits noise."""
    ks = sorted(dict.fromkeys(int(k) for k in levels))
    if len(ks) == 1 or len(sequences) < 4:
        return fit_levels(sequences, ks[0], iters=iters)
    order = list(range(len(sequences)))
    random.Random(seed).shuffle(order)
    n_folds = min(len(sequences), max(2, round(1.0 / holdout)))
    folds = [order[f::n_folds] for f in range(n_folds)]
    scores = {k: np.zeros(len(sequences)) for k in ks}
    for fold in folds:
        held_idx = set(fold)
        train = [sequences[i] for i in order if i not in held_idx]
        held = [sequences[i] for i in fold]
        for k in ks:
            scores[k][fold] = sequence_log_likelihoods(fit_levels(train, k, iters=iters), held)
    best = max(ks, key=lambda k: float(scores[k].sum()))
    chosen = best
    for k in ks:
        if k >= best:
            break
        diff = scores[best] - scores[k]
        if float(diff.sum()) <= float(diff.std(ddof=1)) * math.sqrt(len(diff)):
            chosen = k
            break
    return fit_levels(sequences, chosen, iters=iters)
