from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptive import Response, StaleStateError, get_model_class, load_model
from adaptive.evaluate import evaluate_model
from adaptive.models.baseline import PFAModel
from adaptive.state import State


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_untrained_baseline_works_from_the_first_response():
    model = PFAModel()
    state = model.init_state()
    p0 = model.predict_proba(state, [("q1", ["add"])])[0]
    assert 0.6 < p0 < 0.8
    right = state
    wrong = state
    for t in range(3):
        right = model.update(right, Response.make("u", f"q{t}", ["add"], 1, t))
        wrong = model.update(wrong, Response.make("u", f"q{t}", ["add"], 0, t))
    assert model.predict_proba(right, [("q9", ["add"])])[0] > p0 > model.predict_proba(wrong, [("q9", ["add"])])[0]
    m = model.mastery(right)
    assert set(m) == {"add"}
    p, unc = m["add"]
    assert p > p0
    assert 0 < unc < model.mastery(state, ["add"])["add"][1]  # more data, less uncertainty
    assert state.n == 0  # update returns a new state
    as_dict = model.update(state, {"item_id": "q0", "skill_ids": ["add"], "correct": True})
    assert as_dict.counts == {"add": [1, 0]}
    with pytest.raises(ValueError, match="correct must be 0 or 1"):
        model.update(state, Response.make("u", "q", ["add"], 0.5))


def test_baseline_recovers_item_difficulty_and_ranks_students(sim):
    log, truth, train, test = sim
    model = PFAModel().fit(log)
    est = model.item_difficulty()
    items = sorted(est)
    r = np.corrcoef([est[i] for i in items], [truth.difficulty[i] for i in items])[0, 1]
    assert r > 0.9
    # after their practice, students with a higher true ability on a skill get a higher mastery estimate
    users = log.students()
    for skill in ("s0", "s1"):
        est_m = [model.mastery(model.state_from_history(log.sequence(u)), [skill])[skill][0] for u in users]
        true_m = [truth.final_skill_ability[u][skill] for u in users]
        assert spearman(est_m, true_m) > 0.5
    assert evaluate_model(PFAModel().fit(train), test)["auc"] > 0.7


def test_predict_from_history_equals_batch_scoring(sim):
    _, _, train, test = sim
    model = PFAModel().fit(train)
    _, p = model.predict_log(test)
    seq = test.sequences()[0]
    for t in (0, 5, len(seq) - 1):
        assert model.predict_proba(seq[:t], [seq[t].item_id])[0] == pytest.approx(p[t], abs=1e-5)


def test_save_load_state_roundtrip_and_unknown_items(sim, tmp_path):
    _, _, train, test = sim
    model = get_model_class("pfa")().fit(train)
    seq = test.sequences()[0][:10]
    state = model.state_from_history(seq)
    cands = ["s0-i1", "s2-i3", ("brand-new", ["s1"]), "never-seen"]
    before = model.predict_proba(state, cands)
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "model.pt").is_file()
    torch.load(tmp_path / "m" / "model.pt", weights_only=True)  # tensors only
    loaded = load_model(tmp_path / "m")
    restored = State.from_json(state.to_json())
    assert np.allclose(loaded.predict_proba(restored, cands), before)
    # a new item with known skills is scored like an average item of those skills
    loaded.register_items({"registered": ["s1"]})
    assert loaded.predict_proba(restored, ["registered"])[0] == pytest.approx(before[2])
    other = PFAModel().fit(train)
    with pytest.raises(StaleStateError):
        other.predict_proba(state, cands)
