from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from adaptive import StaleStateError, State, get_model_class, load_model
from adaptive.champion import load_champion, train_and_select
from adaptive.cli import kt
from adaptive.data import ResponseLog, write_csv
from adaptive.evaluate import auc_score
from adaptive.models import MODEL_REGISTRY, EnsembleModel
from adaptive.models.ensemble import EnsembleConfig
from adaptive.synthetic import simulate

WINDOW = 24
TINY = ["pfa", ["dkt", {"d_model": 16, "hidden": 32}],
        ["akt", {"d_model": 16, "heads": 2, "d_ff": 32, "window": WINDOW, "question_layers": 1, "kq_same": True}]]
FIT = {"epochs": 10, "batch_size": 32, "lr": 5e-3, "max_len": WINDOW, "patience": 10, "seed": 0}
CANDS = ["s0-i0", "s3-i7", ("new-item", ["s2"]), "unknown", ("two", ["s1", "s2"])]


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _combined(model: EnsembleModel, z: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """What the ensemble predicts from its members' logits: the sigmoid of its weighted sum plus its bias."""
    return _sigmoid(np.tensordot(np.asarray(model.weights), np.asarray(z), axes=1) + model.bias)


def _short(log: ResponseLog, n: int = WINDOW - 4) -> ResponseLog:
    """Each student's first n events: shorter than the attention window, so batch and incremental scoring see
    the same history."""
    return ResponseLog({seq[0].user_id: seq[:n] for seq in log.sequences()})


@pytest.fixture(scope="module")
def ens(sim):
    _, _, train, test = sim
    model = get_model_class("ensemble")(members=TINY)
    model.fit(train, **FIT)
    return model, test


def test_registered_with_akt_options_that_exist():
    assert MODEL_REGISTRY["ensemble"] is EnsembleModel
    default = EnsembleConfig().members
    assert default == ["pfa_recency", "dkt", "akt"]
    model = EnsembleModel()
    assert [m.name for m in model.members] == ["pfa_recency", "dkt", "akt"]
    assert model.members[2].config.question_layers == 0
    with_encoder = EnsembleModel(members=["pfa", ["akt", {"question_layers": 1, "kq_same": True}]])
    assert with_encoder.members[1].config.question_layers == 1
    assert with_encoder.members[1].config.kq_same is True
    with pytest.raises(ValueError, match="unknown config option"):
        EnsembleModel(members=["pfa", ["dkt", {"nope": 1}]])
    with pytest.raises(ValueError, match="unknown model"):
        EnsembleModel(members=["pfa", "nope"])
    with pytest.raises(ValueError, match="cannot be a member"):
        EnsembleModel(members=["ensemble"])
    with pytest.raises(ValueError, match="at least one"):
        EnsembleModel(members=[])
    assert EnsembleModel(members=["pfa", "pfa"]).labels == ["pfa", "pfa_2"]


def test_fit_records_each_member(ens):
    model, _ = ens
    train = model.metrics["train"]
    assert list(train) == ["pfa", "dkt", "akt"]
    for label, member in zip(model.labels, model.members, strict=True):
        assert train[label]["model"] == member.name
        assert train[label]["fit_seconds"] == member.metrics["fit_seconds"] >= 0
    assert train["dkt"]["best_epoch"] >= 1
    assert "epochs" not in train["dkt"]
    assert model.fingerprint.startswith("ensemble-")


def test_predict_proba_combines_the_member_logits(ens):
    model, test = ens
    seq = test.sequences()[0][:15]
    state = model.state_from_history(seq)
    p = model.predict_proba(state, CANDS)
    z = [_logit(m.predict_proba(m.state_from_history(seq), CANDS)) for m in model.members]
    assert np.allclose(p, _combined(model, z), atol=1e-5)
    # members do differ, so the mean is not any one of them
    assert max(np.abs(z[0] - z[1]).max(), np.abs(z[0] - z[2]).max()) > 1e-2
    # the candidates' member encodings are memoised on the ensemble's Candidates
    cands = model.encode_candidates(["s0-i0", "s1-i3"])
    model.predict_proba(state, cands)
    assert sum(k.startswith("ensemble:") for k in cands.memo) == len(model.members)
    assert np.allclose(model.predict_proba(state, cands), model.predict_proba(state, ["s0-i0", "s1-i3"]))
    # a raw history works too
    assert np.allclose(model.predict_proba(seq, CANDS), p)


def test_predict_log_combines_the_member_logits(ens):
    model, test = ens
    y, p = model.predict_log(test)
    members = [m.predict_log(test) for m in model.members]
    for ym, _ in members:
        assert np.array_equal(ym, y)
    z = [_logit(np.clip(pm, 1e-7, 1 - 1e-7)) for _, pm in members]
    assert np.allclose(p, _combined(model, z), atol=1e-5)


def test_incremental_matches_history_and_batch(ens):
    model, test = ens
    short = _short(test)
    _, p_batch = model.predict_log(short)
    inc = []
    for seq in short.sequences():
        state = model.init_state()
        for r in seq:
            inc.append(model.predict_proba(state, [(r.item_id, r.skill_ids)])[0])
            state = model.update(state, r)
        rebuilt = model.state_from_history(seq)
        assert rebuilt.to_json() == state.to_json()
        assert np.allclose(model.predict_proba(rebuilt, CANDS), model.predict_proba(state, CANDS), atol=1e-6)
    assert np.allclose(inc, p_batch, atol=1e-5)


def test_update_leaves_input_and_accepts_a_dict(ens):
    model, test = ens
    seq = test.sequences()[3][:6]
    state = model.state_from_history(seq[:5])
    before = state.to_json()
    p_before = model.predict_proba(state, CANDS)
    r = seq[5]
    a = model.update(state, r)
    b = model.update(state, {"item_id": r.item_id, "skill_ids": list(r.skill_ids), "correct": r.correct})
    assert state.to_json() == before
    assert np.allclose(model.predict_proba(state, CANDS), p_before)
    assert a.n == state.n + 1
    assert np.allclose(model.predict_proba(a, CANDS), model.predict_proba(b, CANDS))


def test_json_state_round_trip(ens):
    model, test = ens
    seq = test.sequences()[2]
    state = model.state_from_history(seq[:30])
    again = State.from_json(state.to_json())
    assert again.to_json() == state.to_json()
    assert again.cache is None
    assert np.allclose(model.predict_proba(again, CANDS), model.predict_proba(state, CANDS), atol=1e-6)
    # updates after the round trip go on as they would have
    a, b = model.update(state, seq[30]), model.update(again, seq[30])
    assert np.allclose(model.predict_proba(a, CANDS), model.predict_proba(b, CANDS), atol=1e-6)
    assert a.to_json() == b.to_json()
    # member state data is stored per member
    data = json.loads(state.to_json())["data"]
    assert [e["fingerprint"] for e in data["members"]] == [m.fingerprint for m in model.members]


def test_mastery_through_virtual_items(ens):
    model, test = ens
    state = model.state_from_history(test.sequences()[4][:12])
    m = model.mastery(state)
    assert set(m) >= {"s0", "s1", "s2", "s3"}
    assert all(0 < p < 1 and u > 0 for p, u in m.values())
    z = [_logit(mem.predict_proba(mem.state_from_history(test.sequences()[4][:12]), [("\x00skill:s1", ("s1",))]))
         for mem in model.members]
    assert m["s1"][0] == pytest.approx(float(_combined(model, z)[0]), abs=1e-5)


def test_stale_states_are_refused(ens, sim):
    model, test = ens
    seq = test.sequences()[0][:5]
    other = get_model_class("ensemble")(members=["pfa"])
    other.fit(sim[2])
    foreign = other.state_from_history(seq)
    with pytest.raises(StaleStateError):
        model.predict_proba(foreign, CANDS)
    with pytest.raises(StaleStateError):
        model.update(foreign, seq[0])
    with pytest.raises(StaleStateError):  # a member's own state is not an ensemble state
        model.update(model.members[0].state_from_history(seq), seq[0])
    # a state whose member parts come from other members is refused too
    forged = State.from_json(model.state_from_history(seq).to_json())
    forged.data["members"][0]["fingerprint"] = "pfa-elsewhere"
    with pytest.raises(StaleStateError):
        model.predict_proba(forged, CANDS)


def test_save_load_round_trip(ens, tmp_path):
    model, test = ens
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "model.json").is_file()
    for label in model.labels:
        assert (tmp_path / "m" / "members" / label / "model.pt").is_file()
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, EnsembleModel)
    assert loaded.fingerprint == model.fingerprint
    assert [m.fingerprint for m in loaded.members] == [m.fingerprint for m in model.members]
    assert loaded.metrics["train"].keys() == model.metrics["train"].keys()
    state = model.state_from_history(test.sequences()[1][:25])
    again = State.from_bytes(state.to_bytes())
    assert np.array_equal(loaded.predict_proba(again, CANDS), model.predict_proba(state, CANDS))
    assert np.array_equal(loaded.predict_log(test)[1], model.predict_log(test)[1])
    with pytest.raises(ValueError, match="not pfa"):
        get_model_class("pfa").load(tmp_path / "m")


def test_weights_are_loaded_with_weights_only(ens, tmp_path, monkeypatch):
    model, _ = ens
    model.save(tmp_path / "m")
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_model(tmp_path / "m")
    assert calls == [True] * len(model.members)


def test_auc_at_least_the_worst_member(ens):
    model, test = ens
    y, p = model.predict_log(test)
    auc = auc_score(y, p)
    members = [auc_score(*m.predict_log(test)) for m in model.members]
    assert auc >= min(members)
    assert auc > 0.65


def test_register_items_difficulty_reaches_members(ens, tmp_path):
    model, _ = ens
    model.save(tmp_path / "m")
    copy = load_model(tmp_path / "m")
    state = copy.init_state()
    cands = [("new-q", ["s1"])]
    base = copy.predict_proba(state, cands)
    copy.register_items({"new-q": ["s1"]}, difficulty={"new-q": 1.5})
    for member in copy.members:
        assert member.item_priors == {"new-q": 1.5}
        assert member.extra_items["new-q"] == ("s1",)
    seeded = copy.predict_proba(state, ["new-q"])  # its skills now come from register_items
    assert float(_logit(base)[0] - _logit(seeded)[0]) == pytest.approx(1.5, abs=1e-4)
    z = [_logit(m.predict_proba(m.init_state(), ["new-q"])) for m in copy.members]
    # each member's prediction includes the seed; the ensemble shifts its combination by the seed once
    assert np.allclose(seeded, _sigmoid(_logit(_combined(copy, [zk + 1.5 for zk in z])) - 1.5), atol=1e-5)
    copy.save(tmp_path / "m2")
    assert load_model(tmp_path / "m2").members[1].item_priors == {"new-q": 1.5}
    copy.register_items({}, difficulty={"new-q": None})
    assert all("new-q" not in m.item_priors for m in copy.members)


def test_champion_takes_the_ensemble_as_a_challenger(tmp_path):
    log, _ = simulate(n_students=60, n_skills=3, items_per_skill=8, length=25, seed=5)
    record = train_and_select(log, tmp_path, ["ensemble"], min_students=20, min_responses=100, epochs=2,
                              model_configs={"ensemble": {"members": ["pfa", ["dkt", {"d_model": 8, "hidden": 16}]]}})
    assert set(record["candidates"]) == {"pfa", "ensemble"}
    assert record["candidates"]["ensemble"]["fit_seconds"] is not None
    loaded = load_model(tmp_path / "ensemble")
    assert isinstance(loaded, EnsembleModel)
    assert loaded.metrics["train"]["dkt"]["best_epoch"] >= 1
    assert load_champion(tmp_path).fingerprint == record["fingerprint"]


def test_cli_train_and_evaluate(tmp_path):
    for name, n in (("train", 60), ("valid", 15), ("test", 20)):
        log, _ = simulate(n_students=n, n_skills=3, items_per_skill=8, length=20, seed=4, user_prefix=f"{name}-")
        write_csv(log, tmp_path / f"{name}.csv")
    runner = CliRunner()
    out = tmp_path / "ens"
    members = json.dumps(["pfa", ["dkt", {"d_model": 8, "hidden": 16}]])
    res = runner.invoke(kt, ["train", "--data", str(tmp_path / "train.csv"), "--format", "csv", "--valid",
                             str(tmp_path / "valid.csv"), "--model", "ensemble", "--out", str(out), "--epochs", "2",
                             "--no-progress", "--set", f"members={members}"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["model"] == "ensemble"
    assert set(summary["train"]) == {"pfa", "dkt"}
    assert 0 < summary["valid"]["auc"] <= 1
    res = runner.invoke(kt, ["evaluate", "--model", str(out), "--data", str(tmp_path / "test.csv"), "--format",
                             "csv", "--json"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)
    assert metrics["model"] == "ensemble"
    assert metrics["n"] == 20 * 20
    assert 0.5 < metrics["auc"] <= 1.0


def test_stacking_weights_follow_the_informative_member(monkeypatch):
    """The stacking regression on known member logits: y depends on member 0 only (twice its logit), member 1 is
    noise; the fit recovers about (2, 0)."""
    rng = np.random.default_rng(0)
    n = 5000
    z = rng.normal(0.0, 1.0, (2, n))
    y = (rng.random(n) < _sigmoid(2.0 * z[0] - 0.3)).astype(float)
    model = EnsembleModel(members=["pfa", "pfa"])
    monkeypatch.setattr(model, "_member_logits", lambda log, batch_size=64: (y, z))
    events = type("Log", (), {"__len__": lambda self: n})()  # only its length is read; the logits are given
    done = model._fit_weights(events)
    assert done["method"] == "stacked"
    assert model.weights[0] == pytest.approx(2.0, abs=0.2)
    assert abs(model.weights[1]) < 0.1
    assert model.bias == pytest.approx(-0.3, abs=0.1)
    assert done["weights"] == {"pfa": round(model.weights[0], 4), "pfa_2": round(model.weights[1], 4)}


def test_mean_when_asked_or_when_validation_is_thin(sim):
    _, _, train, test = sim
    mean = get_model_class("ensemble")(members=["pfa", "pfa"], combine="mean").fit(train, test)
    assert mean.metrics["combine"]["method"] == "mean"
    assert mean.weights == [0.5, 0.5]
    assert mean.bias == 0.0
    thin = get_model_class("ensemble")(members=["pfa", "pfa"], min_stack_events=10**6).fit(train, test)
    assert thin.metrics["combine"] == {"method": "mean", "n_events": len(test), "weights": {"pfa": 0.5, "pfa_2": 0.5},
                                       "bias": 0.0}
    with pytest.raises(ValueError, match="combine"):
        EnsembleModel(combine="median")


def test_stacked_weights_are_saved_and_old_models_load_as_the_mean(ens, tmp_path):
    model, test = ens
    assert model.metrics["combine"]["method"] == "stacked"  # fitted without a validation log: on held-out students
    assert model.metrics["combine"]["n_events"] > 0
    assert model.weights != [1 / 3] * 3
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.weights == model.weights
    assert loaded.bias == model.bias
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    for key in ("weights", "bias", "combine"):  # a model saved before stacking existed
        meta.pop(key, None)
        meta["config"].pop(key, None)
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    old = load_model(tmp_path / "m")
    assert old.weights == [1 / 3] * 3
    assert old.bias == 0.0
    _y, p = old.predict_log(test)
    z = [_logit(np.clip(m.predict_log(test)[1], 1e-7, 1 - 1e-7)) for m in old.members]
    assert np.allclose(p, _sigmoid(np.mean(z, 0)), atol=1e-6)


def test_stacking_holds_out_students_no_member_was_fitted_on(sim):
    _, _, train, _ = sim
    model = get_model_class("ensemble")(members=["pfa", ["dkt", {"d_model": 8, "hidden": 8}]])
    model.fit(train, epochs=1, batch_size=64, seed=3)
    held = round(0.1 * train.n_students)
    assert model.metrics["n_train_students"] == train.n_students - held
    assert model.members[0].metrics["n_train_students"] == train.n_students - held
    assert model.metrics["combine"]["n_events"] > 0


def test_repeated_members_train_with_the_next_seeds(sim):
    _, _, train, test = sim
    model = get_model_class("ensemble")(members=[["dkt", {"d_model": 8, "hidden": 8}]] * 3)
    model.fit(train, test, epochs=1, batch_size=64, seed=7)
    assert [model.metrics["train"][label].get("seed") for label in model.labels] == [7, 8, 9]
    p = [m.predict_log(test)[1] for m in model.members]
    assert not np.allclose(p[0], p[1])
    assert not np.allclose(p[1], p[2])
