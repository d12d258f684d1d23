"""One test per rule of adaptive.policy (pure functions, no database)."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from adaptive.policy import (
    BLOCKED,
    LEARN,
    LEARN_PREREQ,
    REVIEW,
    LearnerView,
    PolicyConfig,
    PolicyItem,
    choose,
    recall,
    render_explanation,
    weak_skills,
)

HOUR = 3600.0


def bank(spec: dict[str, int]) -> list[PolicyItem]:
    return [PolicyItem(f"{s}-{i}", (s,)) for s, n in spec.items() for i in range(n)]


def test_desirable_difficulty_prefers_the_band():
    items = bank({"a": 5})
    preds = [0.95, 0.3, 0.72, 0.55, 0.99]
    learner = LearnerView(mastery={"a": (0.5, 0.1)})
    picks = {choose(items, preds, learner, rng=random.Random(i)).item_id for i in range(20)}
    assert picks == {"a-2"}  # the only item inside 0.6-0.8
    # no item in the band: the closest one
    picks = {choose(items, [0.95, 0.3, 0.92, 0.5, 0.99], learner, rng=random.Random(i)).item_id for i in range(20)}
    assert picks == {"a-3"}
    pick = choose(items, preds, learner, config=PolicyConfig(band=(0.9, 0.96)), rng=random.Random(0))
    assert pick.item_id == "a-0"
    assert pick.in_band


def test_weakest_skill_whose_prerequisites_are_mastered():
    items = bank({"a": 3, "b": 3, "c": 3})
    prereq = {"c": ["a"]}
    # c is weakest but its prerequisite a is not mastered: the weaker of a, b is chosen
    learner = LearnerView(mastery={"a": (0.5, 0.1), "b": (0.4, 0.1), "c": (0.1, 0.2)})
    pick = choose(items, [0.7] * 9, learner, prerequisites=prereq, rng=random.Random(0))
    assert pick.skill == "b"
    assert pick.reason == LEARN
    learner = LearnerView(mastery={"a": (0.3, 0.1), "b": (0.4, 0.1), "c": (0.1, 0.2)})
    pick = choose(items, [0.7] * 9, learner, prerequisites=prereq, rng=random.Random(0))
    assert pick.skill == "a"
    assert pick.reason == LEARN_PREREQ
    assert pick.explanation.params["unlocks_keys"] == ["c"]
    # once a is mastered, c (the weakest) is ready
    learner = LearnerView(mastery={"a": (0.96, 0.05), "b": (0.4, 0.1), "c": (0.1, 0.2)})
    pick = choose(items, [0.7] * 9, learner, prerequisites=prereq, rng=random.Random(0))
    assert pick.skill == "c"


def test_goal_pulls_in_unmastered_prerequisites_outside_the_goal():
    items = bank({"fractions": 2, "ratios": 2, "other": 2})
    learner = LearnerView(mastery={"fractions": (0.42, 0.1), "ratios": (0.2, 0.1), "other": (0.0, 0.3)})
    pick = choose(items, [0.7] * 6, learner, prerequisites={"ratios": ["fractions"]}, goal_skills=["ratios"],
                  skill_names={"fractions": "Fractions", "ratios": "Ratios"}, rng=random.Random(0))
    assert pick.skill == "fractions"
    assert pick.explanation.text == "Fractions: 42% mastered, prerequisite of Ratios"
    # "other" is outside the goal and not a prerequisite: never chosen, even when weakest
    done = LearnerView(mastery={"fractions": (0.97, 0.0), "ratios": (0.96, 0.0), "other": (0.0, 0.3)})
    assert choose(items, [0.7] * 6, done, prerequisites={"ratios": ["fractions"]}, goal_skills=["ratios"]) is None


def test_stops_at_the_mastery_threshold():
    items = bank({"a": 2, "b": 2})
    learner = LearnerView(mastery={"a": (0.951, 0.0), "b": (0.949, 0.0)})
    pick = choose(items, [0.7] * 4, learner, rng=random.Random(0))
    assert pick.skill == "b"
    assert pick.explanation.params["mastery"] == 94  # floored: never reads "95 %" below the threshold
    learner = LearnerView(mastery={"a": (0.951, 0.0), "b": (0.96, 0.0)})
    assert choose(items, [0.7] * 4, learner) is None
    assert choose(items, [0.7] * 4, learner, config=PolicyConfig(mastery_threshold=0.99)) is not None


def test_spaced_review_when_recall_decays():
    cfg = PolicyConfig(half_life_hours=24, half_life_growth=2.0, review_threshold=0.8)
    items = bank({"a": 2, "b": 2})
    now = 1_000_000.0
    mastery = {"a": (0.97, 0.02), "b": (0.5, 0.1)}
    # a practised an hour ago: recall is high, the weak skill b is practised
    fresh = LearnerView(mastery=mastery, counts={"a": [3, 0]}, last_practiced={"a": now - HOUR})
    assert choose(items, [0.7] * 4, fresh, now=now, config=cfg).skill == "b"
    # 5 days later: recall of a has decayed below 0.8, a is reviewed first
    old = LearnerView(mastery=mastery, counts={"a": [3, 0]}, last_practiced={"a": now - 120 * HOUR})
    pick = choose(items, [0.7] * 4, old, now=now, config=cfg)
    assert pick.skill == "a"
    assert pick.reason == REVIEW
    assert pick.explanation.params["recall"] < 80
    assert pick.explanation.text.startswith("a: review, predicted recall")
    # more successes: longer half-life, no review yet
    strong = LearnerView(mastery=mastery, counts={"a": [6, 0]}, last_practiced={"a": now - 120 * HOUR})
    assert choose(items, [0.7] * 4, strong, now=now, config=cfg).skill == "b"
    # everything mastered: review keeps the learner going, else done
    all_mastered = {"a": (0.97, 0.02), "b": (0.96, 0.02)}
    assert choose(items, [0.7] * 4, LearnerView(mastery=all_mastered, last_practiced={"b": now - HOUR}), now=now,
                  config=cfg) is None
    pick = choose(items, [0.7] * 4, LearnerView(mastery=all_mastered, last_practiced={"b": now - 500 * HOUR}),
                  now=now, config=cfg)
    assert pick.skill == "b"
    assert pick.reason == REVIEW


def test_recall_curve_halves_per_half_life():
    cfg = PolicyConfig(half_life_hours=10, half_life_growth=2.0)
    assert recall(1.0, 0, 10, cfg) == pytest.approx(0.5)
    assert recall(1.0, 1, 10, cfg) == pytest.approx(2 ** -0.5)
    assert recall(0.9, 0, 0, cfg) == pytest.approx(0.9)


def test_no_immediate_repeats():
    items = bank({"a": 4})
    preds = [0.7, 0.71, 0.4, 0.3]  # a-0 and a-1 in band
    learner = LearnerView(mastery={"a": (0.5, 0.1)}, recent_items=["a-0", "a-1"])
    pick = choose(items, preds, learner, rng=random.Random(0))
    assert pick.item_id == "a-2"  # the in-band items were just seen; the next best
    # a one-item skill repeats rather than stalling
    pick = choose(bank({"a": 1}), [0.7], LearnerView(mastery={"a": (0.5, 0.1)}, recent_items=["a-0"]))
    assert pick.item_id == "a-0"
    # only the last `no_repeat` items count
    learner = LearnerView(mastery={"a": (0.5, 0.1)}, recent_items=["a-0", "x", "y", "z"])
    assert choose(items, [0.7, 0.2, 0.2, 0.2], learner, config=PolicyConfig(no_repeat=3)).item_id == "a-0"


def test_exposure_control_spreads_items_across_students():
    items = bank({"a": 6})
    preds = [0.7, 0.72, 0.68, 0.75, 0.65, 0.3]
    learner = LearnerView(mastery={"a": (0.5, 0.1)})
    rng = random.Random(1)
    exposure: Counter[str] = Counter()
    for _ in range(300):
        pick = choose(items, preds, learner, exposure=exposure, rng=rng)
        exposure[pick.item_id] += 1
    in_band = [exposure[f"a-{i}"] for i in range(5)]
    assert max(in_band) / 300 <= 0.27  # max_exposure_rate 0.25 (+ one serving of slack)
    assert min(in_band) > 30  # every in-band item is used
    assert exposure["a-5"] == 0  # never at the cost of leaving the band
    # without exposure counts, a single best item would be served every time with randomesque=1
    cfg = PolicyConfig(randomesque=1)
    assert {choose(items, preds, learner, config=cfg).item_id for _ in range(10)} == {"a-0"}


def test_over_exposed_item_is_held_back():
    items = bank({"a": 3})
    learner = LearnerView(mastery={"a": (0.5, 0.1)})
    pick = choose(items, [0.7, 0.7, 0.2], learner, exposure={"a-0": 90, "a-1": 90, "a-2": 5},
                  config=PolicyConfig(max_exposure_rate=0.4), rng=random.Random(0))
    assert pick.item_id == "a-2"


def test_wheel_spinning_skill_is_set_aside():
    items = bank({"a": 3, "b": 3})
    learner = LearnerView(mastery={"a": (0.2, 0.1), "b": (0.5, 0.1)}, counts={"a": [10, 30]})
    pick = choose(items, [0.7] * 6, learner, config=PolicyConfig(max_items_per_skill=40))
    assert pick.skill == "b"
    assert choose(items, [0.7] * 6, learner, config=PolicyConfig(max_items_per_skill=None)).skill == "a"
    # the only unmastered skill is practised anyway
    only = LearnerView(mastery={"a": (0.2, 0.1), "b": (0.99, 0.0)}, counts={"a": [10, 30]})
    assert choose(items, [0.7] * 6, only).skill == "a"


def test_prerequisite_cycle_does_not_stall():
    items = bank({"a": 2, "b": 2})
    learner = LearnerView(mastery={"a": (0.3, 0.1), "b": (0.5, 0.1)})
    pick = choose(items, [0.7] * 4, learner, prerequisites={"a": ["b"], "b": ["a"]})
    assert pick.reason == BLOCKED
    assert pick.skill == "a"


def test_multi_skill_item_counts_for_each_skill_and_explanation_is_structured():
    items = [PolicyItem("mix", ("a", "b")), PolicyItem("b1", ("b",))]
    learner = LearnerView(mastery={"a": (0.2, 0.1), "b": (0.9, 0.1)})
    pick = choose(items, np.array([0.7, 0.7]), learner)
    assert pick.item_id == "mix"
    assert pick.skill == "a"
    d = pick.to_dict()
    assert d["explanation"]["code"] == LEARN
    assert d["explanation"]["params"]["mastery"] == 20
    fr = {LEARN: "{skill} : maîtrisé à {mastery} %"}
    assert render_explanation(d["explanation"]["code"], d["explanation"]["params"], fr) == "a : maîtrisé à 20 %"


def test_config_from_settings_and_validation():
    cfg = PolicyConfig.from_dict({"band": "0.5-0.7", "mastery_threshold": "0.9", "unknown": 1})
    assert cfg.band == (0.5, 0.7)
    assert cfg.mastery_threshold == pytest.approx(0.9)
    with pytest.raises(ValueError, match="band"):
        PolicyConfig(band=(0.8, 0.6))
    with pytest.raises(ValueError, match="predictions"):
        choose(bank({"a": 2}), [0.5], LearnerView(mastery={}))


def test_weak_skills_for_review_assignment():
    mastery = {"a": (0.97, 0.0), "b": (0.3, 0.1), "c": (0.6, 0.1), "d": (0.1, 0.1)}
    assert weak_skills(mastery, ["a", "b", "c", "d", "e"], limit=3) == ["e", "d", "b"]
    assert weak_skills(mastery, ["a"], limit=3) == []


def test_choose_with_the_engine_baseline():
    from adaptive import Response, get_model_class
    from adaptive.policy import choose_with_model

    model = get_model_class("pfa")()
    state = model.init_state()
    for t in range(3):
        state = model.update(state, Response.make("u", f"a-{t}", ["a"], 1, t))
    items = bank({"a": 3, "b": 3})
    pick = choose_with_model(model, state, items, rng=random.Random(0))
    assert pick is not None
    assert pick.skill == "b"
    assert 0.0 < pick.p_correct < 1.0


def test_wheel_spinning_prerequisite_unlocks_its_dependents():
    items = bank({"a": 3, "b": 3})
    learner = LearnerView(mastery={"a": (0.5, 0.1), "b": (0.2, 0.1)}, counts={"a": [20, 25]})
    pick = choose(items, [0.7] * 6, learner, prerequisites={"b": ["a"]}, config=PolicyConfig(max_items_per_skill=40))
    assert pick.skill == "b"
    pick = choose(items, [0.7] * 6, learner, prerequisites={"b": ["a"]}, config=PolicyConfig(max_items_per_skill=50))
    assert pick.skill == "a"


def test_stop_when_stuck():
    items = bank({"a": 3, "b": 3})
    learner = LearnerView(mastery={"a": (0.5, 0.1), "b": (0.97, 0.0)}, counts={"a": [20, 25]})
    assert choose(items, [0.7] * 6, learner, config=PolicyConfig(max_items_per_skill=40)).skill == "a"
    assert choose(items, [0.7] * 6, learner, config=PolicyConfig(max_items_per_skill=40, stop_when_stuck=True)) is None
    assert PolicyConfig.from_dict({"stop_when_stuck": "true"}).stop_when_stuck is True


def test_choose_with_model_and_a_tracker_stops_at_the_skill_ceiling():
    from adaptive import Response, get_model_class
    from adaptive.mastery import LevelParams, SkillTracker
    from adaptive.policy import choose_with_model

    model = get_model_class("pfa")()
    tracker = SkillTracker({"a": LevelParams.bkt(0.3, 0.2, 0.25, 0.25), "b": LevelParams.bkt(0.3, 0.2, 0.25, 0.25)})
    state, tracked = model.init_state(), tracker.init_state(["a", "b"])
    answers = [1, 1, 0, 1, 1, 1, 1]  # a learner who knows a and slips now and then
    for t, y in enumerate(answers):
        state = model.update(state, Response.make("u", f"a-{t % 3}", ["a"], y, t))
        tracked = tracker.update(tracked, ("a",), y)
    assert model.mastery(state, ["a"])["a"][0] < 0.95  # the model alone would keep practising a
    assert tracker.mastery(tracked)["a"] > 0.95
    items = bank({"a": 3, "b": 3})
    pick = choose_with_model(model, state, items, tracker=tracker, tracker_state=tracked, rng=random.Random(0))
    assert pick.skill == "b"
    only_a = bank({"a": 3})
    assert choose_with_model(model, state, only_a, tracker=tracker, tracker_state=tracked) is None
    pick = choose_with_model(model, state, only_a, tracker=tracker, tracker_state=tracked, criterion="model")
    assert pick.skill == "a"
    # "auto": a 2-level (all-or-none) skill is decided by the tracker ...
    assert choose_with_model(model, state, only_a, tracker=tracker, tracker_state=tracked, criterion="auto") is None
    # ... a graded (3-level) skill by the model's P(correct), whatever the tracker's top level says
    graded = SkillTracker({"a": LevelParams((0.0, 0.0, 1.0), (0.2, 0.2), (0.25, 0.5, 0.75))})
    top = graded.init_state(["a"])
    assert graded.mastery(top)["a"] == 1.0
    pick = choose_with_model(model, state, only_a, tracker=graded, tracker_state=top, criterion="auto")
    assert pick.skill == "a"
