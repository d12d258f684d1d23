"""The knowledge-tracing engines inside the web app: one per item bank, loaded once per process, per-student
state cached.

- Each item bank has its own registry, ``<root>/banks/<bank id>-<bank slug>/`` (:func:`bank_registry`; the root is
  ``ADAPTIVE_LTI_KT_REGISTRY``, default ``<instance>/models``), written by the ``training.select`` job for that
  bank alone. Banks have unrelated item ids and skills, so one bank's data never decides another's model. A
  record left at the root by an older version (one tool-wide ``champion.json``) is ignored (a warning is logged).
- :func:`get_engine` returns the bank's :class:`Engine` from the process's :class:`Engines` (at most
  ``ENGINE_SET_SIZE`` banks, least recently used dropped first). Its model is the champion recorded in the bank's
  registry (``adaptive.champion.load_champion``), or the untrained baseline when the bank has no decision (it
  needs no training data). A newly recorded champion is picked up when ``champion.json`` changes (checked at
  most every ``RELOAD_CHECK_SECONDS``); learner states built by the previous model are rebuilt from the attempts
  (``StaleStateError``).
- The per-skill mastery tracker (``tracker.json`` in the bank's registry, an :class:`adaptive.mastery.SkillTracker`
  written by the training job) is loaded when present (``engine.tracker``, None otherwise) and reloaded when it
  changes; learners' tracker states are cached per (user, bank) with their number of attempts and the tracker's
  fingerprint. An engine refuses (``ValueError``) to cache or serve a state of another bank than its own.
- Candidates (a bank's items encoded for the model) are cached per bank version.
- Learner states are cached per (user, bank) with the number of attempts they include; a cached state is used only
  when the database row still says the same number, so several worker processes never serve a stale state.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from adaptive import BASELINE, KTModel, State, get_model_class
from lti_tool.logs import get_logger

log = get_logger(__name__)

RELOAD_CHECK_SECONDS = 30.0
STATE_CACHE_SIZE = 5000
EXPOSURE_TTL_SECONDS = 60.0
TRACKER_FILE = "tracker.json"
RECORD_FILE = "champion.json"
BANKS_DIR = "banks"
ENGINE_SET_SIZE = 64


class BankRef(Protocol):
    """What the engines need of an item bank (an ``ItemBank`` row, or anything with its id and slug)."""

    @property
    def id(self) -> int: ...

    @property
    def slug(self) -> str: ...


def engine_item_id(bank_slug: str, item_key: str) -> str:
    """The id an item has in the engine (stable across re-imports and databases)."""
    return f"{bank_slug}/{item_key}"


class Engine:
    """One bank's model, tracker and caches (``bank_id`` None: not tied to a bank, e.g. in a notebook)."""

    def __init__(self, model: KTModel, registry: Path | None = None, bank_id: int | None = None) -> None:
        self.model = model
        self.registry = registry
        self.bank_id = bank_id
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
    def from_registry(cls, registry: Path | None, bank_id: int | None = None) -> Engine:
        return cls(_load(registry), registry, bank_id)

    def _own(self, bank_id: int) -> None:
        if self.bank_id is not None and bank_id != self.bank_id:
            raise ValueError(f"the engine of bank {self.bank_id} cannot serve bank {bank_id}")

    @property
    def fingerprint(self) -> str:
        return self.model.fingerprint

    # --- champion hot-swap ----------------------------------------------------------------------------------
    def _mtime(self) -> float | None:
        if self.registry is None:
            return None
        path = self.registry / RECORD_FILE
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

    def candidates(self, bank_id: int, version: int, items: Sequence[tuple[str, Sequence[str]]],
                   difficulty: Mapping[str, float | None] | None = None) -> Any:
        """The model's encoded candidates for a bank's items (in the given order), cached per bank version.
        ``difficulty``: the authors' seeds on the 0 (easy) .. 1 (hard) scale by engine item id (None: no seed); the
        model scores an item it was not trained on as an average item of its skills shifted by its seed."""
        from adaptive.difficulty import difficulty_to_logit

        self._own(bank_id)
        key = (bank_id, version, f"{len(items)}:{items[0][0] if items else ''}:{items[-1][0] if items else ''}")
        with self._lock:
            cands = self._candidates.get(key)
            if cands is None:
                seeds = {iid: None if d is None else difficulty_to_logit(d) for iid, d in (difficulty or {}).items()}
                self.model.register_items({iid: tuple(sk) for iid, sk in items}, difficulty=seeds)
                cands = self.model.encode_candidates([(iid, tuple(sk)) for iid, sk in items])
                self._candidates = {k: v for k, v in self._candidates.items() if k[0] != bank_id}
                self._candidates[key] = cands
            return cands

    def cached_state(self, user_id: int, bank_id: int, n_attempts: int) -> State | None:
        self._own(bank_id)
        with self._lock:
            hit = self._states.get((user_id, bank_id))
            if hit is None or hit[0] != self.fingerprint or hit[1] != n_attempts:
                return None
            self._states.move_to_end((user_id, bank_id))
            return hit[2]

    def remember_state(self, user_id: int, bank_id: int, n_attempts: int, state: State) -> None:
        self._own(bank_id)
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
        self._own(bank_id)
        with self._lock:
            hit = self._tracker_states.get((user_id, bank_id))
            if hit is None or hit[0] != self.tracker_fingerprint or hit[1] != n_attempts:
                return None
            self._tracker_states.move_to_end((user_id, bank_id))
            return hit[2]

    def remember_tracker_state(self, user_id: int, bank_id: int, n_attempts: int,
                               state: dict[str, list[float]]) -> None:
        self._own(bank_id)
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
    if registry is not None and (registry / RECORD_FILE).is_file():
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


def registry_root(settings: Any) -> Path:
    """The root of the engines' registries: ``ADAPTIVE_LTI_KT_REGISTRY``, else ``<instance>/models``."""
    return Path(settings.kt_registry) if settings.kt_registry else Path(settings.instance_path) / "models"


def bank_dir_name(bank_id: int, slug: str) -> str:
    """A bank's registry folder name, ``<id>-<slug>``: stable and unique (the id), readable (the slug, with
    anything but letters, digits, ``.``, ``_`` and ``-`` replaced)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", slug).strip("._")[:64] or "bank"
    return f"{int(bank_id)}-{safe}"


def bank_registry(root: Path, bank: BankRef) -> Path:
    """The champion/challenger registry of one item bank (``champion.json``, model dirs, ``tracker.json``): the
    serving engine of that bank reads it, the ``training.select`` job for that bank writes it. It does not exist
    until the bank is first trained (its engine serves the untrained baseline)."""
    return root / BANKS_DIR / bank_dir_name(bank.id, bank.slug)


class Engines:
    """A process's engines, one per item bank, created on first use and kept for the ``size`` most recently used
    banks (a dropped bank's engine is loaded again when needed: its learner states come from the database)."""

    def __init__(self, root: Path, size: int = ENGINE_SET_SIZE) -> None:
        self.root = root
        self.size = max(1, int(size))
        self._lock = threading.Lock()
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        if (root / RECORD_FILE).is_file():
            log.warning("engine.toolwide_record_ignored", path=str(root / RECORD_FILE),
                        hint="each item bank has its own registry under banks/: run `adaptive-lti engine retrain`")

    def get(self, bank: BankRef) -> Engine:
        """The bank's engine (its champion reloaded when the record changed)."""
        key = bank_dir_name(bank.id, bank.slug)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = Engine.from_registry(bank_registry(self.root, bank), bank.id)
                self._engines[key] = engine
                while len(self._engines) > self.size:
                    dropped, _ = self._engines.popitem(last=False)
                    log.info("engine.dropped", bank=dropped)
            else:
                self._engines.move_to_end(key)
        engine.maybe_reload()
        return engine

    def loaded(self) -> list[str]:
        """The registry folder names of the banks with a loaded engine, least recently used first."""
        with self._lock:
            return list(self._engines)


EngineFor = Callable[[BankRef], Engine]
"""How the practice service gets a bank's engine (the web app passes :func:`get_engine`)."""

_process_lock = threading.Lock()


def engines(app: Any = None) -> Engines:
    """The process's per-bank engines (torch is imported once per worker process, on the first bank served)."""
    from flask import current_app

    app = app or current_app
    found = app.extensions.get("practice_engines")
    if found is None:
        with _process_lock:
            found = app.extensions.get("practice_engines")
            if found is None:
                found = Engines(registry_root(app.config["SETTINGS"]))
                app.extensions["practice_engines"] = found
    return found


def get_engine(bank: BankRef, app: Any = None) -> Engine:
    """The engine that serves ``bank`` in this process."""
    return engines(app).get(bank)
