"""Model registry: a name -> class dict (``pfa`` baseline, ``pfa_recency`` the baseline with recency features, ``dkt``
LSTM, ``akt`` attention, ``ensemble`` a weighted sum of members' logits)."""

from __future__ import annotations

from adaptive.models.akt import AKTModel
from adaptive.models.base import KTModel
from adaptive.models.baseline import PFAModel, PFARecencyModel
from adaptive.models.dkt import DKTModel
from adaptive.models.ensemble import EnsembleModel

MODEL_REGISTRY: dict[str, type[KTModel]] = {
    m.name: m for m in (PFAModel, PFARecencyModel, DKTModel, AKTModel, EnsembleModel)}
BASELINE = "pfa"


def get_model_class(name: str) -> type[KTModel]:
    try:
        return MODEL_REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODEL_REGISTRY))}") from None


__all__ = [
    "BASELINE",
    "MODEL_REGISTRY",
    "AKTModel",
    "DKTModel",
    "EnsembleModel",
    "KTModel",
    "PFAModel",
    "PFARecencyModel",
    "get_model_class",
]
