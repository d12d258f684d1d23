"""The knowledge-tracing engine inside the web app: loaded once per process, per-student state cached.

- The model is the champion recorded in the registry (``ADAPTIVE_LTI_KT_REGISTRY``, default ``<instance>/models``,
  written by the ``training.select`` job; ``adaptive.champion.load_champion``), or the
  engine's untrained baseline when no decision exists (it needs no training data). A newly recorded
  champion is picked up when ``champion.json`` changes (checked at most every ``RELOAD_CHECK_SECONDS``); learner
  states built by the previous model are rebuilt from the attempts (``StaleStateError``).
- The per-skill mastery tracker (``tracker.json`` in the registry, an :class:`adaptive.mastery.SkillTracker`
  written by the training job) is loaded when present (``engine.tracker``, None otherwise) and reloaded when it
  changes; learners' tracker states are cached per (user, bank) with their number of attempts and the tracker's
  fingerprint.
- Candidates (a bank's items encoded for the model) are cached per bank version.
- Learner states are cached per (user, bank) with the number of attempts they include; a cached state is used only
  when the database row still says the same number, so several worker processes never serve a stale state.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adaptive import BASELINE, KTModel, State, get_model_class
from lti_tool.logs import get_logger

log = get_logger(__name__)

RELOAD_CHECK_SECONDS = 30.0
STATE_CACHE_SIZE = 5000
EXPOSURE_TTL_SECONDS = 60.0
TRACKER_FILE = "tracker.json"


def engine_item_id(bank_slug: str, item_key: str) -> str:
    """The id an item has in the engine (stable across re-imports and databases)."""
    return f"{bank_slug}/{item_key}"


class Engine:
    def __init__(self, model: KTModel, registry: Path | None = None) -> None:
        self.model = model
        self.registry = registry
        self._lock = threading.RLock()
        self._record_mtime = self._mtime()
        self._checked = time.monotonic()
        self._candidates: dict[tuple[int, int, str], Any] = {}
        self._states: OrderedDict[tuple[int, int], tuple[str, int, State]] = OrderedDict()
        self._exposure: dict[int, tuple[float, dict[int, int]]] = {}
        self._priors: dict[tuple[str, tuple[str, ...]], dict[str, tuple[float, float]]] = {}
        self._tracker_mtime = self._tracker_file_mtime()
        try:
            self.tracker, self.tracker_fingerprint = _load_tracker(registry)
        except Exception:  # an unreadable tracker.json: serve with the model's mastery alone
            log.exception("engine.tracker_load_failed")
            self.tracker, self.tracker_fingerprint = None, None
        self._tracker_states: OrderedDict[tuple[int, int], tuple[str, int, dict[str, list[float]]]] = OrderedDict()

    @classmethod
    def from_registry(cls, registry: Path | None) -> Engine:
        return cls(_load(registry), registry)

    @property
    def fingerprint(self) -> str:
        return self.model.fingerprint

    # --- champion hot-swap ----------------------------------------------------------------------------------
    def _mtime(self) -> float | None:
        if self.registry is None:
            return None
        path = self.registry / "champion.json"
        return path.stat().st_mtime if path.is_file() else None

    def _tracker_file_mtime(self) -> float | None:
        if self.registry is None:
            return None
        path = self.registry / TRACKER_FILE
        return path.stat().st_mtime if path.is_file() else None

    def _maybe_reload_tracker(self) -> None:
        mtime = self._tracker_file_mtime()
        if mtime == self._tracker_mtime:
            return
        try:
            tracker, fingerprint = _load_tracker(self.registry)
        except Exception:  # a half-written file: keep the current tracker
            log.exception("engine.tracker_reload_failed")
            return
        self.tracker, self.tracker_fingerprint, self._tracker_mtime = tracker, fingerprint, mtime
        self._tracker_states.clear()
        log.info("engine.tracker_reloaded", present=tracker is not None, fingerprint=fingerprint)

    def maybe_reload(self) -> None:
        if self.registry is None or time.monotonic() - self._checked < RELOAD_CHECK_SECONDS:
            return
        with self._lock:
            self._checked = time.monotonic()
            self._maybe_reload_tracker()
            mtime = self._mtime()
            if mtime == self._record_mtime:
                return
            try:
                model = _load(self.registry)
            except Exception:  # a half-written registry: keep serving the current model
                log.exception("engine.reload_failed")
                return
            self.model, self._record_mtime = model, mtime
            self._candidates.clear()
            self._states.clear()
            log.info("engine.reloaded", model=model.name, fingerprint=model.fingerprint)

    # --- caches ----------------------------------------------------------------------------------------------
    def prior_mastery(self, skills: Sequence[str]) -> dict[str, tuple[float, float]]:
        """Mastery of a student with no answers yet (the model's prior), cached per model and skill list."""
        key = (self.fingerprint, tuple(skills))
        with self._lock:
            hit = self._priors.get(key)
            if hit is None:
                hit = self.model.mastery(self.model.init_state(), list(skills))
                self._priors = {k: v for k, v in self._priors.items() if k[0] == self.fingerprint}
                self._priors[key] = hit
            return hit

    def candidates(self, bank_id: int, version: int, items: Sequence[tuple[str, Sequence[str]]]) -> Any:
        """The model's encoded candidates for a bank's items (in the given order), cached per bank version."""
        key = (bank_id, version, f"{len(items)}:{items[0][0] if items else ''}:{items[-1][0] if items else ''}")
        with self._lock:
            cands = self._candidates.get(key)
            if cands is None:
                self.model.register_items({iid: tuple(sk) for iid, sk in items})
                cands = self.model.encode_candidates([(iid, tuple(sk)) for iid, sk in items])
                self._candidates = {k: v for k, v in self._candidates.items() if k[0] != bank_id}
                self._candidates[key] = cands
            return cands

    def cached_state(self, user_id: int, bank_id: int, n_attempts: int) -> State | None:
        with self._lock:
            hit = self._states.get((user_id, bank_id))
            if hit is None or hit[0] != self.fingerprint or hit[1] != n_attempts:
                return None
            self._states.move_to_end((user_id, bank_id))
            return hit[2]

    def remember_state(self, user_id: int, bank_id: int, n_attempts: int, state: State) -> None:
        with self._lock:
            self._states[(user_id, bank_id)] = (self.fingerprint, n_attempts, state)
            self._states.move_to_end((user_id, bank_id))
            while len(self._states) > STATE_CACHE_SIZE:
                self._states.popitem(last=False)

    def forget_state(self, user_id: int, bank_id: int) -> None:
        with self._lock:
            self._states.pop((user_id, bank_id), None)
            self._tracker_states.pop((user_id, bank_id), None)

    def cached_tracker_state(self, user_id: int, bank_id: int, n_attempts: int) -> dict[str, list[float]] | None:
        with self._lock:
            hit = self._tracker_states.get((user_id, bank_id))
            if hit is None or hit[0] != self.tracker_fingerprint or hit[1] != n_attempts:
                return None
            self._tracker_states.move_to_end((user_id, bank_id))
            return hit[2]

    def remember_tracker_state(self, user_id: int, bank_id: int, n_attempts: int,
                               state: dict[str, list[float]]) -> None:
        if self.tracker_fingerprint is None:
            return
        with self._lock:
            self._tracker_states[(user_id, bank_id)] = (self.tracker_fingerprint, n_attempts, state)
            self._tracker_states.move_to_end((user_id, bank_id))
            while len(self._tracker_states) > STATE_CACHE_SIZE:
                self._tracker_states.popitem(last=False)

    def exposure(self, bank_id: int, load: Any) -> dict[int, int]:
        """Serving counts per item of a bank across students, refreshed every minute (``load()`` queries them)."""
        now = time.monotonic()
        with self._lock:
            hit = self._exposure.get(bank_id)
            if hit is not None and now - hit[0] < EXPOSURE_TTL_SECONDS:
                return hit[1]
        counts = load()
        with self._lock:
            self._exposure[bank_id] = (now, counts)
        return counts

    def count_exposure(self, bank_id: int, item_id: int) -> None:
        with self._lock:
            hit = self._exposure.get(bank_id)
            if hit is not None:
                hit[1][item_id] = hit[1].get(item_id, 0) + 1


def _load(registry: Path | None) -> KTModel:
    if registry is not None and (registry / "champion.json").is_file():
        from adaptive.champion import load_champion

        model = load_champion(registry)
        log.info("engine.loaded", model=model.name, fingerprint=model.fingerprint)
        return model
    log.info("engine.baseline", model=BASELINE, reason="no champion recorded")
    return get_model_class(BASELINE)()


def _load_tracker(registry: Path | None) -> tuple[Any, str | None]:
    """The registry's ``tracker.json`` as a SkillTracker and its fingerprint, or ``(None, None)`` when absent."""
    if registry is None or not (registry / TRACKER_FILE).is_file():
        return None, None
    from adaptive.mastery import SkillTracker

    text = (registry / TRACKER_FILE).read_text()
    tracker = SkillTracker.from_dict(json.loads(text))
    fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]
    log.info("engine.tracker_loaded", skills=len(tracker.params), fingerprint=fingerprint)
    return tracker, fingerprint


def registry_path(settings: Any) -> Path:
    """The champion/challenger registry the engine serves from and the training job writes to:
    ``ADAPTIVE_LTI_KT_REGISTRY``, else ``<instance>/models`` (no ``champion.json`` there yet: the baseline)."""
    return Path(settings.kt_registry) if settings.kt_registry else Path(settings.instance_path) / "models"


_process_lock = threading.Lock()


def get_engine(app: Any = None) -> Engine:
    """The process's engine, created on first use (torch is imported once per worker process)."""
    from flask import current_app

    app = app or current_app
    engine = app.extensions.get("practice_engine")
    if engine is None:
        with _process_lock:
            engine = app.extensions.get("practice_engine")
            if engine is None:
                engine = Engine.from_registry(registry_path(app.config["SETTINGS"]))
                app.extensions["practice_engine"] = engine
    engine.maybe_reload()
    return engine
