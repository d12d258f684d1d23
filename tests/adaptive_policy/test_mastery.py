"""adaptive.mastery: the per-skill knowledge-level tracker the policy decides mastery with."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adaptive.data import Response, ResponseLog
from adaptive.mastery import LevelParams, SkillTracker, fit_levels, fit_levels_select, log_likelihood
from adaptive.policy import auto_criterion, combined_mastery


def bkt_sequences(p: LevelParams, n: int, length: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        level = int(rng.random() < p.init[1])
        ys = []
        for _ in range(length):
            ys.append(int(rng.random() < p.success[level]))
            level = level or int(rng.random() < p.advance[0])
        out.append(ys)
    return out


def gradual_sequences(n: int, seed: int) -> list[list[int]]:
    """Logistic learners whose success climbs a little with every answer (no all-or-none step)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        theta = rng.normal(-0.5, 0.8)
        ys = []
        for _ in range(int(rng.integers(5, 25))):
            y = int(rng.random() < 1 / (1 + np.exp(-theta)))
            ys.append(y)
            theta += 0.4 if y else 0.25
        out.append(ys)
    return out


def test_two_levels_are_bkt_and_em_recovers_them():
    truth = LevelParams.bkt(0.3, 0.2, 0.2, 0.1)
    fitted = fit_levels(bkt_sequences(truth, 800, 12, seed=1), 2)
    assert fitted.init[1] == pytest.approx(0.3, abs=0.08)
    assert fitted.advance[0] == pytest.approx(0.2, abs=0.06)
    assert fitted.success[0] == pytest.approx(0.2, abs=0.06)
    assert fitted.success[1] == pytest.approx(0.9, abs=0.05)


def test_number_of_levels_is_chosen_by_held_out_fit():
    bkt = bkt_sequences(LevelParams.bkt(0.3, 0.2, 0.25, 0.2), 600, 15, seed=2)
    assert fit_levels_select(bkt, levels=(2, 3, 4)).levels == 2
    gradual = gradual_sequences(500, seed=3)
    chosen = fit_levels_select(gradual, levels=(2, 3, 4))
    assert chosen.levels > 2
    assert list(chosen.success) == sorted(chosen.success)  # levels stay ordered
    held = gradual_sequences(150, seed=4)
    assert log_likelihood(chosen, held) > log_likelihood(fit_levels(gradual, 2), held)


def test_mastery_is_relative_to_the_skill_ceiling():
    # a skill known learners slip on 25 % of the time: P(correct) never passes 0.75, P(known) does
    p = LevelParams.bkt(0.2, 0.15, 0.25, 0.25)
    tracker = SkillTracker({"a": p})
    state = tracker.init_state(["a"])
    assert tracker.mastery(state)["a"] == pytest.approx(0.2)
    for y in (0, 1, 1, 0, 1, 1, 1, 1, 1):
        state = tracker.update(state, ("a",), y)
    assert tracker.mastery(state)["a"] > 0.95
    assert tracker.p_correct(state, "a") < 0.76
    # evidence, not a count of practice: as many opportunities, mostly failed, is far from mastery
    mixed = tracker.state_from_answers([(("a",), y) for y in (0, 1, 0, 1, 0, 0, 1, 0, 0)])
    assert tracker.mastery(mixed)["a"] < 0.7


def test_state_is_json_able_and_update_does_not_mutate():
    tracker = SkillTracker({"a": LevelParams((0.5, 0.3, 0.2), (0.2, 0.1), (0.2, 0.6, 0.95))})
    state = tracker.init_state(["a"])
    new = tracker.update(state, ("a", "unknown-skill"), 1)
    assert state == {"a": [0.5, 0.3, 0.2]}
    assert json.loads(json.dumps(new)) == new
    assert set(new) == {"a", "unknown-skill"}  # unknown skills use the default parameters
    again = SkillTracker.from_dict(json.loads(json.dumps(tracker.to_dict())))
    assert again.mastery(new) == tracker.mastery(new)


def test_fit_on_a_log_covers_skills_with_enough_students():
    rows = []
    for i, ys in enumerate(bkt_sequences(LevelParams.bkt(0.3, 0.2, 0.2, 0.1), 120, 10, seed=5)):
        rows += [Response(f"u{i}", f"a{t}", ("a",), y, float(t)) for t, y in enumerate(ys)]
    rows += [Response("u0", "b0", ("b",), 1, 99.0)]
    tracker = SkillTracker.fit(ResponseLog.from_rows(rows), levels=(2,), min_students=30)
    assert set(tracker.params) == {"a"}
    assert tracker.of("b") == tracker.default


def test_combined_mastery_criteria():
    model = {"a": (0.74, 0.1), "b": (0.93, 0.05)}
    tracked = {"a": 0.97, "b": 0.4}
    assert combined_mastery(model, tracked, "model") == model
    assert combined_mastery(model, tracked, "tracker") == {"a": (0.97, 0.1), "b": (0.4, 0.05)}
    assert combined_mastery(model, tracked, "either") == {"a": (0.97, 0.1), "b": (0.93, 0.05)}
    assert combined_mastery(model, tracked, "both") == {"a": (0.74, 0.1), "b": (0.4, 0.05)}
    assert combined_mastery(model, None) == model
    with pytest.raises(ValueError, match="criterion"):
        combined_mastery(model, tracked, "all")


def test_auto_criterion_per_skill_from_the_fitted_levels():
    assert auto_criterion(2) == "tracker"  # all-or-none learning: the known state's posterior decides
    assert auto_criterion(3) == auto_criterion(4) == "both"  # graded learning: model and tracker must agree
    assert auto_criterion(None) == "either"  # not fitted: no evidence either way
    model = {"a": (0.74, 0.1), "b": (0.93, 0.05), "c": (0.5, 0.2)}
    tracked = {"a": 0.97, "b": 0.4, "c": 0.8}
    levels = {"a": 2, "b": 4}
    assert combined_mastery(model, tracked, "auto", levels) == {"a": (0.97, 0.1), "b": (0.4, 0.05), "c": (0.8, 0.2)}
    # without levels every skill falls back to "either"
    assert combined_mastery(model, tracked, "auto") == combined_mastery(model, tracked, "either")


def test_auto_follows_the_trackers_held_out_level_choice_on_a_log():
    rows = []
    bkt = bkt_sequences(LevelParams.bkt(0.3, 0.2, 0.25, 0.2), 600, 15, seed=2)
    for i, (ys_a, ys_b) in enumerate(zip(bkt, gradual_sequences(600, seed=3), strict=True)):
        rows += [Response(f"u{i}", f"a{t}", ("a",), y, float(t)) for t, y in enumerate(ys_a)]
        rows += [Response(f"u{i}", f"b{t}", ("b",), y, 100.0 + t) for t, y in enumerate(ys_b)]
    tracker = SkillTracker.fit(ResponseLog.from_rows(rows), min_students=30)
    levels = tracker.fitted_levels()
    assert levels["a"] == 2
    assert levels["b"] > 2
    assert "z" not in levels  # unfitted skills are not reported (they use the default)
    model = {"a": (0.6, 0.1), "b": (0.6, 0.1)}
    tracked = {"a": 0.99, "b": 0.99}
    auto = combined_mastery(model, tracked, "auto", levels)
    assert auto["a"][0] == 0.99  # all-or-none skill: tracker
    assert auto["b"][0] == 0.6  # graded skill: model
    assert SkillTracker.from_dict(tracker.to_dict()).fitted_levels() == levels
