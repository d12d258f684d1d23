"""Next-item selection from knowledge-tracing predictions, with a one-line explanation for every pick.

A pure library (numpy only): the caller gives the candidate items with the model's P(correct) for each, the
learner's per-skill mastery and practice record, the prerequisite graph and the exposure counts; :func:`choose`
returns a :class:`Pick` (or ``None`` when every goal skill is mastered and no review is due).

The rules, in order:

1. **Spaced review.** A mastered skill (model mastery >= ``mastery_threshold``) has a predicted recall that decays
   with the time since it was last practised: ``recall = mastery * 2 ** (-elapsed / half_life)``, where the
   half-life grows with each success on the skill (``half_life_hours * half_life_growth ** successes``, capped).
   When the lowest recall falls below ``review_threshold`` that skill is reviewed first.
2. **Weakest ready skill.** Among the goal skills and their unmastered prerequisites (the working set), the skills
   not yet mastered whose prerequisites are all mastered are *ready*; the weakest ready skill is practised. A skill
   stops at ``mastery_threshold``; a skill that took ``max_items_per_skill`` items without mastery is set aside
   (wheel-spinning) while another ready skill exists, and counts as done for the skills that depend on it.
3. **Desirable difficulty.** Among that skill's items, those whose predicted success sits in ``band`` are preferred,
   then the closest to the band.
4. **No immediate repeats** (an item seen in the learner's last ``no_repeat`` items is skipped while another exists)
   and **exposure control** (items served more than ``max_exposure_rate`` of their skill's servings across students
   are held back while others exist; the final pick is random among the best ``randomesque`` items).

Explanations are structured (:class:`Explanation`: a code and parameters) so the web layer can translate them;
``Explanation.text`` is the English rendering, e.g. ``"Fractions: 42% mastered, prerequisite of Ratios"``.

>>> items = [PolicyItem("q1", ("fractions",)), PolicyItem("q2", ("ratios",))]
>>> learner = LearnerView(mastery={"fractions": (0.42, 0.1), "ratios": (0.3, 0.2)})
>>> pick = choose(items, [0.7, 0.5], learner, prerequisites={"ratios": ["fractions"]},
...               skill_names={"fractions": "Fractions", "ratios": "Ratios"})
>>> pick.item_id, pick.explanation.text
('q1', 'Fractions: 42% mastered, prerequisite of Ratios')
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

LEARN = "learn"
LEARN_PREREQ = "learn_prereq"
REVIEW = "review"
BLOCKED = "blocked"  # nothing ready (a prerequisite cycle, or every ready skill set aside): weakest skill anyway


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    band: tuple[float, float] = (0.6, 0.8)  # target predicted success (desirable difficulty)
    mastery_threshold: float = 0.95  # a skill stops here; prerequisites count as mastered from here
    review_threshold: float = 0.8  # review a mastered skill when its predicted recall drops below this
    half_life_hours: float = 24.0  # recall half-life of a just-mastered skill
    half_life_growth: float = 1.3  # multiplied by each success on the skill
    max_half_life_hours: float = 24.0 * 180
    no_repeat: int = 3  # an item is not served again within the learner's last N items
    max_exposure_rate: float = 0.25  # an item's share of its skill's servings above which it is held back
    randomesque: int = 3  # pick at random among the best k items
    max_items_per_skill: int | None = 40  # set a skill aside after this many items without mastery
    stop_when_stuck: bool = False  # stop (None) when every unmastered skill was set aside, instead of going on

    def __post_init__(self) -> None:
        lo, hi = self.band
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"band must satisfy 0 <= low <= high <= 1, got {self.band}")
        if not 0.0 < self.mastery_threshold <= 1.0:
            raise ValueError("mastery_threshold must be in (0, 1]")
        if self.no_repeat < 0 or self.randomesque < 1:
            raise ValueError("no_repeat must be >= 0 and randomesque >= 1")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> PolicyConfig:
        """Build from loosely typed settings (unknown keys ignored; ``band`` as a pair or "0.6-0.8")."""
        if not values:
            return cls()
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        kw: dict[str, Any] = {}
        for k, v in values.items():
            if k not in types or v is None or k == "band":
                continue
            t = str(types[k])
            kw[k] = (str(v).lower() in ("1", "true", "yes")) if t == "bool" else int(v) if "int" in t else float(v)
        band = values.get("band")
        if isinstance(band, str):
            lo, hi = band.split("-")
            kw["band"] = (float(lo), float(hi))
        elif band is not None:
            kw["band"] = (float(band[0]), float(band[1]))
        return cls(**kw)


@dataclasses.dataclass(frozen=True)
class PolicyItem:
    item_id: str
    skills: tuple[str, ...]


@dataclasses.dataclass
class LearnerView:
    """What the policy knows about one learner.

    ``mastery``: the model's ``{skill: (p, uncertainty)}``. ``counts``: ``{skill: [successes, failures]}`` (the
    engine state's counts). ``last_practiced``: ``{skill: unix seconds}``. ``recent_items``: item ids, oldest first.
    ``items_on_skill``: items served per skill since the skill was started (for the wheel-spinning rule; defaults
    to the counts).
    """

    mastery: Mapping[str, tuple[float, float]]
    counts: Mapping[str, Sequence[int]] = dataclasses.field(default_factory=dict)
    last_practiced: Mapping[str, float] = dataclasses.field(default_factory=dict)
    recent_items: Sequence[str] = ()
    items_on_skill: Mapping[str, int] | None = None

    def p(self, skill: str) -> float:
        return float(self.mastery.get(skill, (0.0, 1.0))[0])

    def successes(self, skill: str) -> int:
        c = self.counts.get(skill)
        return int(c[0]) if c else 0

    def served(self, skill: str) -> int:
        if self.items_on_skill is not None:
            return int(self.items_on_skill.get(skill, 0))
        c = self.counts.get(skill)
        return int(c[0]) + int(c[1]) if c else 0


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why an item was picked: a code, its parameters, and the English sentence."""

    code: str
    params: dict[str, Any]

    TEMPLATES = {  # noqa: RUF012 - read-only table
        LEARN: "{skill}: {mastery}% mastered, weakest skill ready to practise",
        LEARN_PREREQ: "{skill}: {mastery}% mastered, prerequisite of {unlocks}",
        REVIEW: "{skill}: review, predicted recall {recall}% after {elapsed}",
        BLOCKED: "{skill}: {mastery}% mastered, practising it before its prerequisites are mastered",
    }

    @property
    def text(self) -> str:
        return render_explanation(self.code, self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params), "text": self.text}


def format_elapsed(hours: float) -> str:
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} days"


def render_explanation(code: str, params: Mapping[str, Any], templates: Mapping[str, str] | None = None) -> str:
    """Render an explanation with ``templates`` (default: the English ones); the web layer passes translations."""
    table = templates or Explanation.TEMPLATES
    values = dict(params)
    values.setdefault("skill", values.get("skill_key", ""))
    if "elapsed_hours" in values:
        values.setdefault("elapsed", format_elapsed(float(values["elapsed_hours"])))
    return table[code].format(**values)


@dataclasses.dataclass(frozen=True)
class Pick:
    item_id: str
    skill: str
    reason: str
    p_correct: float
    in_band: bool
    explanation: Explanation

    def to_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "skill": self.skill, "reason": self.reason,
                "p_correct": round(self.p_correct, 4), "in_band": self.in_band,
                "explanation": self.explanation.to_dict()}


class Predictor(Protocol):
    """The part of an ``adaptive`` model the policy needs."""

    def predict_proba(self, state: Any, candidates: Any) -> np.ndarray: ...

    def mastery(self, state: Any, skills: Iterable[str] | None = None) -> dict[str, tuple[float, float]]: ...


# --- the rules ----------------------------------------------------------------------------------------------------
def recall(p: float, successes: int, elapsed_hours: float, config: PolicyConfig) -> float:
    """Forgetting curve: predicted recall of a skill with mastery ``p`` after ``elapsed_hours`` without practice."""
    half_life = min(config.half_life_hours * config.half_life_growth ** max(0, successes), config.max_half_life_hours)
    return p * 2.0 ** (-max(0.0, elapsed_hours) / half_life)


def working_set(goal: Iterable[str], prerequisites: Mapping[str, Sequence[str]], practicable: set[str]) -> list[str]:
    """The goal skills plus, transitively, their prerequisites that have items (goal order, then prerequisites)."""
    out: dict[str, None] = {}
    stack = list(goal)
    while stack:
        s = stack.pop(0)
        if s in out:
            continue
        if s in practicable:
            out[s] = None
        stack.extend(p for p in prerequisites.get(s, ()) if p not in out)
    return list(out)


def due_reviews(skills: Iterable[str], learner: LearnerView, now: float, config: PolicyConfig
                ) -> list[tuple[float, str, float]]:
    """Mastered skills whose recall fell below the review threshold: ``(recall, skill, elapsed_hours)``, lowest
    recall first."""
    due = []
    for s in skills:
        p = learner.p(s)
        last = learner.last_practiced.get(s)
        if p < config.mastery_threshold or last is None:
            continue
        elapsed = (now - last) / 3600.0
        r = recall(p, learner.successes(s), elapsed, config)
        if r < config.review_threshold:
            due.append((r, s, elapsed))
    return sorted(due)


def ready_skills(skills: Sequence[str], learner: LearnerView, prerequisites: Mapping[str, Sequence[str]],
                 in_scope: set[str], config: PolicyConfig, *, done: set[str] | None = None) -> list[str]:
    """Unmastered skills whose in-scope prerequisites are all mastered (or in ``done``), weakest first."""
    thr = config.mastery_threshold
    done = done or set()
    ready = [
        s for s in skills
        if learner.p(s) < thr
        and all(learner.p(q) >= thr or q in done for q in prerequisites.get(s, ()) if q in in_scope)
    ]
    return sorted(ready, key=lambda s: (learner.p(s), skills.index(s)))


def band_distance(p: float, band: tuple[float, float]) -> float:
    lo, hi = band
    return lo - p if p < lo else (p - hi if p > hi else 0.0)


def rank_items(indices: Sequence[int], items: Sequence[PolicyItem], predictions: np.ndarray, *,
               learner: LearnerView, exposure: Mapping[str, int], config: PolicyConfig) -> list[int]:
    """Candidate indices (one skill's items), best first, after the repeat and exposure filters."""
    recent = set(list(learner.recent_items)[-config.no_repeat:]) if config.no_repeat else set()
    pool = [i for i in indices if items[i].item_id not in recent] or list(indices)
    total = sum(exposure.get(items[i].item_id, 0) for i in indices)
    if total > 0 and len(pool) > 1:
        cap = config.max_exposure_rate
        kept = [i for i in pool if exposure.get(items[i].item_id, 0) / total <= cap]
        pool = kept or pool
    # in-band first; within the band the less exposed, then the single-skill items, then closest to the centre
    centre = sum(config.band) / 2

    def key(i: int) -> tuple[float, int, int, float]:
        p = float(predictions[i])
        return (round(band_distance(p, config.band), 3), exposure.get(items[i].item_id, 0),
                len(items[i].skills), abs(p - centre))

    return sorted(pool, key=key)


def choose(
    items: Sequence[PolicyItem],
    predictions: Sequence[float] | np.ndarray,
    learner: LearnerView,
    *,
    prerequisites: Mapping[str, Sequence[str]] | None = None,
    goal_skills: Iterable[str] | None = None,
    exposure: Mapping[str, int] | None = None,
    now: float | None = None,
    config: PolicyConfig | None = None,
    skill_names: Mapping[str, str] | None = None,
    rng: random.Random | None = None,
) -> Pick | None:
    """The next item for this learner, or ``None`` when the goal skills are mastered and no review is due."""
    config = config or PolicyConfig()
    preds = np.asarray(predictions, dtype=float)
    if len(preds) != len(items):
        raise ValueError(f"{len(items)} items but {len(preds)} predictions")
    if not items:
        return None
    prerequisites = prerequisites or {}
    exposure = exposure or {}
    now = time.time() if now is None else now
    rng = rng or random.Random()
    names = skill_names or {}

    by_skill: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        for s in it.skills:
            by_skill.setdefault(s, []).append(i)
    goal = list(dict.fromkeys(goal_skills)) if goal_skills is not None else list(by_skill)
    scope_list = working_set(goal, prerequisites, set(by_skill))
    scope = set(scope_list)

    def name(s: str) -> str:
        return names.get(s, s)

    def pct(p: float) -> int:  # floor: a skill just short of mastery never reads as 95 %
        return math.floor(p * 100 + 1e-9)  # + 1e-9: 0.29 * 100 is 28.999999999999996

    def finish(skill: str, reason: str, params: dict[str, Any]) -> Pick:
        ranked = rank_items(by_skill[skill], items, preds, learner=learner, exposure=exposure, config=config)
        best = ranked[0]
        top_key = band_distance(float(preds[best]), config.band)
        near = [i for i in ranked[: config.randomesque]
                if abs(band_distance(float(preds[i]), config.band) - top_key) < 1e-9]
        idx = rng.choice(near)
        p = float(preds[idx])
        params = {"skill_key": skill, "skill": name(skill), "mastery": pct(learner.p(skill)), **params}
        return Pick(items[idx].item_id, skill, reason, p, band_distance(p, config.band) == 0.0,
                    Explanation(reason, params))

    # 1. spaced review of mastered skills
    due = due_reviews(scope_list, learner, now, config)
    if due:
        r, s, elapsed = due[0]
        return finish(s, REVIEW, {"recall": int(r * 100 + 0.5), "elapsed_hours": round(elapsed, 2)})

    # 2. the weakest ready skill; a skill that took too many items without mastery is set aside and counts as
    #    done for its dependents (move on rather than wheel-spin)
    cap = config.max_items_per_skill
    capped = {s for s in scope_list if cap is not None and learner.served(s) >= cap}
    ready = ready_skills(scope_list, learner, prerequisites, scope, config, done=capped)
    fresh = [s for s in ready if s not in capped]
    if not fresh and config.stop_when_stuck and all(
            s in capped for s in scope_list if learner.p(s) < config.mastery_threshold):
        return None
    candidates = fresh or ready
    if candidates:
        s = candidates[0]
        thr = config.mastery_threshold
        dependents = [d for d in scope_list if s in prerequisites.get(d, ()) and learner.p(d) < thr]
        if dependents:
            extra = f" (+{len(dependents) - 1})" if len(dependents) > 1 else ""
            unlocks = name(dependents[0]) + extra
            return finish(s, LEARN_PREREQ, {"unlocks": unlocks, "unlocks_keys": dependents})
        return finish(s, LEARN, {})
    unmastered = [s for s in scope_list if learner.p(s) < config.mastery_threshold]
    if not unmastered:
        return None
    # 3. nothing ready (a prerequisite cycle): the unmastered skill with the fewest unmastered prerequisites
    s = min(unmastered, key=lambda s: (sum(learner.p(q) < config.mastery_threshold
                                           for q in prerequisites.get(s, ()) if q in scope), learner.p(s)))
    return finish(s, BLOCKED, {})


MASTERY_CRITERIA = ("model", "tracker", "either", "both", "auto")


def combined_mastery(model_mastery: Mapping[str, tuple[float, float]], tracked: Mapping[str, float] | None = None,
                     criterion: str = "either", levels: Mapping[str, int] | None = None
                     ) -> dict[str, tuple[float, float]]:
    """The mastery the policy decides with, per skill ``(p, uncertainty)``.

    ``model_mastery`` is the KT model's (P(correct) on an average item of the skill); ``tracked`` is
    :meth:`adaptive.mastery.SkillTracker.mastery` (P(the learner is at the skill's top knowledge level)).
    ``criterion``: ``"model"`` uses the model's alone (absolute: predicted success reaches the threshold),
    ``"tracker"`` the tracker's alone (relative to the skill's own ceiling), ``"both"`` the smaller of the two (both
    must agree), ``"either"`` (the default when a tracker is given) the larger: a skill is mastered once the
    learner's predicted success reaches the threshold **or** the
    learner has, with that probability, reached the skill's ceiling (where more practice is not expected to raise
    success: a skill whose items are slipped on 25 % of the time by those who know it).

    ``"auto"`` decides per skill from ``levels`` (:meth:`adaptive.mastery.SkillTracker.fitted_levels`: the number of
    knowledge levels the tracker's held-out model selection chose on the course history): see
    :func:`auto_criterion`."""
    if criterion not in MASTERY_CRITERIA:
        raise ValueError(f"criterion must be one of {MASTERY_CRITERIA}, not {criterion!r}")
    if tracked is None or criterion == "model":
        return dict(model_mastery)
    out = {}
    for s in set(model_mastery) | set(tracked):
        p, unc = model_mastery.get(s, (0.0, 1.0))
        t = float(tracked.get(s, 0.0))
        c = auto_criterion((levels or {}).get(s)) if criterion == "auto" else criterion
        value = {"model": float(p), "tracker": t, "both": min(float(p), t)}.get(c, max(float(p), t))
        out[s] = (value, float(unc))
    return out


def auto_criterion(levels: int | None) -> str:
    """The criterion ``"auto"`` uses for a skill whose tracker has ``levels`` fitted knowledge levels.

    Two levels (cross-validated fit prefers all-or-none learning, BKT-like): ``"tracker"`` — P(correct) of a learner
    who knows the skill is capped by slips, so a threshold on it over-practises, while the posterior of the known
    state is the right stopping signal. Three or more (graded learning): ``"both"`` — the tracker's top level alone is
    reached before success is high, and the KT model's P(correct) alone, fitted on a course's history, can run ahead
    of a learner's real success; each catches the other's early calls, so the skill needs both (measured in
    ``bench/policy_sim.py``: across 5 seeds of logistic learners, "both" saved 34.8 % ± 5.6 items against fixed order
    where "model" saved 9.5 % ± 26.5). Unknown (the skill was not fitted, too few students): ``"either"``."""
    if levels is None:
        return "either"
    return "tracker" if levels <= 2 else "both"


def choose_with_model(
    model: Predictor,
    state: Any,
    items: Sequence[PolicyItem],
    learner: LearnerView | None = None,
    *,
    candidates: Any = None,
    tracker: Any = None,
    tracker_state: Mapping[str, Sequence[float]] | None = None,
    criterion: str = "either",
    **kwargs: Any,
) -> Pick | None:
    """:func:`choose` with the predictions and the mastery taken from an ``adaptive`` model and its state.

    ``candidates`` may be the model's pre-encoded candidates for ``items`` (``model.encode_candidates``); ``learner``
    supplies the practice record (its ``mastery`` is replaced by the model's). With a ``tracker``
    (:class:`adaptive.mastery.SkillTracker`) and the learner's ``tracker_state``, mastery is
    :func:`combined_mastery` of the two under ``criterion``."""
    cands = candidates if candidates is not None else [(it.item_id, it.skills) for it in items]
    preds = model.predict_proba(state, cands)
    skills = list(dict.fromkeys(s for it in items for s in it.skills))
    mastery = model.mastery(state, skills)
    if tracker is not None:
        levels = tracker.fitted_levels() if hasattr(tracker, "fitted_levels") else None
        mastery = combined_mastery(mastery, tracker.mastery(tracker_state or {}, skills), criterion, levels)
    if learner is None:
        learner = LearnerView(mastery=mastery, counts=getattr(state, "counts", {}))
    else:
        learner = dataclasses.replace(learner, mastery=mastery)
    return choose(items, preds, learner, **kwargs)


# --- assignment builder -------------------------------------------------------------------------------------------
def weak_skills(mastery: Mapping[str, tuple[float, float]], skills: Iterable[str], *, limit: int = 3,
                threshold: float = 0.95) -> list[str]:
    """A learner's weakest skills among ``skills`` (below ``threshold``, weakest first, at most ``limit``) — the
    skill set of a personalized review assignment. Unknown skills count as unpractised (p = 0)."""
    scored = [(float(mastery.get(s, (0.0, 1.0))[0]), i, s) for i, s in enumerate(dict.fromkeys(skills))]
    return [s for p, _, s in sorted(scored) if p < threshold][:limit]


def skills_mastered(mastery: Mapping[str, tuple[float, float]], skills: Iterable[str], threshold: float) -> int:
    return sum(1 for s in set(skills) if float(mastery.get(s, (0.0, 1.0))[0]) >= threshold)
