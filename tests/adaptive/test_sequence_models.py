from __future__ import annotations

import numpy as np
import pytest

from adaptive import State, get_model_class, load_model
from adaptive.evaluate import evaluate_model

SMALL = {"dkt": {"d_model": 16, "hidden": 32}, "akt": {"d_model": 16, "heads": 2, "d_ff": 32, "window": 24}}


@pytest.fixture(scope="module", params=["dkt", "akt"])
def trained(request, sim):
    _, _, train, test = sim
    model = get_model_class(request.param)(**SMALL[request.param])
    model.fit(train, epochs=12, batch_size=32, lr=5e-3, max_len=24, patience=12, seed=0)
    return model, test


def test_learns_something(trained):
    model, test = trained
    hist = model.metrics["train"]
    assert hist["best_epoch"] >= 1
    assert evaluate_model(model, test)["auc"] > 0.65


def test_incremental_updates_match_batch_scoring(trained):
    model, test = trained
    seq = test.sequences()[1][:20]  # shorter than every window: batch and incremental see the same history
    from adaptive.data import ResponseLog

    _, p_batch = model.predict_log(ResponseLog({"x": seq}))
    state = model.init_state()
    inc = []
    for r in seq:
        inc.append(model.predict_proba(state, [(r.item_id, r.skill_ids)])[0])
        state = model.update(state, r)
    assert np.allclose(inc, p_batch, atol=1e-4)


def test_state_json_and_save_load(trained, tmp_path):
    model, test = trained
    seq = test.sequences()[2][:15]
    state = model.state_from_history(seq)
    cands = ["s0-i0", "s3-i7", ("new-item", ["s2"]), "unknown"]
    p = model.predict_proba(state, cands)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.name == model.name
    again = State.from_bytes(state.to_bytes())
    assert np.allclose(loaded.predict_proba(again, cands), p, atol=1e-5)
    nxt = loaded.update(again, seq[0])
    assert nxt.n == state.n + 1
    m = loaded.mastery(nxt)
    assert set(m) >= {"s0", "s1", "s2", "s3"}
    assert all(0 < v[0] < 1 and v[1] > 0 for v in m.values())


def test_save_swaps_the_whole_model_in_and_refuses_other_folders(trained, tmp_path, monkeypatch):
    from adaptive.models.base import ModelDirError

    model, _ = trained
    target = tmp_path / "m"
    model.save(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def crash(directory):  # the disk fills up half-way through writing the new files
        (directory / "model.pt").write_bytes(b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(model, "_write_files", crash)
    with pytest.raises(OSError, match="No space"):
        model.save(target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before  # the old model, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no half-written folder left
    monkeypatch.undo()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ModelDirError, match="not a saved model"):
        model.save(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_training_options_and_one_kind_of_validation_answer(sim):
    from adaptive.data import Response, ResponseLog
    from adaptive.train import TrainConfig

    for bad in ({"epochs": 0}, {"epochs": -3}, {"lr": float("nan")}, {"lr": 0.0}, {"batch_size": 0},
                {"patience": 0}, {"max_len": 1}, {"valid_frac": 1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TrainConfig(**bad)
    _, _, train, _ = sim
    right_only = ResponseLog({u: [Response(u, r.item_id, r.skill_ids, 1, r.timestamp) for r in seq[:10]]
                              for u, seq in zip(("v1", "v2", "v3"), train.sequences()[:3], strict=True)})
    model = get_model_class("dkt")(**SMALL["dkt"]).fit(train, valid=right_only, epochs=3, batch_size=32,
                                                        max_len=24, seed=0)
    hist = model.metrics["train"]
    assert hist["selected_on"] == "valid_logloss"
    assert hist["best_epoch"] >= 1  # a trained model, not the initial weights
    assert hist["best_valid_auc"] is None
    assert all(e["valid_auc"] is None for e in hist["epochs"])


def test_one_skill_given_as_a_string_is_one_skill(trained):
    model, test = trained
    state = model.state_from_history(test.sequences()[0][:5])
    assert set(model.mastery(state, "s0")) == {"s0"}  # not {"s", "0"}
    p = model.predict_proba(state, [("new-q", "s2"), ("new-q", ["s2"]), ("bare-q",)])
    assert p[0] == p[1]
    with pytest.raises(ValueError, match="candidate 0 is empty"):
        model.predict_proba(state, [()])
    with pytest.raises(TypeError, match="a response is a Response or a dict"):
        model.update(state, None)


def test_plain_dkt_per_skill_head(sim):
    _, _, train, test = sim
    model = get_model_class("dkt")(item_embeddings=False, head="skill", d_model=16, hidden=32)
    model.fit(train, epochs=3, batch_size=32, lr=5e-3, max_len=24)
    assert evaluate_model(model, test)["auc"] > 0.6
    p = model.predict_proba(test.sequences()[0][:5], ["s0-i0", ("x", ["s1", "s2"])])
    assert p.shape == (2,)


def test_unknown_config_option():
    with pytest.raises(ValueError, match="unknown config option"):
        get_model_class("akt")(nope=1)
    with pytest.raises(ValueError, match="unknown model"):
        get_model_class("bkt9")


def test_no_answer_leaks_into_its_own_prediction(trained, sim):
    """Flipping the answer of event t changes nothing at or before t, and the predictions after it."""
    import dataclasses

    from adaptive.data import ResponseLog
    from adaptive.models.baseline import PFAModel

    model, test = trained
    seq = test.sequences()[3][:30]
    flipped = list(seq)
    flipped[10] = dataclasses.replace(seq[10], correct=1 - seq[10].correct)
    for m in (model, PFAModel().fit(sim[2])):
        _, p = m.predict_log(ResponseLog({"a": seq}))
        _, q = m.predict_log(ResponseLog({"a": flipped}))
        assert np.allclose(p[:11], q[:11], atol=1e-6)
        assert not np.allclose(p[11:], q[11:], atol=1e-6)


def test_batches_cover_every_window_once_with_little_padding():
    import random

    from adaptive.models.base import Encoded
    from adaptive.train import batches

    rng = np.random.default_rng(0)
    data = [Encoded(np.zeros(n, np.int64), np.zeros((n, 1), np.int64), np.zeros(n, np.float32))
            for n in rng.integers(2, 200, 1000)]
    for bucket in (1, 32):
        out = batches(data, 16, random.Random(1), bucket)
        assert sorted(i for b in out for i in b) == list(range(1000))
        assert batches(data, 16, random.Random(1), bucket) == out  # the same on every rank
    padded = sum(len(b) * max(len(data[i]) for i in b) for b in out)  # bucket=32: length-sorted runs
    assert padded < 1.3 * sum(len(d) for d in data)


def test_weight_averaging(sim):
    """``ema``: validation and the returned model use the moving average of the weights, the steps the raw ones."""
    import torch

    from adaptive.train import TrainConfig

    _, _, train, test = sim
    opts = {"epochs": 3, "batch_size": 32, "lr": 5e-3, "max_len": 24, "patience": 3, "seed": 0}

    def fitted(**extra):
        model = get_model_class("dkt")(**SMALL["dkt"])
        model.fit(train, **opts, **extra)
        return model, torch.cat([p.detach().flatten() for p in model.net.parameters()])

    raw, raw_w = fitted(ema=0.0)
    # a vanishing average is the raw weights: swapping the average in for validation leaves the training as it was
    same, same_w = fitted(ema=1e-9)
    assert torch.allclose(raw_w, same_w, atol=1e-5)
    assert same.metrics["train"]["best_epoch"] == raw.metrics["train"]["best_epoch"]
    averaged, avg_w = fitted(ema=0.9)
    assert not torch.allclose(raw_w, avg_w, atol=1e-3)
    auc_raw, auc_avg = evaluate_model(raw, test)["auc"], evaluate_model(averaged, test)["auc"]
    assert auc_avg > 0.6
    assert abs(auc_avg - auc_raw) < 0.03
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.0)


def test_stacked_lstm_serves_what_it_scores_in_batch(sim):
    """The serving step (``lstm_cell`` layer by layer) gives the training network's predictions with two layers."""
    from adaptive.data import ResponseLog

    _, _, train, test = sim
    model = get_model_class("dkt")(d_model=16, hidden=32, layers=2)
    model.fit(train, epochs=2, batch_size=32, lr=5e-3, max_len=24, seed=0)
    seq = test.sequences()[2][:20]
    _, p_batch = model.predict_log(ResponseLog({"x": seq}))
    state, inc = model.init_state(), []
    for r in seq:
        inc.append(model.predict_proba(state, [(r.item_id, r.skill_ids)])[0])
        state = model.update(state, r)
    assert np.allclose(inc, p_batch, atol=1e-5)
    assert state.data["h"].shape == (2, 1, 32)
