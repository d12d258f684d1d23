"""Per-student incremental state.

A :class:`State` is what the engine remembers about one student between two answers. The web app stores it in its
database with :meth:`State.to_json` / :meth:`State.from_json` (or ``to_bytes`` / ``from_bytes``) and hands it back
to ``model.update`` and ``model.predict_proba``.

- ``counts``: per skill id, ``[successes, failures]`` so far (every model keeps them: they give mastery its
  uncertainty and the baseline its features).
- ``data``: the model's own part, JSON-able once serialised (the DKT LSTM hidden state as lists of floats; the
  attention model's recent history as raw ids, so it survives retraining).
- ``fingerprint``: the model that built the state. A state built by another model (a retrained champion) is refused
  with :class:`StaleStateError`; rebuild it with ``model.state_from_history(responses)``.
- a private cache (tensors, the attention model's keys/values) lives only in memory and is rebuilt when missing.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

STATE_VERSION = 1


class StaleStateError(ValueError):
    """The state was built by a different model (or a different version of it)."""


def _plain(value: Any) -> Any:
    """Tensors and numpy arrays to (nested) lists of floats so the state is JSON-able."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclasses.dataclass
class State:
    model: str
    fingerprint: str
    n: int = 0
    counts: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    cache: Any = dataclasses.field(default=None, repr=False, compare=False)

    def copy(self) -> State:
        """A shallow-safe copy (``update`` never mutates its input, so callers may keep the old state)."""
        return State(
            self.model,
            self.fingerprint,
            self.n,
            {k: list(v) for k, v in self.counts.items()},
            dict(self.data),
            None,
        )

    def record(self, skill_ids: tuple[str, ...], correct: int) -> None:
        for s in skill_ids:
            c = self.counts.setdefault(s, [0, 0])
            c[0 if correct else 1] += 1
        self.n += 1

    # serialisation ----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "model": self.model,
            "fingerprint": self.fingerprint,
            "n": self.n,
            "counts": self.counts,
            "data": _plain(self.data),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> State:
        if d.get("version") != STATE_VERSION:
            raise StaleStateError(f"state version {d.get('version')!r}, expected {STATE_VERSION}")
        return cls(d["model"], d["fingerprint"], int(d["n"]), {k: list(v) for k, v in d["counts"].items()}, d["data"])

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> State:
        return cls.from_dict(json.loads(text))

    def to_bytes(self) -> bytes:
        return self.to_json().encode()

    @classmethod
    def from_bytes(cls, blob: bytes) -> State:
        return cls.from_json(blob)


def count_uncertainty(p: float, n_obs: int, prior_n: float = 2.0) -> float:
    """Uncertainty of a mastery estimate ``p`` backed by ``n_obs`` responses on the skill.

    The standard deviation of a Beta distribution with mean ``p`` and ``n_obs + prior_n`` pseudo-observations:
    0.5/sqrt(prior_n + 1) (about 0.29) with no data, shrinking like 1/sqrt(n). A heuristic shared by all models
    so instructors see comparable numbers; it is not a calibrated posterior.
    """
    k = n_obs + prior_n
    return math.sqrt(max(p * (1.0 - p), 0.0) / (k + 1.0)) if k > 0 else 0.5
