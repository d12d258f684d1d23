from __future__ import annotations

import itertools

import numpy as np
import pytest

from adaptive.evaluate import auc_score, metrics


def brute_auc(y, p):
    pos = [pi for yi, pi in zip(y, p, strict=True) if yi == 1]
    neg = [pi for yi, pi in zip(y, p, strict=True) if yi == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auc_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.round(rng.random(200), 1)  # many ties
    assert auc_score(y, p) == pytest.approx(brute_auc(y, p))
    assert auc_score(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert np.isnan(auc_score(np.array([1, 1]), np.array([0.3, 0.4])))


def test_metrics_and_calibration():
    rng = np.random.default_rng(1)
    p = rng.random(20000)
    y = (rng.random(20000) < p).astype(int)
    m = metrics(y, p)
    assert m["n"] == 20000
    assert m["ece"] < 0.02  # calibrated by construction
    assert metrics(y, np.clip(p + 0.3, 0, 1))["ece"] > 0.15
    assert sum(b["n"] for b in m["reliability"]) == 20000
    assert m["rmse"] == pytest.approx(np.sqrt(((p - y) ** 2).mean()))
    assert 0.0 < m["accuracy"] < 1.0
