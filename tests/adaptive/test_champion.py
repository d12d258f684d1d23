from __future__ import annotations

import json

import pytest

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


def test_models_move_into_place_only_once_the_champion_is_chosen(tmp_path, monkeypatch):
    """While challengers train, the registry keeps the models its record names (a web worker loading the champion
    then gets the recorded one, never a half-chosen new one); a failed move puts the old folder back."""
    import os

    from adaptive.models import base
    from adaptive.models.dkt import DKTModel

    log, _ = simulate(n_students=60, n_skills=3, items_per_skill=8, length=20, seed=7)
    opts = {"min_students": 20, "min_responses": 100, "epochs": 1,
            "model_configs": {"dkt": {"d_model": 8, "hidden": 16}}}
    first = train_and_select(log, tmp_path, ["dkt"], **opts)
    recorded = {name: json.loads((tmp_path / name / "model.json").read_text())["fingerprint"]
                for name in ("pfa", "dkt")}
    seen = []
    real_fit = DKTModel.fit

    def fit_and_look(self, *args, **kwargs):
        seen.append({name: json.loads((tmp_path / name / "model.json").read_text())["fingerprint"]
                     for name in ("pfa", "dkt")})
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(DKTModel, "fit", fit_and_look)
    second = train_and_select(log, tmp_path, ["dkt"], seed=1, **opts)
    assert seen == [recorded]  # mid-training: still the first decision's models
    assert load_champion(tmp_path).fingerprint == second["fingerprint"] != first["fingerprint"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging or old folders left

    calls = []
    real_replace = os.replace

    def second_rename_fails(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise OSError("disk gone")
        real_replace(src, dst)

    before = (tmp_path / "dkt" / "model.json").read_text()
    monkeypatch.setattr(base.os, "replace", second_rename_fails)
    with pytest.raises(OSError, match="disk gone"):
        load_champion(tmp_path).save(tmp_path / "dkt")
    monkeypatch.setattr(base.os, "replace", real_replace)
    assert (tmp_path / "dkt" / "model.json").read_text() == before  # the old model, back in place


def test_load_champion_waits_out_a_model_being_moved(tmp_path):
    import threading
    import time

    from adaptive.models.base import ModelDirError

    log, _ = simulate(n_students=60, n_skills=3, items_per_skill=8, length=20, seed=8)
    record = train_and_select(log, tmp_path, [], min_students=20, min_responses=100)
    model = load_champion(tmp_path)
    (tmp_path / "pfa").rename(tmp_path / "moving")  # a training's swap in progress
    threading.Timer(0.2, lambda: (tmp_path / "moving").rename(tmp_path / "pfa")).start()
    assert load_champion(tmp_path).fingerprint == record["fingerprint"] == model.fingerprint
    # a training that failed between moving the models in and writing the record: the folder's whole model serves
    rec = json.loads((tmp_path / "champion.json").read_text())
    (tmp_path / "champion.json").write_text(json.dumps({**rec, "fingerprint": "another-model"}))
    started = time.time()
    assert load_champion(tmp_path, attempts=3).fingerprint == model.fingerprint
    assert time.time() - started < 1
    (tmp_path / "pfa" / "model.json").unlink()  # a folder that is no model at all: an error, after the retries
    with pytest.raises(ModelDirError, match=r"no model\.json"):
        load_champion(tmp_path, attempts=3)
