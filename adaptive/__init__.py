"""The knowledge-tracing engine: a pure library (torch, numpy; click only for its CLI).

See ``adaptive/README.md`` and ``adaptive/models/base.py`` for the interface.
"""

from __future__ import annotations

from pathlib import Path

from adaptive.data import Response, ResponseLog, read_log, split_by_student
from adaptive.models import BASELINE, MODEL_REGISTRY, KTModel, get_model_class
from adaptive.state import StaleStateError, State


def load_model(directory: str | Path) -> KTModel:
    """Load a model saved with ``model.save(directory)`` (any registered kind)."""
    return KTModel.load(directory)


__all__ = [
    "BASELINE",
    "MODEL_REGISTRY",
    "KTModel",
    "Response",
    "ResponseLog",
    "StaleStateError",
    "State",
    "get_model_class",
    "load_model",
    "read_log",
    "split_by_student",
]
