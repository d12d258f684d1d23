"""Item difficulty: authors' seeds as prior knowledge, the engine's calibration read back from a trained model."""

from __future__ import annotations

import numpy as np
import pytest

from adaptive import ResponseLog, load_model
from adaptive.data import Response
from adaptive.difficulty import calibrate, difficulty_to_logit, logit_to_difficulty
from adaptive.models.baseline import PFAModel
from adaptive.models.dkt import DKTModel


def test_scales_meet_linearly_and_refuse_nonsense():
    assert difficulty_to_logit(0.5) == 0.0
    assert difficulty_to_logit(1.0) == 2.0
    assert difficulty_to_logit(0.0) == -2.0
    for d in (0.0, 0.2, 0.5, 0.9, 1.0):
        assert logit_to_difficulty(difficulty_to_logit(d)) == pytest.approx(d)
    assert logit_to_difficulty(10.0) == 1.0
    assert logit_to_difficulty(-10.0) == 0.0
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="between 0 and 1"):
            difficulty_to_logit(bad)


def test_untrained_model_uses_the_authors_seeds():
    model = PFAModel()
    model.register_items({"easy": ["f"], "avg": ["f"], "hard": ["f"]},
                         difficulty={"easy": difficulty_to_logit(0.1), "hard": difficulty_to_logit(0.9)})
    p_easy, p_avg, p_hard = model.predict_proba(model.init_state(), ["easy", "avg", "hard"])
    assert p_easy > p_avg > p_hard
    logit = np.log(p_avg / (1 - p_avg)) - np.log(p_hard / (1 - p_hard))
    assert logit == pytest.approx(difficulty_to_logit(0.9), abs=1e-5)
    # the skill's mastery is that of an average item, whatever the seeds
    assert model.mastery(model.init_state(), ["f"])["f"][0] == pytest.approx(p_avg, abs=1e-6)
    # a seed can be removed; a non-finite one is refused
    model.register_items({}, difficulty={"hard": None})
    assert model.predict_proba(model.init_state(), ["hard"])[0] == pytest.approx(p_avg, abs=1e-6)
    with pytest.raises(ValueError, match="finite"):
        model.register_items({}, difficulty={"x": float("inf")})


def test_calibration_recovers_true_difficulty(sim):
    log, truth, _, _ = sim
    model = PFAModel().fit(log)
    cal = calibrate(model)
    assert set(cal) == set(truth.difficulty)
    items = sorted(cal)
    r = np.corrcoef([cal[i] for i in items], [truth.difficulty[i] for i in items])[0, 1]
    assert r > 0.9
    assert calibrate(model, ["not-an-item"]) == {}


def test_calibration_of_a_sequence_model_follows_the_truth(sim):
    log, truth, _, _ = sim
    model = DKTModel(hidden=32).fit(log, epochs=4, seed=0, progress=False)
    cal = calibrate(model)
    items = sorted(cal)
    r = np.corrcoef([cal[i] for i in items], [truth.difficulty[i] for i in items])[0, 1]
    assert r > 0.6


def _bank_log(n_rare: int, n_common: int, n_students: int = 400) -> ResponseLog:
    """Eight unseeded items answered by everyone, item "rare" by n_rare students and "common" by n_common; every
    item is answered correctly half the time (all equally difficult in truth)."""
    rng = np.random.default_rng(0)
    seqs = {}
    for u in range(n_students):
        events = [Response.make(f"u{u}", f"i{k}", ["f"], int(rng.random() < 0.5), float(k)) for k in range(8)]
        if u < n_common:
            events.append(Response.make(f"u{u}", "common", ["f"], int(rng.random() < 0.5), 8.0))
        if u < n_rare:
            events.append(Response.make(f"u{u}", "rare", ["f"], int(rng.random() < 0.5), 9.0))
        seqs[f"u{u}"] = events
    return ResponseLog(seqs)


def test_seeds_are_the_prior_of_the_baselines_fit(tmp_path):
    log = _bank_log(n_rare=3, n_common=400)
    hard = difficulty_to_logit(0.95)
    seeded = PFAModel()
    seeded.register_items({}, difficulty={"rare": hard, "common": hard})
    seeded.fit(log)
    plain = PFAModel().fit(log)
    cal_s, cal_p = calibrate(seeded), calibrate(plain)
    # with 3 answers the seed dominates; with 400 the data does
    assert cal_s["rare"] - cal_p["rare"] > 0.5 * hard
    assert abs(cal_s["common"] - cal_p["common"]) < 0.25 * hard
    # seeds travel with the saved model
    seeded.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert again.item_priors == seeded.item_priors
    assert calibrate(again) == pytest.approx(cal_s)
