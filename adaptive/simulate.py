"""Simulated students for evaluating next-item policies (``bench/policy_sim.py`` runs the comparison).

Two *different* student models, so a policy is never graded only by the model it uses to choose:

- :class:`BKTLearner`: Bayesian knowledge tracing per skill (a hidden known/unknown state, learning after each
  practice opportunity, guess and slip). Parameters drawn from per-skill fits (:func:`fit_bkt`, EM) on public data.
- :class:`LogisticLearner`: an additive-factors (IRT with learning) learner: ``P = sigmoid(ability + theta[s] -
  difficulty[item])`` where ``theta[s]`` grows with each practice of ``s``. Parameters from per-skill logistic fits
  (:func:`fit_afm`) on public data.

In both, learning a skill whose prerequisites are not yet truly mastered is slowed down (``prereq_penalty``) — the
reason prerequisite graphs exist. *Truly mastered* is the simulator's ground truth (BKT: in the known state;
logistic: P(correct) on an average item of the skill >= ``true_mastery_p``), which no policy sees.

Policies (:class:`FixedOrder`, :class:`RandomOrder`, :class:`MasteryRule`, :class:`AdaptivePolicy`) see only item
ids and answers. :func:`run_policy` plays one policy against a population and reports items used, share of skills
truly mastered at the stop, items to mastery and learning per item.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from adaptive.data import Response, ResponseLog
from adaptive.mastery import SkillTracker
from adaptive.policy import LearnerView, PolicyConfig, PolicyItem, choose, combined_mastery


# --- curriculum ---------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Curriculum:
    skills: list[str]  # in a topological order of the prerequisite graph
    prerequisites: dict[str, list[str]]
    items: list[PolicyItem]
    difficulty: dict[str, float]  # item id -> logit difficulty (0 = average)
    index: dict[str, int] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {it.item_id: i for i, it in enumerate(self.items)}

    def skills_of(self, item_id: str) -> tuple[str, ...]:
        return self.items[self.index[item_id]].skills

    def items_of(self, skill: str) -> list[PolicyItem]:
        return [it for it in self.items if skill in it.skills]


def make_curriculum(n_skills: int = 8, items_per_skill: int = 8, difficulty_sd: float = 0.8, seed: int = 0
                    ) -> Curriculum:
    """``n_skills`` skills in layers (each skill after the first two has one or two prerequisites among the earlier
    ones), ``items_per_skill`` single-skill items each with a normal difficulty."""
    rng = np.random.default_rng(seed)
    skills = [f"k{i}" for i in range(n_skills)]
    prereq: dict[str, list[str]] = {}
    for i in range(2, n_skills):
        n = 1 if i < 4 else 2
        prereq[skills[i]] = sorted({skills[int(j)] for j in rng.choice(i, size=min(n, i), replace=False)})
    items, diff = [], {}
    for s in skills:
        for j in range(items_per_skill):
            iid = f"{s}-q{j}"
            items.append(PolicyItem(iid, (s,)))
            diff[iid] = float(rng.normal(0.0, difficulty_sd))
    return Curriculum(skills, prereq, items, diff)


# --- student models -----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BKTParams:
    p_init: float
    p_learn: float
    p_guess: float
    p_slip: float


@dataclasses.dataclass(frozen=True)
class AFMParams:
    intercept: float  # logit P(correct) at the first opportunity, average student and item
    slope: float  # logit gained per practice opportunity


class Learner:
    """A simulated student: answers items, learns from practice; knows its own true mastery."""

    def __init__(self, curriculum: Curriculum, rng: np.random.Generator, prereq_penalty: float) -> None:
        self.c = curriculum
        self.rng = rng
        self.prereq_penalty = prereq_penalty

    def answer(self, item: str) -> int:
        correct = int(self.rng.random() < self.p_correct(item))
        self.learn(self.c.skills_of(item), correct)
        return correct

    def prereqs_ok(self, skill: str) -> bool:
        return all(self.mastered(q) for q in self.c.prerequisites.get(skill, ()))

    def share_mastered(self) -> float:
        return sum(self.mastered(s) for s in self.c.skills) / len(self.c.skills)

    # implemented by each model
    def p_correct(self, item: str) -> float:
        raise NotImplementedError

    def learn(self, skills: Sequence[str], correct: int) -> None:
        raise NotImplementedError

    def mastered(self, skill: str) -> bool:
        raise NotImplementedError


class BKTLearner(Learner):
    def __init__(self, curriculum: Curriculum, params: dict[str, BKTParams], rng: np.random.Generator,
                 prereq_penalty: float = 0.25) -> None:
        super().__init__(curriculum, rng, prereq_penalty)
        self.params = params
        self.known = {s: bool(rng.random() < p.p_init) for s, p in params.items()}

    def p_correct(self, item: str) -> float:
        s = self.c.skills_of(item)[0]
        p = self.params[s]
        # item difficulty shifts guess and slip a little around the skill's values
        d = self.c.difficulty[item]
        if self.known[s]:
            return 1.0 - min(0.5, p.p_slip * math.exp(0.5 * d))
        return min(0.5, p.p_guess * math.exp(-0.5 * d))

    def learn(self, skills: Sequence[str], correct: int) -> None:
        for s in skills:
            if not self.known[s]:
                rate = self.params[s].p_learn * (1.0 if self.prereqs_ok(s) else self.prereq_penalty)
                self.known[s] = bool(self.rng.random() < rate)

    def mastered(self, skill: str) -> bool:
        return self.known[skill]


class LogisticLearner(Learner):
    def __init__(self, curriculum: Curriculum, params: dict[str, AFMParams], ability: float,
                 rng: np.random.Generator, *, prereq_penalty: float = 0.25, true_mastery_p: float = 0.9) -> None:
        super().__init__(curriculum, rng, prereq_penalty)
        self.params = params
        self.theta = {s: ability + p.intercept for s, p in params.items()}
        self.threshold = math.log(true_mastery_p / (1 - true_mastery_p))

    def p_correct(self, item: str) -> float:
        s = self.c.skills_of(item)[0]
        return 1.0 / (1.0 + math.exp(-(self.theta[s] - self.c.difficulty[item])))

    def learn(self, skills: Sequence[str], correct: int) -> None:
        for s in skills:
            gain = self.params[s].slope * (1.0 if correct else 0.6)
            self.theta[s] += gain * (1.0 if self.prereqs_ok(s) else self.prereq_penalty)

    def mastered(self, skill: str) -> bool:
        return self.theta[skill] >= self.threshold


@dataclasses.dataclass
class Population:
    """Draws learners of one kind: ``make(rng)`` returns a fresh learner."""

    name: str
    make: Callable[[np.random.Generator], Learner]


def bkt_population(curriculum: Curriculum, fitted: Sequence[BKTParams], *, seed: int = 0,
                   prereq_penalty: float = 0.25) -> Population:
    """Each skill of the curriculum takes the parameters of one fitted skill (drawn once); each learner's prior
    knowledge varies around it."""
    rng = np.random.default_rng(seed)
    base = {s: fitted[int(rng.integers(len(fitted)))] for s in curriculum.skills}
    # prerequisite-dependent skills start less often known
    for s in curriculum.skills:
        if curriculum.prerequisites.get(s):
            b = base[s]
            base[s] = dataclasses.replace(b, p_init=b.p_init * 0.5)

    def make(r: np.random.Generator) -> Learner:
        shift = r.normal(0.0, 0.5)
        params = {s: dataclasses.replace(p, p_init=_sig(_logit(p.p_init) + shift)) for s, p in base.items()}
        return BKTLearner(curriculum, params, r, prereq_penalty)

    return Population("bkt", make)


def logistic_population(curriculum: Curriculum, fitted: Sequence[AFMParams], *, seed: int = 0,
                        ability_sd: float = 0.8, prereq_penalty: float = 0.25, true_mastery_p: float = 0.9
                        ) -> Population:
    rng = np.random.default_rng(seed + 1)
    base = {s: fitted[int(rng.integers(len(fitted)))] for s in curriculum.skills}
    for s in curriculum.skills:
        if curriculum.prerequisites.get(s):
            b = base[s]
            base[s] = dataclasses.replace(b, intercept=b.intercept - 1.0)

    def make(r: np.random.Generator) -> Learner:
        return LogisticLearner(curriculum, base, float(r.normal(0.0, ability_sd)), r, prereq_penalty=prereq_penalty,
                               true_mastery_p=true_mastery_p)

    return Population("logistic", make)


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


# --- fitting the student models on public data -------------------------------------------------------------------
def skill_sequences(log: ResponseLog, max_len: int = 50, min_students: int = 100
                    ) -> dict[str, list[tuple[float, list[int]]]]:
    """Per skill, each student's ``(ability offset, answers on that skill)`` (first ``max_len`` answers), for skills
    with enough students. The offset is the logit of the student's smoothed accuracy on *other* skills minus the
    population's: it stands in for the student's ability, without which weaker students (who need more practice
    in skill-builder data) make the learning slope look flat."""
    per_student: list[dict[str, list[int]]] = []
    for seq in log.sequences():
        per: dict[str, list[int]] = {}
        for r in seq:
            for s in r.skill_ids[:1]:
                per.setdefault(s, []).append(r.correct)
        per_student.append(per)
    total = sum(sum(len(v) for v in p.values()) for p in per_student)
    right = sum(sum(sum(v) for v in p.values()) for p in per_student)
    base = _logit(right / max(total, 1))
    out: dict[str, list[tuple[float, list[int]]]] = {}
    for per in per_student:
        n_all = sum(len(v) for v in per.values())
        c_all = sum(sum(v) for v in per.values())
        for s, ys in per.items():
            n, c = n_all - len(ys), c_all - sum(ys)
            offset = _logit((c + 2.0) / (n + 3.0)) - base  # shrunk towards 2/3
            out.setdefault(s, []).append((offset, ys[:max_len]))
    return {s: v for s, v in out.items() if len(v) >= min_students}


def fit_bkt(sequences: Sequence[Sequence[int]], iters: int = 30, max_guess_slip: float = 0.3) -> BKTParams:
    """Baum-Welch (EM) for one skill's 2-state BKT, vectorised over students; guess and slip are capped."""
    n = len(sequences)
    t_max = max(len(s) for s in sequences)
    obs = np.zeros((n, t_max))
    mask = np.zeros((n, t_max), bool)
    for i, s in enumerate(sequences):
        obs[i, : len(s)] = s
        mask[i, : len(s)] = True
    l0, tr, g, sl = 0.4, 0.15, 0.2, 0.1
    for _ in range(iters):
        # emission probabilities [n, t, state] (state 0 unknown, 1 known); 1 where padded
        e = np.stack([np.where(obs == 1, g, 1 - g), np.where(obs == 1, 1 - sl, sl)], -1)
        e[~mask] = 1.0
        a = np.array([[1 - tr, tr], [0.0, 1.0]])
        alpha = np.zeros((n, t_max, 2))
        scale = np.zeros((n, t_max))
        alpha[:, 0] = np.array([1 - l0, l0]) * e[:, 0]
        scale[:, 0] = alpha[:, 0].sum(-1)
        alpha[:, 0] /= scale[:, 0, None]
        for t in range(1, t_max):
            alpha[:, t] = (alpha[:, t - 1] @ a) * e[:, t]
            scale[:, t] = alpha[:, t].sum(-1)
            alpha[:, t] /= scale[:, t, None]
        beta = np.ones((n, t_max, 2))
        for t in range(t_max - 2, -1, -1):
            beta[:, t] = ((e[:, t + 1] * beta[:, t + 1]) @ a.T) / scale[:, t + 1, None]
        gamma = alpha * beta
        gamma /= gamma.sum(-1, keepdims=True)
        # expected unknown -> known transitions between consecutive observed steps
        xi01 = alpha[:, :-1, 0] * tr * e[:, 1:, 1] * beta[:, 1:, 1] / scale[:, 1:]
        valid = mask[:, 1:]
        l0 = float(gamma[:, 0, 1].mean())
        tr = float((xi01 * valid).sum() / max((gamma[:, :-1, 0] * valid).sum(), 1e-9))
        g = float((gamma[..., 0] * obs * mask).sum() / max((gamma[..., 0] * mask).sum(), 1e-9))
        sl = float((gamma[..., 1] * (1 - obs) * mask).sum() / max((gamma[..., 1] * mask).sum(), 1e-9))
        l0, tr = min(max(l0, 0.01), 0.95), min(max(tr, 0.01), 0.6)
        g, sl = min(max(g, 0.01), max_guess_slip), min(max(sl, 0.01), max_guess_slip)
    return BKTParams(l0, tr, g, sl)


def fit_afm(sequences: Sequence[tuple[float, Sequence[int]]], iters: int = 25, ridge: float = 1.0, first: int = 3
            ) -> AFMParams:
    """Logistic regression of correctness on the practice opportunity, with the student's ability offset as a
    fixed term (Newton), one skill. Only each student's first ``first`` answers are used, from students with at
    least that many: skill-builder logs stop a student after a streak of successes, so later opportunities are
    left to the weaker students and would flatten the slope."""
    x_list: list[int] = []
    y_list: list[int] = []
    o_list: list[float] = []
    for offset, full in sequences:
        if len(full) < first:
            continue
        ys = full[:first]
        x_list.extend(range(len(ys)))
        y_list.extend(ys)
        o_list.extend([offset] * len(ys))
    x = np.asarray(x_list, dtype=np.float64)
    y = np.asarray(y_list, dtype=np.float64)
    off = np.asarray(o_list, dtype=np.float64)
    feats = np.stack([np.ones_like(x), x], 1)
    w = np.zeros(2)
    reg = np.diag([1e-6, ridge])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(feats @ w + off)))
        grad = feats.T @ (y - p) - reg @ w
        hess = (feats * (p * (1 - p))[:, None]).T @ feats + reg
        w = w + np.linalg.solve(hess, grad)
    return AFMParams(float(w[0]), float(max(w[1], 0.02)))


def fit_student_models(log: ResponseLog, n_skills: int = 20, max_students: int = 1500, seed: int = 0
                       ) -> tuple[list[BKTParams], list[AFMParams]]:
    """BKT and AFM parameters of the ``n_skills`` skills with the most students in ``log``."""
    seqs = skill_sequences(log)
    top = sorted(seqs, key=lambda s: -len(seqs[s]))[:n_skills]
    rng = random.Random(seed)
    bkt, afm = [], []
    for s in top:
        data = seqs[s] if len(seqs[s]) <= max_students else rng.sample(seqs[s], max_students)
        bkt.append(fit_bkt([ys for _, ys in data]))
        afm.append(fit_afm(data))
    return bkt, afm


SYNTHETIC_BKT = [BKTParams(0.2, 0.2, 0.2, 0.1), BKTParams(0.35, 0.12, 0.25, 0.08), BKTParams(0.1, 0.25, 0.15, 0.1),
                 BKTParams(0.5, 0.1, 0.2, 0.12), BKTParams(0.25, 0.3, 0.2, 0.05)]
SYNTHETIC_AFM = [AFMParams(0.3, 0.25), AFMParams(-0.3, 0.3), AFMParams(0.8, 0.15), AFMParams(0.0, 0.4)]


# --- policies -----------------------------------------------------------------------------------------------------
class SimPolicy:
    """Sees only item ids and answers. ``next()`` returns an item id or ``None`` to stop."""

    name = "policy"

    def start(self, curriculum: Curriculum, rng: random.Random) -> None:
        self.c = curriculum
        self.rng = rng

    def next(self) -> str | None:
        raise NotImplementedError

    def observe(self, item: str, correct: int, t: float) -> None:
        """Called after each answer."""


class FixedOrder(SimPolicy):
    """Every skill in curriculum order, ``per_skill`` items each (cycling through the skill's items)."""

    def __init__(self, per_skill: int) -> None:
        self.per_skill = per_skill
        self.name = f"fixed-{per_skill}"

    def start(self, curriculum: Curriculum, rng: random.Random) -> None:
        super().start(curriculum, rng)
        seq: list[str] = []
        for s in curriculum.skills:
            its = curriculum.items_of(s)
            seq.extend(its[j % len(its)].item_id for j in range(self.per_skill))
        self.queue = seq[::-1]

    def next(self) -> str | None:
        return self.queue.pop() if self.queue else None


class RandomOrder(SimPolicy):
    """Uniformly random items, ``budget`` of them."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.name = f"random-{budget}"

    def start(self, curriculum: Curriculum, rng: random.Random) -> None:
        super().start(curriculum, rng)
        self.left = self.budget

    def next(self) -> str | None:
        if self.left <= 0:
            return None
        self.left -= 1
        return self.rng.choice(self.c.items).item_id


class MasteryRule(SimPolicy):
    """Curriculum order; a skill is done after ``streak`` correct answers in a row (or ``cap`` items)."""

    def __init__(self, streak: int = 3, cap: int = 20) -> None:
        self.streak, self.cap = streak, cap
        self.name = f"{streak}-in-a-row"

    def start(self, curriculum: Curriculum, rng: random.Random) -> None:
        super().start(curriculum, rng)
        self.k = 0
        self.run = 0
        self.count = 0

    def next(self) -> str | None:
        if self.k >= len(self.c.skills):
            return None
        its = self.c.items_of(self.c.skills[self.k])
        return its[self.count % len(its)].item_id

    def observe(self, item: str, correct: int, t: float) -> None:
        self.count += 1
        self.run = self.run + 1 if correct else 0
        if self.run >= self.streak or self.count >= self.cap:
            self.k += 1
            self.run = self.count = 0


class AdaptivePolicy(SimPolicy):
    """``adaptive.policy.choose`` driven by an ``adaptive`` KT model (predict_proba / mastery / update) and, when
    given, a :class:`adaptive.mastery.SkillTracker` for the mastery decisions (``criterion``: see
    :func:`adaptive.policy.combined_mastery`). Both are fitted on logs, never on the simulator's parameters."""

    def __init__(self, model: Any, config: PolicyConfig | None = None, name: str = "adaptive", *,
                 tracker: SkillTracker | None = None, criterion: str = "either") -> None:
        self.model = model
        self.config = config or PolicyConfig()
        self.name = name
        self.tracker = tracker
        self.criterion = criterion
        self.exposure: dict[str, int] = {}

    def start(self, curriculum: Curriculum, rng: random.Random) -> None:
        super().start(curriculum, rng)
        self.state = self.model.init_state()
        self.tracked: dict[str, list[float]] = self.tracker.init_state(curriculum.skills) if self.tracker else {}
        self.recent: list[str] = []
        self.last: dict[str, float] = {}
        self.t = 0.0
        self.cands = self.model.encode_candidates([(it.item_id, it.skills) for it in curriculum.items])
        self.skills_of = {it.item_id: it.skills for it in curriculum.items}

    def next(self) -> str | None:
        preds = self.model.predict_proba(self.state, self.cands)
        mastery = self.model.mastery(self.state, self.c.skills)
        if self.tracker is not None:
            mastery = combined_mastery(mastery, self.tracker.mastery(self.tracked, self.c.skills), self.criterion,
                                       self.tracker.fitted_levels())
        learner = LearnerView(mastery=mastery, counts=self.state.counts, last_practiced=self.last,
                              recent_items=self.recent[-10:])
        pick = choose(self.c.items, preds, learner, prerequisites=self.c.prerequisites, exposure=self.exposure,
                      now=self.t, config=self.config, rng=self.rng)
        if pick is None:
            return None
        self.exposure[pick.item_id] = self.exposure.get(pick.item_id, 0) + 1
        return pick.item_id

    def observe(self, item: str, correct: int, t: float) -> None:
        skills = self.skills_of[item]
        self.state = self.model.update(self.state, Response("sim", item, skills, correct, t))
        if self.tracker is not None:
            self.tracked = self.tracker.update(self.tracked, skills, correct)
        self.recent.append(item)
        for s in skills:
            self.last[s] = t
        self.t = t


class OraclePolicy(SimPolicy):
    """Not a real policy: curriculum order, each skill until the learner *truly* masters it (or ``cap`` items).
    It peeks at the simulated learner, so it bounds what any policy can save; the bench reports it for scale."""

    def __init__(self, cap: int = 30) -> None:
        self.cap = cap
        self.name = f"oracle (cap {cap})"
        self.learner: Learner | None = None

    def start(self, curriculum: Curriculum, rng: random.Random) -> None:
        super().start(curriculum, rng)
        self.k = 0
        self.count = 0

    def next(self) -> str | None:
        assert self.learner is not None, "run_policy sets the learner of an oracle"
        skills = self.c.skills
        while self.k < len(skills) and (self.learner.mastered(skills[self.k]) or self.count >= self.cap):
            self.k += 1
            self.count = 0
        if self.k >= len(skills):
            return None
        its = self.c.items_of(skills[self.k])
        self.count += 1
        return its[(self.count - 1) % len(its)].item_id


# --- running ------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class RunResult:
    policy: str
    population: str
    n_students: int
    items_mean: float  # items served before the policy stopped (or the budget ran out)
    share_mastered: float  # share of (student, skill) truly mastered at the stop
    share_all_mastered: float  # share of students with every skill truly mastered at the stop
    items_to_mastery: float  # mean items until every skill was truly mastered (censored at the stop)
    learning_per_item: float  # skills newly mastered per 100 items

    def row(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in dataclasses.asdict(self).items()}


def run_policy(policy: SimPolicy, population: Population, curriculum: Curriculum, *, n_students: int = 100,
               max_items: int = 400, seed: int = 0) -> RunResult:
    """Play ``policy`` with ``n_students`` learners drawn from ``population`` (the same learners for every policy
    with the same seed). Each answer takes one simulated minute."""
    items, shares, all_m, to_mastery, gained = [], [], [], [], []
    for i in range(n_students):
        nrng = np.random.default_rng([seed, i])
        learner = population.make(nrng)
        start_share = learner.share_mastered()
        if isinstance(policy, OraclePolicy):
            policy.learner = learner
        policy.start(curriculum, random.Random(seed * 100003 + i))
        n = 0
        first_all: int | None = 0 if start_share == 1.0 else None
        while n < max_items:
            item = policy.next()
            if item is None:
                break
            correct = learner.answer(item)
            n += 1
            policy.observe(item, correct, 60.0 * n)
            if first_all is None and learner.share_mastered() == 1.0:
                first_all = n
        share = learner.share_mastered()
        items.append(n)
        shares.append(share)
        all_m.append(share == 1.0)
        to_mastery.append(first_all if first_all is not None else n)
        gained.append((share - start_share) * len(curriculum.skills))
    total = sum(items)
    return RunResult(policy.name, population.name, n_students, float(np.mean(items)), float(np.mean(shares)),
                     float(np.mean(all_m)), float(np.mean(to_mastery)),
                     100.0 * float(sum(gained)) / max(total, 1))


def history_log(population: Population, curriculum: Curriculum, *, n_students: int = 200,
                per_skill: tuple[int, int] = (5, 25), seed: int = 1000) -> ResponseLog:
    """A 'historical' log to train the policy's KT model: other students of the same population working in a fixed
    order, each a number of items per skill drawn from ``per_skill`` (what a course's logs look like before the
    adaptive policy is switched on)."""
    rows: list[Response] = []
    for i in range(n_students):
        nrng = np.random.default_rng([seed, i])
        learner = population.make(nrng)
        pol = FixedOrder(int(nrng.integers(per_skill[0], per_skill[1] + 1)))
        pol.start(curriculum, random.Random(i))
        t = 0
        while (item := pol.next()) is not None:
            t += 1
            skills = curriculum.skills_of(item)
            rows.append(Response(f"h{seed}-{i}", item, skills, learner.answer(item), float(t)))
    return ResponseLog.from_rows(rows)


def match_fixed_order(results: Iterable[RunResult], target_share: float) -> float | None:
    """Items a fixed-order policy needs for ``target_share`` mastered, interpolated between measured lengths."""
    pts = sorted((r.items_mean, r.share_mastered) for r in results)
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if y0 >= target_share:
            return x0
        if y0 < target_share <= y1:
            return x0 + (x1 - x0) * (target_share - y0) / max(y1 - y0, 1e-9)
    if pts and pts[0][1] >= target_share:
        return pts[0][0]
    return None
