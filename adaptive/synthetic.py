"""Simulated response logs with known parameters, for tests and quick experiments.

Each student has a general ability plus a per-skill offset; each item has a difficulty and one skill (a fraction
``multi_skill`` of the items have two). The chance of a correct answer is
``sigmoid(mean over the item's skills of ability[s] - difficulty[item])``, and every answer on a skill raises the
ability on it by ``learn_correct`` or ``learn_wrong`` (learning by practice). Students work skill by skill (a block of
items of one skill, as in skill-builder assignments), skills in random order.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from adaptive.data import Response, ResponseLog


@dataclasses.dataclass
class SyntheticTruth:
    difficulty: dict[str, float]  # item id -> difficulty (logit)
    item_skills: dict[str, tuple[str, ...]]
    ability: dict[str, float]  # user id -> general ability at the start
    skill_ability: dict[str, dict[str, float]]  # user id -> skill -> ability at the start
    final_skill_ability: dict[str, dict[str, float]]  # after the simulated practice


def simulate(
    *,
    n_students: int = 200,
    n_skills: int = 5,
    items_per_skill: int = 20,
    length: int = 60,
    block: int = 8,
    multi_skill: float = 0.0,
    learn_correct: float = 0.1,
    learn_wrong: float = 0.05,
    ability_sd: float = 1.0,
    skill_sd: float = 0.5,
    difficulty_sd: float = 1.0,
    seed: int = 0,
    user_prefix: str = "u",
) -> tuple[ResponseLog, SyntheticTruth]:
    rng = np.random.default_rng(seed)
    skills = [f"s{k}" for k in range(n_skills)]
    item_skills: dict[str, tuple[str, ...]] = {}
    difficulty: dict[str, float] = {}
    by_skill: dict[str, list[str]] = {s: [] for s in skills}
    for s_i, s in enumerate(skills):
        for j in range(items_per_skill):
            item = f"{s}-i{j}"
            extra: tuple[str, ...] = ()
            if n_skills > 1 and rng.random() < multi_skill:
                extra = (skills[(s_i + 1 + int(rng.integers(n_skills - 1))) % n_skills],)
            item_skills[item] = (s, *extra)
            difficulty[item] = float(rng.normal(0.0, difficulty_sd))
            by_skill[s].append(item)
    seqs: dict[str, list[Response]] = {}
    ability: dict[str, float] = {}
    start_skill: dict[str, dict[str, float]] = {}
    final_skill: dict[str, dict[str, float]] = {}
    for u_i in range(n_students):
        user = f"{user_prefix}{u_i}"
        a = float(rng.normal(0.0, ability_sd))
        theta = {s: a + float(rng.normal(0.0, skill_sd)) for s in skills}
        ability[user] = a
        start_skill[user] = dict(theta)
        order = list(rng.permutation(skills))
        events: list[Response] = []
        t = 0
        while len(events) < length:
            s = order[(t // block) % n_skills]
            item = by_skill[s][int(rng.integers(items_per_skill))]
            sks = item_skills[item]
            logit = float(np.mean([theta[k] for k in sks])) - difficulty[item]
            correct = int(rng.random() < 1.0 / (1.0 + math.exp(-logit)))
            events.append(Response(user, item, sks, correct, float(t)))
            for k in sks:
                theta[k] += learn_correct if correct else learn_wrong
            t += 1
        seqs[user] = events
        final_skill[user] = theta
    truth = SyntheticTruth(difficulty, item_skills, ability, start_skill, final_skill)
    return ResponseLog(seqs), truth
