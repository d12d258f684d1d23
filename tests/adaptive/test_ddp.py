"""Data-parallel training: 2 processes on loopback (torchrun, gloo) match 1 process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from adaptive import load_model
from adaptive.data import write_csv
from adaptive.evaluate import evaluate_model
from adaptive.synthetic import simulate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    log, _ = simulate(n_students=120, n_skills=3, items_per_skill=10, length=30, seed=11)
    write_csv(log, tmp_path / "train.csv")
    test_log, _ = simulate(n_students=40, n_skills=3, items_per_skill=10, length=30, seed=11, user_prefix="t")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    common = ["kt", "train", "--data", str(tmp_path / "train.csv"), "--format", "csv", "--model", "dkt",
              "--epochs", "3", "--batch-size", "32", "--lr", "0.005", "--threads", "1", "--no-progress",
              "--set", "d_model=16", "--set", "hidden=32", "--set", "dropout=0"]
    one = subprocess.run([sys.executable, "-m", "adaptive", *common, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(free_port()), "-m", "adaptive", *common, "--out", str(tmp_path / "two")],
        capture_output=True, text=True, env=env, timeout=180, check=False)
    assert two.returncode == 0, two.stderr
    hist = json.loads((tmp_path / "two" / "model.json").read_text())["metrics"]["train"]
    assert hist["world_size"] == 2
    aucs = {name: evaluate_model(load_model(tmp_path / name), test_log)["auc"] for name in ("one", "two")}
    assert aucs["one"] > 0.6
    assert abs(aucs["one"] - aucs["two"]) < 0.01, aucs
