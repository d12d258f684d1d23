"""Leak-free, question-level evaluation.

Each event (one student answering one item, whatever its number of skills) gets exactly one prediction, made from
the student's events strictly before it. A multi-skill item is never expanded into one row per skill: the copies
carry the answer and inflate AUC.

``metrics(y, p)`` returns ``auc, accuracy, rmse, logloss, ece, n, positive_rate`` and ``reliability`` (equal-width
bins: count, mean predicted, observed rate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from adaptive.data import ResponseLog
    from adaptive.models.base import KTModel


def auc_score(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half); nan if only one class is present."""
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inv, counts = np.unique(p, return_inverse=True, return_counts=True)
    # average rank of each distinct value (1-based)
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0
    ranks = avg_rank[inv]
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def reliability(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> tuple[float, list[dict[str, float | None]]]:
    """Expected calibration error and the reliability bins."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    idx = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    ece = 0.0
    bins: list[dict[str, float | None]] = []
    for b in range(n_bins):
        sel = idx == b
        k = int(sel.sum())
        if not k:
            bins.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "n": 0, "mean_p": None, "observed": None})
            continue
        mp, ob = float(p[sel].mean()), float(y[sel].mean())
        ece += k / len(y) * abs(mp - ob)
        bins.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "n": k, "mean_p": mp, "observed": ob})
    return ece, bins


def metrics(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> dict[str, Any]:
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    if len(y) == 0:
        raise ValueError("no responses to evaluate")
    ece, bins = reliability(y, p, n_bins)
    return {
        "auc": auc_score(y, p),
        "accuracy": float(((p >= 0.5) == (y == 1)).mean()),
        "rmse": float(np.sqrt(((p - y) ** 2).mean())),
        "logloss": float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()),
        "ece": float(ece),
        "n": len(y),
        "positive_rate": float(y.mean()),
        "reliability": bins,
    }


def evaluate_model(model: KTModel, log: ResponseLog, n_bins: int = 10) -> dict[str, Any]:
    """Question-level metrics of ``model`` on the students of ``log`` (each event predicted from its past)."""
    y, p = model.predict_log(log)
    return metrics(y, p, n_bins)
