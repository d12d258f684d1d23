from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from adaptive import Response, StaleStateError, get_model_class, load_model
from adaptive.data import ResponseLog
from adaptive.evaluate import evaluate_model
from adaptive.models.baseline import GLOBAL_RECENCY, SKILL_RECENCY, PFAModel, PFARecencyModel, Recency
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


def _streaky_log(n_students: int, seed: int) -> ResponseLog:
    """Answers that the counts cannot explain: each student's knowledge of a skill flips between known (P = 0.9)
    and not known (P = 0.2) with probability 0.15 per answer, so the latest answers tell the most."""
    rng = np.random.default_rng(seed)
    seqs = {}
    for u in range(n_students):
        known = {s: bool(rng.random() < 0.5) for s in ("a", "b", "c")}
        events = []
        for t in range(60):
            s = ("a", "b", "c")[(t // 5) % 3]
            if rng.random() < 0.15:
                known[s] = not known[s]
            p = 0.9 if known[s] else 0.2
            events.append(Response.make(f"u{u}", f"{s}{int(rng.integers(20))}", [s], int(rng.random() < p), t))
        seqs[f"u{u}"] = events
    return ResponseLog(seqs)


def test_recency_features_learn_what_counts_cannot():
    train, test = _streaky_log(300, 0), _streaky_log(150, 1)
    counts_only = evaluate_model(PFAModel().fit(train), test)["auc"]
    model = PFARecencyModel().fit(train)
    assert evaluate_model(model, test)["auc"] > counts_only + 0.03
    weights = dict(zip(SKILL_RECENCY + GLOBAL_RECENCY, model.net.recency.tolist(), strict=True))
    assert weights["skill_ema_0.5"] > 0  # a right answer just now raises the next P on that skill


def test_serving_recency_features_equal_the_training_ones():
    """Repeated items, runs of the same skills, multi-skill items and skills the model never saw: the features
    served from a state equal the ones ``features`` computes for the same event in training."""
    seq = [Response.make("u", i, s, c, t) for t, (i, s, c) in enumerate([
        ("x1", ["a"], 1), ("x1", ["a"], 0), ("x2", ["a"], 1), ("x3", ["a", "b"], 1), ("x4", ["b", "a"], 0),
        ("x5", ["new"], 1), ("x1", ["a"], 1), ("x6", ["b"], 0), ("x6", ["b"], 0), ("x6", ["b"], 0), ("x2", ["a"], 1),
        ("x7", [], 1), ("x3", ["a", "b"], 0)])]
    model = PFARecencyModel().fit(ResponseLog({"u": seq[:6], "v": seq[3:]}))
    feats = model.features(ResponseLog({"u": seq}))
    state = model.init_state()
    for t, r in enumerate(seq):
        cands = model.encode_candidates([(r.item_id, list(r.skill_ids)), ("other", ["a"])])
        served = model._recency_features(Recency(state.data.get("recency")), cands)
        n_sk = len(r.skill_ids)
        assert torch.allclose(served["rec_global"][0], feats["rec_global"][t]), t
        assert torch.allclose(served["rec_skill"][0, :n_sk], feats["rec_skill"][t, :n_sk]), t
        assert model.predict_proba(state, cands)[0] == pytest.approx(
            float(torch.sigmoid(model.net({k: v[t : t + 1] for k, v in feats.items() if k != "y"})).detach()), abs=1e-6)
        state = model.update(state, r)
        state = State.from_json(state.to_json())  # the recency part survives the database round trip


def test_recency_state_forgets_the_least_recently_answered_items(monkeypatch):
    """The per-item memory is bounded: past ``max_items`` distinct items the one answered longest ago goes (an item
    answered again is recent again), in serving and in training alike."""
    monkeypatch.setattr(Recency, "max_items", 3)
    seq = [Response.make("u", i, ["a"], 1, t) for t, i in enumerate(["x1", "x2", "x3", "x1", "x4", "x5", "x1"])]
    model = PFARecencyModel().fit(ResponseLog({"u": seq, "v": seq[::-1]}))
    state = model.init_state()
    for r in seq[:6]:
        state = State.from_json(model.update(state, r).to_json())
    items = state.data["recency"]["items"]
    assert list(items) == ["x1", "x4", "x5"]  # x2 and x3 were forgotten, x1 was answered again after them
    assert items["x1"] == [2.0, 1.0]
    k = GLOBAL_RECENCY.index("log1p_item_attempts")
    feats = model.features(ResponseLog({"u": seq}))
    cands = model.encode_candidates([("x1", ["a"]), ("x2", ["a"])])
    served = model._recency_features(Recency(state.data["recency"]), cands)["rec_global"]
    assert float(served[0, k]) == pytest.approx(math.log1p(2)) == float(feats["rec_global"][6, k])
    assert float(served[1, k]) == 0.0  # forgotten: reads as never answered


def test_pfa_recency_update_leaves_the_state_it_was_given():
    """States share the per-skill and per-item lists they did not change (a cheap copy); an update must replace,
    never edit, them."""
    seq = [Response.make("u", i, s, c, t) for t, (i, s, c) in enumerate(
        [("x1", ["a"], 1), ("x2", ["a", "b"], 0), ("x1", ["a"], 0), ("x3", ["b"], 1)])]
    model = PFARecencyModel().fit(ResponseLog({"u": seq, "v": seq[::-1]}))
    state = model.state_from_history(seq[:2])
    before = state.to_json()
    p_before = model.predict_proba(state, ["x1", "x2", "x3"])
    for r in seq[2:]:
        model.update(state, r)
        model.update(model.update(state, r), r)
    assert state.to_json() == before
    assert np.array_equal(model.predict_proba(state, ["x1", "x2", "x3"]), p_before)


def test_pfa_recency_is_its_own_model_and_plain_pfa_has_no_recency(sim, tmp_path):
    _, _, train, test = sim
    plain = get_model_class("pfa")().fit(train)
    assert plain.config.recency is False
    assert not hasattr(plain.net, "recency")
    assert "recency" not in plain.update(plain.init_state(), test.sequences()[0][0]).data
    model = get_model_class("pfa_recency")().fit(train)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, PFARecencyModel)
    assert loaded.config.recency
    assert np.allclose(loaded.predict_log(test)[1], model.predict_log(test)[1])
    assert not np.allclose(plain.predict_log(test)[1], model.predict_log(test)[1], atol=1e-3)
    # the baseline's training options only (what a caller training several models gives them all)
    assert PFARecencyModel.options_for_fit({"seed": 1, "epochs": 3, "max_iter": 9}) == {"seed": 1, "max_iter": 9}


def _ability_log(n_students: int, seed: int) -> ResponseLog:
    """Fixed abilities (SD 1) and widely spread item difficulties (SD 2), items in a random order: a student's
    count of right answers says as much about the items drawn as about the student; the residuals do not."""
    rng = np.random.default_rng(seed)
    difficulty = np.random.default_rng(99).normal(0, 2, 80)
    seqs = {}
    for u in range(n_students):
        theta = rng.normal()
        events = []
        for t, j in enumerate(rng.choice(80, 30, replace=False)):
            p = 1 / (1 + np.exp(-(theta - difficulty[j])))
            events.append(Response.make(f"u{u}", f"q{j}", ["k"], int(rng.random() < p), t))
        seqs[f"u{u}"] = events
    return ResponseLog(seqs)


def test_residuals_estimate_ability_net_of_the_items_drawn():
    train, test = _ability_log(400, 0), _ability_log(200, 1)
    counts_only = PFAModel().fit(train)
    model = PFARecencyModel().fit(train)
    rate = model.net.item_rate
    assert rate[model.vocab.items["q0"]] == pytest.approx(
        (sum(r.correct for s in train.sequences() for r in s if r.item_id == "q0") + 5 * float(rate[0]))
        / (sum(r.item_id == "q0" for s in train.sequences() for r in s) + 5), abs=1e-6)
    assert evaluate_model(model, test)["auc"] > evaluate_model(counts_only, test)["auc"] + 0.003  # 0.842 vs 0.836
    weights = dict(zip(SKILL_RECENCY + GLOBAL_RECENCY, model.net.recency.tolist(), strict=True))
    assert weights["residual_mean"] + weights["skill_residual_mean"] > 1.0


def _objective_and_grad(model: PFAModel, log: ResponseLog) -> tuple[float, torch.Tensor]:
    """The fit's objective (mean penalised log loss, float64) and its gradient at the model's weights."""
    net = model.net
    own = model._item_counts(log) if model.config.recency else None
    feats = model.features(log, own)
    y = feats.pop("y").double()
    feats = {k: (v.double() if v.is_floating_point() else v) for k, v in feats.items()}
    net.double()
    try:
        net.zero_grad()
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(net(feats), y, reduction="sum")
                + net.prior_penalty()) / len(y)
        loss.backward()
        grad = torch.cat([p.grad.flatten() for p in net.parameters()])
    finally:
        net.float()
    return float(loss.detach()), grad


@pytest.mark.parametrize("cls", [PFAModel, PFARecencyModel])
def test_the_fit_runs_to_the_optimum_whatever_the_threads(sim, cls):
    """The objective is convex: a converged fit is its unique optimum, so the weights do not depend on the number of
    threads (in float32 and 200 iterations, two runs on two threads ended 0.0005 test AUC apart on ASSIST2009)."""
    _, _, train, _ = sim
    threads = torch.get_num_threads()
    fits = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            fits.append(cls().fit(train))
    finally:
        torch.set_num_threads(threads)
    for model in fits:
        assert model.metrics["train"]["converged"] is True
        assert 0 < model.metrics["train"]["iterations"] < model.config.max_iter
        objective, grad = _objective_and_grad(model, train)
        assert model.metrics["train"]["objective"] == pytest.approx(objective, abs=1e-6)  # the final objective
        assert float(grad.abs().max()) < 1e-4  # a stationary point (float32 weights)
    a, b = ([p.detach() for p in m.net.parameters()] for m in fits)
    for p, q in zip(a, b, strict=True):
        torch.testing.assert_close(p, q, atol=2e-4, rtol=0)


def test_a_capped_fit_says_it_did_not_converge(sim, capsys):
    _, _, train, _ = sim
    model = PFARecencyModel().fit(train, max_iter=3, progress=True)
    assert model.metrics["train"]["converged"] is False
    assert model.metrics["train"]["iterations"] == 3
    assert "fit pfa_recency" in capsys.readouterr().err  # the progress bar


def test_curvature_is_the_diagonal_of_the_design_matrix_gram(sim):
    """The preconditioner: each parameter's summed squared coefficient in the logit, checked against per-row
    gradients of the logit (which is linear in the parameters)."""
    log, _, _, _ = sim
    model = PFARecencyModel().fit(log.subset(log.students()[:20]), max_iter=5)
    net = model.net
    feats = model.features(log.subset(log.students()[20:40]))
    feats.pop("y")
    params = {k: p.detach() for k, p in net.named_parameters()}
    buffers = dict(net.named_buffers())

    def logit(p, row):
        return torch.func.functional_call(net, (p, buffers), ({k: v.unsqueeze(0) for k, v in row.items()},))[0]

    per_row = torch.func.vmap(torch.func.grad(logit), in_dims=(None, 0))(params, feats)
    curvature = net.curvature(feats)
    assert set(curvature) == set(params)
    for name, g in per_row.items():
        torch.testing.assert_close(curvature[name], (g**2).sum(0), rtol=1e-4, atol=1e-3)
