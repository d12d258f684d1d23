"""pyBKT as a baseline of ``bench/kt_quality.py``, run in a separate interpreter.

pyBKT 1.4 cannot run in this project's environment (its import probes scikit-learn metrics and breaks with
scikit-learn 1.9; its pure-Python EM breaks with numpy 2). It runs in a side environment::

    python3 -m venv /tmp/pybkt-venv
    /tmp/pybkt-venv/bin/pip install "numpy<2" "scikit-learn<1.5" "pandas<2.2" pyBKT

and ``kt_quality.py --models pybkt,... --pybkt-python /tmp/pybkt-venv/bin/python`` hands it the same fold as every
other model: the rows go out as CSV (one row per skill of an event, in each student's order), ``pybkt_runner.py``
fits and predicts, and the predictions come back and are collapsed to one per event (the mean of its skills'
predictions, as for the ``bkt`` baseline), so the AUC is question-level like every other row of the table.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from adaptive.data import ResponseLog

RUNNER = Path(__file__).resolve().parent / "pybkt_runner.py"


def _write(log: ResponseLog, path: Path, names: dict[str, str]) -> tuple[list[int], int]:
    """Write one row per (event, skill); returns the answer of each event and the number of events. Skills are
    written as ``k<n>`` (``names`` maps them, shared by train and test): pyBKT matches skill names as regular
    expressions, so names with ``(``, ``+`` or ``.`` would select the wrong rows."""
    answers: list[int] = []
    order = 0
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["order_id", "user_id", "skill_name", "correct", "event"])
        for seq in log.sequences():
            for r in seq:
                event = len(answers)
                answers.append(int(r.correct))
                for s in r.skill_ids or ("",):
                    order += 1
                    w.writerow([order, r.user_id, names.setdefault(s, f"k{len(names)}"), int(r.correct), event])
    return answers, len(answers)


def pybkt_predict(train: ResponseLog, test: ResponseLog, python: str, *, seed: int = 0,
                  num_fits: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(answers, P(correct)) for every event of ``test``, student by student, from pyBKT fitted on ``train``."""
    if not Path(python).exists():
        raise FileNotFoundError(f"--pybkt-python {python}: no such interpreter (see bench/pybkt_bridge.py)")
    with tempfile.TemporaryDirectory(prefix="pybkt-") as tmp:
        d = Path(tmp)
        names: dict[str, str] = {}
        _write(train, d / "train.csv", names)
        answers, n = _write(test, d / "test.csv", names)
        subprocess.run([python, str(RUNNER), str(d / "train.csv"), str(d / "test.csv"), str(d / "out.csv"),
                        "--seed", str(seed), "--num-fits", str(num_fits)], check=True, stdout=sys.stdout)
        sums, counts = np.zeros(n), np.zeros(n)
        with (d / "out.csv").open() as fh:
            for row in csv.DictReader(fh):
                e = int(row["event"])
                sums[e] += float(row["p"])
                counts[e] += 1
    if (counts == 0).any():
        raise RuntimeError("pyBKT returned no prediction for some test events")
    return np.asarray(answers, float), sums / counts
