"""Item difficulty: the author's seed on a 0..1 scale, the engine's calibration on the logit scale.

An author rates an item from 0 (easy) to 1 (hard); the models work with a logit offset relative to an average item
of the same skills (IRT's difficulty ``b``: positive is harder). The two scales meet linearly, 0.5 being an average
item and each 0.25 one logit::

    difficulty_to_logit(0.5) == 0.0;  difficulty_to_logit(1.0) == 2.0;  logit_to_difficulty(-2.0) == 0.0

A model uses the seeds as prior knowledge (``KTModel.register_items(..., difficulty=...)``: an item the model was
not trained on is scored as an average item of its skills shifted by its seed; the PFA baseline also shrinks a
trained item's difficulty towards its seed rather than towards 0). ``calibrate`` reads a trained model's own view of
each item back: how much harder (in logits) a newcomer finds the item than an average item of its skills.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from adaptive.models.base import KTModel

LOGITS_PER_UNIT = 4.0  # 0..1 author scale -> -2..+2 logits


def difficulty_to_logit(difficulty: float) -> float:
    """An author's 0 (easy) .. 1 (hard) rating as a logit difficulty (0.5 -> 0)."""
    if not 0.0 <= difficulty <= 1.0 or math.isnan(difficulty):
        raise ValueError(f"difficulty must be between 0 and 1, got {difficulty!r}")
    return LOGITS_PER_UNIT * (difficulty - 0.5)


def logit_to_difficulty(logit: float) -> float:
    """A logit difficulty on the author's 0..1 scale (clipped at the ends)."""
    return min(1.0, max(0.0, 0.5 + logit / LOGITS_PER_UNIT))


def calibrate(model: KTModel, items: Iterable[str] | None = None) -> dict[str, float]:
    """The model's logit difficulty of each item it was trained on (default: all of them; items it does not know
    are left out): logit P(correct) of a newcomer on an average item of the item's skills minus that on the item.
    Model-agnostic (it only uses ``predict_proba`` on a fresh state)."""
    known = model.vocab.items
    ids = [str(i) for i in (known if items is None else items) if str(i) in known]
    if not ids:
        return {}
    state = model.init_state()
    skill_sets = [tuple(model.skills_of(i)) for i in ids]
    unique = list(dict.fromkeys(skill_sets))
    virtual = [(f"\x00avg:{n}", sk) for n, sk in enumerate(unique)]
    p = model.predict_proba(state, [*ids, *virtual])
    eps = 1e-6
    logit = np.log(np.clip(p, eps, 1 - eps)) - np.log(np.clip(1 - p, eps, 1 - eps))
    item_logit, avg_logit = logit[: len(ids)], logit[len(ids):]
    where = {sk: n for n, sk in enumerate(unique)}
    pairs = enumerate(zip(ids, skill_sets, strict=True))
    return {i: float(avg_logit[where[sk]] - item_logit[k]) for k, (i, sk) in pairs}
