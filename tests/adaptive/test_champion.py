from __future__ import annotations

import json

from adaptive.champion import choose, load_champion, read_record, train_and_select
from adaptive.models.baseline import PFAModel
from adaptive.synthetic import simulate


def test_thin_data_keeps_the_baseline(tmp_path):
    log, _ = simulate(n_students=10, n_skills=2, items_per_skill=5, length=10, seed=0)
    record = train_and_select(log, tmp_path, ["dkt"], min_students=50)
    assert record["champion"] == "pfa"
    assert "too thin" in record["reason"]
    assert isinstance(load_champion(tmp_path), PFAModel)
    assert json.loads((tmp_path / "champion.json").read_text())["champion"] == "pfa"


def test_a_handful_of_students_leaves_the_baseline_untrained(tmp_path):
    """One strong student's answers must not become everyone's prior: below MIN_FIT_STUDENTS the baseline that
    serves is the untrained one (with the authors' seeds), so a newcomer's predictions do not move."""
    from adaptive.champion import MIN_FIT_STUDENTS

    log, _ = simulate(n_students=MIN_FIT_STUDENTS - 1, n_skills=2, items_per_skill=5, length=40, seed=3)
    seeds = {"s0-i0": 1.0}
    record = train_and_select(log, tmp_path, ["dkt"], item_priors=seeds)
    assert record["champion"] == "pfa"
    model = load_champion(tmp_path)
    assert model.fingerprint == "pfa-untrained"
    assert model.item_priors == seeds
    fresh = PFAModel()
    fresh.register_items({}, difficulty=seeds)
    cands = [("s0-i0", ["s0"]), ("s1-i3", ["s1"])]
    assert model.predict_proba(model.init_state(), cands).tolist() == \
        fresh.predict_proba(fresh.init_state(), cands).tolist()


def test_choose_needs_a_margin_over_the_baseline():
    results = {"pfa": {"auc": 0.70}, "dkt": {"auc": 0.705}, "akt": {"auc": float("nan")}}
    assert choose(results)[0] == "dkt"
    assert choose(results, min_gain=0.01)[0] == "pfa"
    assert choose({"pfa": {"auc": 0.72}, "dkt": {"auc": 0.70}})[0] == "pfa"


def test_records_the_winner_on_heldout_students(tmp_path):
    log, _ = simulate(n_students=80, n_skills=3, items_per_skill=10, length=30, seed=5)
    record = train_and_select(log, tmp_path, ["dkt"], min_students=20, min_responses=100, epochs=2,
                              model_configs={"dkt": {"d_model": 8, "hidden": 16}})
    assert set(record["candidates"]) == {"pfa", "dkt"}
    best = max(record["candidates"], key=lambda k: record["candidates"][k]["auc"])
    assert record["champion"] == best
    model = load_champion(tmp_path)
    assert model.name == best
    assert model.fingerprint == record["fingerprint"]
    # a second decision keeps the first in the history
    train_and_select(log, tmp_path, [], min_students=20, min_responses=100)
    rec2 = read_record(tmp_path)
    assert rec2["champion"] == "pfa"
    assert rec2["history"][-1]["champion"] == best


def test_a_challenger_that_cannot_train_loses_the_round_and_nothing_else(tmp_path, monkeypatch):
    from adaptive.models.dkt import DKTModel
    from adaptive.train import TrainingError

    def diverge(self, *args, **kwargs):
        raise TrainingError("training diverged in epoch 1 (the loss is nan); lower the learning rate")

    monkeypatch.setattr(DKTModel, "fit", diverge)
    log, _ = simulate(n_students=60, n_skills=3, items_per_skill=8, length=20, seed=6)
    record = train_and_select(log, tmp_path, ["dkt"], min_students=20, min_responses=100)
    assert record["champion"] == "pfa"
    assert "diverged" in record["candidates"]["dkt"]["error"]
    assert not (tmp_path / "dkt").exists()
    assert choose({"pfa": {"auc": 0.7}, "dkt": {"error": "x"}, "akt": {"auc": None}})[0] == "pfa"
    json.loads((tmp_path / "champion.json").read_text(),
               parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # strict JSON


def test_no_record_gives_an_untrained_baseline(tmp_path):
    model = load_champion(tmp_path / "empty")
    assert model.name == "pfa"
    assert 0 < model.predict_proba(model.init_state(), [("q", ["s"])])[0] < 1
