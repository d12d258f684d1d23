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
    assert metrics["unseen"] == {"items": 0.0, "skills": 0.0}  # the same item bank
    assert "note:" not in res.stderr
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


def _strict_json(text: str):
    """JSON as a strict parser reads it: NaN and Infinity are not JSON."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _one_class_csv(path, users: str, correct: int = 1):
    rows = [f"{u},s{k % 3}-i{k % 10},s{k % 3},{correct},{k}" for u in users.split() for k in range(12)]
    path.write_text("user_id,item_id,skill_id,correct,timestamp\n" + "\n".join(rows) + "\n")
    return path


def test_out_is_never_clobbered_without_force(files, tmp_path):
    runner = CliRunner()
    args = ["train", "--data", str(files / "train.csv"), "--format", "csv", "--model", "pfa", "--no-progress"]
    out = tmp_path / "m"
    assert runner.invoke(kt, [*args, "--out", str(out)]).exit_code == 0
    first = (out / "model.json").read_text()
    res = runner.invoke(kt, [*args, "--out", str(out)])
    assert res.exit_code == 2
    assert "already holds a model; give --force" in res.output
    (out / "members" / "stale").mkdir(parents=True)  # left by an ensemble saved here before
    res = runner.invoke(kt, [*args, "--out", str(out), "--force", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert not (out / "members").exists()  # the new model replaced the old one whole
    assert (out / "model.json").read_text() != first
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folder left beside it
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("keep me")
    for target in (other, tmp_path / "notes" / "thesis.tex" / "sub", other / "thesis.tex"):
        res = runner.invoke(kt, [*args, "--out", str(target), "--force"])
        assert res.exit_code == 2, (target, res.output)
        assert "Traceback" not in res.output
    assert (other / "thesis.tex").read_text() == "keep me"


def test_validation_must_be_other_students_and_one_source(files, tmp_path):
    runner = CliRunner()
    res = runner.invoke(kt, ["train", "--data", str(files / "train.csv"), "--valid", str(files / "train.csv"),
                             "--format", "csv", "--model", "pfa", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "120 of the 120 validation students are also in --data" in res.output
    res = runner.invoke(kt, ["train", "--data", str(files / "train.csv"), "--valid", str(files / "valid.csv"),
                             "--valid-fold", "1", "--format", "pykt", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "not both" in res.output


def test_bad_training_options_fail_before_training(files, tmp_path):
    import torch

    runner = CliRunner()
    args = ["train", "--data", str(files / "train.csv"), "--format", "csv", "--model", "dkt", "--out",
            str(tmp_path / "o")]
    devices = ["banana", "cuda:7"] + ([] if torch.cuda.is_available() else ["cuda"])
    for device in devices:
        res = runner.invoke(kt, [*args, "--device", device])
        assert res.exit_code == 2, (device, res.output)
        assert "--device" in res.output
    for lr in ("nan", "-1", "0", "inf"):
        res = runner.invoke(kt, [*args, "--lr", lr])
        assert res.exit_code == 2, (lr, res.output)
        assert "--lr" in res.output
    one = _one_class_csv(tmp_path / "one.csv", "solo")
    res = runner.invoke(kt, ["train", "--data", str(one), "--format", "csv", "--model", "dkt", "--no-progress",
                             "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "training dkt failed: one student's answers cannot be split" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()
    res = runner.invoke(kt, ["select", "--data", str(files / "train.csv"), "--format", "csv", "--models", " , ",
                             "--registry", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "at least one model" in res.output


def test_validation_answers_of_one_kind_select_on_log_loss(files, tmp_path):
    """All validation answers right: AUC is undefined at every epoch, and the model used to come back untrained
    (best epoch 0, best AUC -inf, printed as non-JSON). The log loss decides instead."""
    runner = CliRunner()
    valid = _one_class_csv(tmp_path / "valid1.csv", "v1 v2 v3")
    out = tmp_path / "m"
    res = runner.invoke(kt, ["train", "--data", str(files / "train.csv"), "--valid", str(valid), "--format", "csv",
                             "--model", "dkt", "--epochs", "3", "--no-progress", "--set", "hidden=16",
                             "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = _strict_json(res.stdout.strip().splitlines()[-1])
    assert summary["train"]["selected_on"] == "valid_logloss"
    assert summary["train"]["best_epoch"] >= 1
    assert summary["train"]["best_valid_auc"] is None
    assert summary["valid"]["auc"] is None
    _strict_json((out / "model.json").read_text())
    # evaluating on answers of one kind: AUC undefined, said so (null in JSON)
    res = runner.invoke(kt, ["evaluate", "--model", str(out), "--data", str(valid), "--format", "csv", "--json"])
    assert res.exit_code == 0, res.output
    assert _strict_json(res.output)["auc"] is None
    res = runner.invoke(kt, ["evaluate", "--model", str(out), "--data", str(valid), "--format", "csv"])
    assert "auc: undefined (the test answers are all right or all wrong)" in res.output
    other = tmp_path / "other.csv"
    other.write_text("user_id,item_id,skill_id,correct\nz1,x-1,s0,1\nz1,x-2,zz,0\nz1,s0-i1,s0,1\nz1,x-3,s1,0\n")
    res = runner.invoke(kt, ["evaluate", "--model", str(out), "--data", str(other), "--format", "csv", "--json"])
    assert res.exit_code == 0, res.output
    assert _strict_json(res.stdout)["unseen"] == {"items": 0.75, "skills": 0.25}
    assert "note: 75% of the test answers are on items the model was not trained on" in res.stderr


def test_damaged_model_directories_are_one_line_errors(files, tmp_path):
    import shutil

    runner = CliRunner()
    good = tmp_path / "good"
    res = runner.invoke(kt, ["train", "--data", str(files / "train.csv"), "--format", "csv", "--model", "dkt",
                             "--epochs", "1", "--no-progress", "--set", "hidden=8", "--out", str(good)])
    assert res.exit_code == 0, res.output

    def broken(name, damage):
        d = tmp_path / name
        shutil.copytree(good, d)
        damage(d)
        res = runner.invoke(kt, ["evaluate", "--model", str(d), "--data", str(files / "test.csv"), "--format",
                                 "csv"])
        assert res.exit_code == 2, (name, res.output)
        assert "Traceback" not in res.output
        assert "weights_only=False" not in res.output  # never advise loading untrusted pickles
        return res.output

    assert "model.pt is not a weights file" in broken("empty", lambda d: (d / "model.pt").write_bytes(b""))
    assert "model.pt is not a weights file" in broken("junk", lambda d: (d / "model.pt").write_bytes(b"junk" * 99))
    assert "not a model description" in broken("list", lambda d: (d / "model.json").write_text("[1, 2]"))
    assert "not readable JSON" in broken("text", lambda d: (d / "model.json").write_text("{oops"))

    def retype(d):
        meta = json.loads((d / "model.json").read_text())
        meta["config"]["hidden"] = "abc"
        (d / "model.json").write_text(json.dumps(meta))

    assert "cannot load the model" in broken("retyped", retype)

    def old_schema(d):
        meta = json.loads((d / "model.json").read_text())
        meta["schema_version"] = 0
        (d / "model.json").write_text(json.dumps(meta))

    out = broken("old", old_schema)
    assert "schema version 0, expected 1" in out
    assert out.count(str(tmp_path / "old")) == 1


def test_select_shows_progress_and_records_strict_json(files, tmp_path):
    runner = CliRunner()
    res = runner.invoke(kt, ["select", "--data", str(files / "train.csv"), "--format", "csv", "--models", "dkt",
                             "--registry", str(tmp_path / "reg"), "--epochs", "1", "--min-students", "10",
                             "--min-responses", "100"])
    assert res.exit_code == 0, res.output
    assert "train dkt" in res.stderr  # a bar per sequence model: long work shows progress
    record = _strict_json(res.stdout)
    assert set(record["candidates"]) == {"pfa", "dkt"}
    _strict_json((tmp_path / "reg" / "champion.json").read_text())
