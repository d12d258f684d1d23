from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from adaptive.cli import kt
from adaptive.data import write_csv
from adaptive.synthetic import simulate


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    for name, seed, n in (("train", 1, 120), ("valid", 2, 30), ("test", 3, 40)):
        log, _ = simulate(n_students=n, n_skills=3, items_per_skill=10, length=30, seed=4, user_prefix=name)
        if seed:  # different students, same items
            log, _ = simulate(n_students=n, n_skills=3, items_per_skill=10, length=30, seed=4,
                              user_prefix=f"{name}-")
        write_csv(log, d / f"{name}.csv")
    return d


@pytest.mark.parametrize("model", ["pfa", "dkt"])
def test_train_then_evaluate(files, tmp_path, model):
    runner = CliRunner()
    out = tmp_path / model
    res = runner.invoke(kt, ["train", "--data", str(files / "train.csv"), "--format", "csv", "--valid",
                             str(files / "valid.csv"), "--model", model, "--out", str(out), "--epochs", "2",
                             "--no-progress", "--set", "d_model=8" if model == "dkt" else "max_iter=50"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["model"] == model
    assert (out / "model.json").is_file()
    res = runner.invoke(kt, ["evaluate", "--model", str(out), "--data", str(files / "test.csv"), "--format", "csv",
                             "--json"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)
    assert {"auc", "accuracy", "rmse", "n"} <= set(metrics)
    assert metrics["n"] == 40 * 30
    assert 0.5 < metrics["auc"] <= 1.0


def test_clear_errors(files, tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,skill_id,correct\nu,q,s,1\nu,q,s,2\n")
    res = runner.invoke(kt, ["train", "--data", str(bad), "--format", "csv", "--model", "pfa", "--out",
                             str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "bad.csv:3" in res.output
    res = runner.invoke(kt, ["train", "--data", str(files / "train.csv"), "--format", "csv", "--model", "nope",
                             "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "unknown model 'nope'" in res.output
    res = runner.invoke(kt, ["train", "--data", str(tmp_path / "missing.csv"), "--format", "csv", "--out",
                             str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "does not exist" in res.output
    res = runner.invoke(kt, ["evaluate", "--model", str(tmp_path), "--data", str(files / "test.csv"),
                             "--format", "csv"])
    assert res.exit_code == 2
    assert "model.json" in res.output
    res = runner.invoke(kt, ["train", "--data", str(files / "train.csv"), "--format", "csv", "--model", "dkt",
                             "--set", "colour=blue", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "unknown config option" in res.output
    res = runner.invoke(kt, ["train", "--data", str(files / "train.csv"), "--format", "csv", "--model", "dkt",
                             "--ema", "1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "--ema" in res.output


def test_train_warns_when_the_baseline_fit_stops_before_converging(files, tmp_path):
    runner = CliRunner()
    args = ["train", "--data", str(files / "train.csv"), "--format", "csv", "--no-progress"]
    res = runner.invoke(kt, [*args, "--model", "pfa", "--out", str(tmp_path / "a"), "--set", "max_iter=2"])
    assert res.exit_code == 0, res.output
    assert "warning: pfa: the fit stopped after 2 iterations, before it converged" in res.stderr
    assert json.loads(res.stdout)["train"]["converged"] is False
    res = runner.invoke(kt, [*args, "--model", "pfa", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "warning" not in res.stderr
    assert json.loads(res.stdout)["train"]["converged"] is True
    members = '[["pfa_recency", {"max_iter": 2}], ["dkt", {"hidden": 8}]]'
    res = runner.invoke(kt, [*args, "--model", "ensemble", "--epochs", "1", "--out", str(tmp_path / "c"), "--set",
                             f"members={members}"])
    assert res.exit_code == 0, res.output
    assert "warning: pfa_recency: the fit stopped after 2 iterations" in res.stderr
