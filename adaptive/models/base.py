"""The common interface of every knowledge-tracing model (a small pyBKT-like facade).

Others code against exactly this (``adaptive/README.md`` has a runnable example)::

    from adaptive import get_model_class, load_model, Response
    model = get_model_class("akt")(d_model=64)          # config overrides as keywords; or load_model(dir)
    model.fit(train_log, valid=valid_log, epochs=30)     # ResponseLog(s); returns the model; sets model.metrics
    model.register_items({"q-new": ["fractions"]})       # items added after training: their skills
    model.register_items({"q-new": ["fractions"]}, difficulty={"q-new": 1.2})  # + the author's seed (logits)
    state = model.init_state()                           # adaptive.state.State (JSON-able: state.to_json())
    state = model.update(state, Response.make("u1", "q7", ["fractions"], 1, ts))   # new State, input untouched
    state = model.update(state, {"item_id": "q7", "skill_ids": ["fractions"], "correct": True})  # a dict works
    state = model.state_from_history(responses)          # same as folding update over the list
    p = model.predict_proba(state, ["q1", "q2", ("q-new", ["fractions"])])  # np.ndarray float64, P(correct)
    p = model.predict_proba(responses, cands)            # a raw history (list of Response) works too
    cands = model.encode_candidates(item_ids)            # encode once, reuse: predict_proba(state, cands)
    model.mastery(state)                                 # {skill_id: (p, uncertainty)}; mastery(state, skills)
    model.save(dir); model = load_model(dir)             # model.pt (state_dict, weights_only=True) + model.json

Candidates are item ids (strings), or ``(item_id, skill_ids)`` tuples. An item unknown to the model uses the skills
given in the tuple, else those from ``register_items``, else none (the global average): its own difficulty is taken
as that of an average item of its skills. Unknown skills contribute nothing. ``mastery(state)[s]`` is the
probability of answering an average (unknown, difficulty 0) item of skill ``s`` correctly, with the count-based
uncertainty of :func:`adaptive.state.count_uncertainty`. Seeds of difficulty (``item_priors``, logits, see
:mod:`adaptive.difficulty`) shift an item the model was not trained on by ``-seed``; trained items keep their learned
difficulty.

``predict_log(log)`` is the leak-free batch scorer used for evaluation: one prediction per event, from the
student's events strictly before it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from adaptive.data import Response, ResponseLog
from adaptive.state import StaleStateError, State, count_uncertainty

SCHEMA_VERSION = 1


MODEL_FILES = frozenset({"model.pt", "model.json", "members"})  # what save() writes; a folder of only these is a model


def swap_in(src: Path, dst: Path) -> None:
    """Put the folder ``src`` in ``dst``'s place (two renames on one filesystem; the old ``dst``, if any, is
    removed). If the second rename fails, the old ``dst`` is put back: it is never lost. In between, for a moment,
    ``dst`` does not exist: readers retry (:func:`adaptive.champion.load_champion`)."""
    old = dst.parent / f".{dst.name}.old-{uuid.uuid4().hex[:8]}"
    moved = False
    try:
        if dst.exists():
            os.replace(dst, old)
            moved = True
        os.replace(src, dst)
        moved = False
    finally:
        if moved:  # the new folder could not take its place: the old one goes back
            os.replace(old, dst)
        shutil.rmtree(old, ignore_errors=True)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """A ``model.pt`` as ``save`` writes it (tensors only, ``weights_only=True``); anything else (missing,
    truncated, replaced by another file or by a pickle of objects) is a :class:`ModelDirError`."""
    if not path.is_file():
        raise ModelDirError(f"{path.parent}: no model.pt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds here (EOFError, UnpicklingError, KeyError, RuntimeError)
        raise ModelDirError(f"{path.parent}: model.pt is not a weights file written by save() (damaged or "
                            "replaced)") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelDirError(f"{path.parent}: model.pt holds no state_dict of tensors")
    return state


def json_safe(value: Any) -> Any:
    """``value`` with every float that is not a number (an undefined AUC, an infinite bound) as None: JSON has
    no NaN, and strict parsers refuse the ``NaN`` Python's json module writes."""
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


class ModelDirError(ValueError):
    """A model directory that cannot be written or read as a saved model; the message says why, in one line."""

MAX_SKILLS = 6  # skills kept per event (ASSIST2009 has at most 4)


@dataclasses.dataclass
class Vocab:
    """Integer ids for items and skills (0 = unknown / padding) and the skills of each known item."""

    items: dict[str, int] = dataclasses.field(default_factory=dict)
    skills: dict[str, int] = dataclasses.field(default_factory=dict)
    item_skills: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @classmethod
    def build(cls, log: ResponseLog) -> Vocab:
        item_skills = log.item_skills()
        items = {it: i + 1 for i, it in enumerate(item_skills)}
        skills = {s: i + 1 for i, s in enumerate(log.skills())}
        return cls(items, skills, item_skills)

    @property
    def n_items(self) -> int:
        return len(self.items) + 1

    @property
    def n_skills(self) -> int:
        return len(self.skills) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"items": list(self.items), "skills": list(self.skills),
                "item_skills": {k: list(v) for k, v in self.item_skills.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Vocab:
        return cls({it: i + 1 for i, it in enumerate(d["items"])}, {s: i + 1 for i, s in enumerate(d["skills"])},
                   {k: tuple(v) for k, v in d["item_skills"].items()})


@dataclasses.dataclass
class Encoded:
    """One student's events as arrays: item ids [T], skill ids [T, MAX_SKILLS] (0-padded), answers [T]."""

    items: np.ndarray
    skills: np.ndarray
    correct: np.ndarray

    def __len__(self) -> int:
        return len(self.items)

    def window(self, start: int, stop: int) -> Encoded:
        return Encoded(self.items[start:stop], self.skills[start:stop], self.correct[start:stop])


@dataclasses.dataclass
class Candidates:
    """Encoded candidate items: ``items`` LongTensor [C], ``skills`` LongTensor [C, K] (0-padded)."""

    ids: list[str]
    items: torch.Tensor
    skills: torch.Tensor
    skill_names: list[str]  # the raw skill ids met among the candidates ("" first, for padding)
    skill_keys: torch.Tensor  # [C, K] indices into skill_names (0 = padding)
    memo: dict[str, Any] = dataclasses.field(default_factory=dict)  # per-model projections of the candidates
    offset: torch.Tensor | None = None  # [C] logit shift of untrained items with a difficulty seed (None: none)

    def __len__(self) -> int:
        return len(self.ids)


def collate(seqs: Sequence[Encoded], device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Pad encoded sequences into a batch: items/correct/mask [B, T], skills [B, T, K]."""
    t_max = max(len(s) for s in seqs)
    k = max(1, *(int((s.skills > 0).sum(1).max()) if len(s) else 1 for s in seqs))
    b = len(seqs)
    items = np.zeros((b, t_max), np.int64)
    skills = np.zeros((b, t_max, k), np.int64)
    correct = np.zeros((b, t_max), np.float32)
    mask = np.zeros((b, t_max), bool)
    for i, s in enumerate(seqs):
        n = len(s)
        items[i, :n] = s.items
        skills[i, :n] = s.skills[:, :k]
        correct[i, :n] = s.correct
        mask[i, :n] = True
    out = {"items": items, "skills": skills, "correct": correct, "mask": mask}
    return {key: torch.from_numpy(v).to(device) for key, v in out.items()}


class KTModel(ABC):
    """Base class: vocabulary, encoding, the facade, save/load. Subclasses set ``name``, ``Config`` and implement
    ``build_net``, ``_state_data``, ``_advance`` and ``_score``."""

    name: ClassVar[str]
    Config: ClassVar[type]
    eval_window: ClassVar[int | None] = None  # None: whole sequences; else sliding windows of this length
    fit_options: ClassVar[tuple[str, ...] | None] = None  # the training options fit uses (None: all of TrainConfig)

    @classmethod
    def options_for_fit(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` without those this model's ``fit`` does not use (callers that train several models give
        them all the same options)."""
        keep = cls.fit_options
        return {k: v for k, v in options.items() if keep is None or k in keep}

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        cfg = config if config is not None else self.Config()
        if overrides:
            fields = {f.name: f for f in dataclasses.fields(cfg)}
            for key in overrides:
                if key not in fields:
                    raise ValueError(f"{self.name}: unknown config option {key!r}; known: {sorted(fields)}")
            cfg = dataclasses.replace(cfg, **overrides)
        self.config = cfg
        self.vocab = Vocab()
        self.extra_items: dict[str, tuple[str, ...]] = {}
        self.item_priors: dict[str, float] = {}  # the authors' difficulty seeds, logits (adaptive.difficulty)
        self.metrics: dict[str, Any] = {}
        self.fingerprint = f"{self.name}-untrained"
        self._cand_cache: dict[tuple[str, ...], Candidates] = {}
        self.net: nn.Module = self.build_net()
        self.net.eval()

    # --- to implement -------------------------------------------------------------------------------------------
    @abstractmethod
    def build_net(self) -> nn.Module:
        """The torch module for the current vocabulary and config."""

    @abstractmethod
    def _state_data(self) -> dict[str, Any]:
        """The model-specific part of a fresh state."""

    @abstractmethod
    def _advance(self, state: State, item: int, skills: torch.Tensor, correct: int, response: Response) -> None:
        """Fold one response into ``state`` (a fresh copy, mutable) before its counts are recorded."""

    @abstractmethod
    def _score(self, state: State, cands: Candidates) -> torch.Tensor:
        """Logits of P(correct) for the candidates given the state."""

    # --- training -----------------------------------------------------------------------------------------------
    def fit(self, log: ResponseLog, valid: ResponseLog | None = None, **options: Any) -> KTModel:
        """Learn the vocabulary from ``log``, build the network and train it (``adaptive.train.TrainConfig``
        options as keywords). Without ``valid``, 10 % of the training students are held out for early stopping."""
        from adaptive.train import TrainConfig, train_model

        if len(log) == 0:
            raise ValueError("cannot fit on an empty log")
        self.vocab = Vocab.build(log)
        self._cand_cache.clear()
        torch.manual_seed(int(options.get("seed", 0)))
        self.net = self.build_net()
        self.fingerprint = f"{self.name}-{uuid.uuid4().hex[:12]}"
        opts = TrainConfig(**options)
        t0 = time.time()
        history = train_model(self, log, valid, opts)
        self.net.eval()
        self.metrics = {"train": history, "fit_seconds": round(time.time() - t0, 2),
                        "n_train_students": log.n_students, "n_train_responses": len(log)}
        return self

    def regularization(self) -> torch.Tensor:
        fn = getattr(self.net, "regularization", None)
        return fn() if fn is not None else torch.zeros(())

    # --- encoding -----------------------------------------------------------------------------------------------
    def _skill_ids(self, skill_ids: Iterable[str]) -> list[int]:
        idx = [self.vocab.skills[s] for s in skill_ids if s in self.vocab.skills][:MAX_SKILLS]
        return idx or [0]

    def skills_of(self, item_id: str) -> tuple[str, ...]:
        return self.vocab.item_skills.get(item_id) or self.extra_items.get(item_id, ())

    def encode(self, seq: Sequence[Response]) -> Encoded:
        n = len(seq)
        items = np.fromiter((self.vocab.items.get(r.item_id, 0) for r in seq), np.int64, n)
        skills = np.zeros((n, MAX_SKILLS), np.int64)
        for t, r in enumerate(seq):
            ids = self._skill_ids(r.skill_ids or self.skills_of(r.item_id))
            skills[t, : len(ids)] = ids
        correct = np.fromiter((r.correct for r in seq), np.float32, n)
        return Encoded(items, skills, correct)

    def register_items(self, mapping: Mapping[str, Iterable[str]],
                       difficulty: Mapping[str, float | None] | None = None) -> None:
        """Declare the skills of items the model has not seen in training (new items of a course bank) and,
        optionally, the authors' difficulty seeds in logits (``None`` removes a seed)."""
        for item, skills in mapping.items():
            self.extra_items[str(item)] = tuple(str(s) for s in skills)
        for item, seed in (difficulty or {}).items():
            if seed is None:
                self.item_priors.pop(str(item), None)
            elif not np.isfinite(seed):
                raise ValueError(f"difficulty seed of {item!r} is not a finite number: {seed!r}")
            else:
                self.item_priors[str(item)] = float(seed)
        self._cand_cache.clear()

    def encode_candidates(self, candidates: Sequence[Any] | Candidates) -> Candidates:
        """Encode candidates once (and reuse the result: the models memoise their projections on it)."""
        if isinstance(candidates, Candidates):
            return candidates
        key = None
        if isinstance(candidates, (list, tuple)) and all(isinstance(c, str) for c in candidates):
            key = tuple(candidates)
            hit = self._cand_cache.get(key)
            if hit is not None:
                return hit
        enc = self._encode_candidates(candidates)
        if key is not None:
            if len(self._cand_cache) >= 8:
                self._cand_cache.pop(next(iter(self._cand_cache)))
            self._cand_cache[key] = enc
        return enc

    def _encode_candidates(self, candidates: Sequence[Any]) -> Candidates:
        ids: list[str] = []
        n = len(candidates)
        items = np.zeros(n, np.int64)
        offset = np.zeros(n, np.float32)
        skills = np.zeros((n, MAX_SKILLS), np.int64)
        keys = np.zeros((n, MAX_SKILLS), np.int64)
        names: dict[str, int] = {"": 0}
        k = 1
        for i, c in enumerate(candidates):
            if isinstance(c, (tuple, list)):
                if not c:
                    raise ValueError(f"candidate {i} is empty: give an item id or (item_id, skill_ids)")
                skills_given = c[1] if len(c) > 1 else ()
                if isinstance(skills_given, str):  # one skill id, not its characters
                    skills_given = (skills_given,)
                item_id, given = str(c[0]), tuple(str(s) for s in skills_given)
            else:
                item_id, given = str(c), ()
            ids.append(item_id)
            items[i] = self.vocab.items.get(item_id, 0)
            if items[i] == 0 and item_id in self.item_priors:
                offset[i] = -self.item_priors[item_id]
            raw = (self.vocab.item_skills.get(item_id) or given or self.extra_items.get(item_id, ()))[:MAX_SKILLS]
            sk = self._skill_ids(raw)
            skills[i, : len(sk)] = sk
            for j, s in enumerate(raw):
                keys[i, j] = names.setdefault(s, len(names))
            k = max(k, len(sk), len(raw))
        return Candidates(ids, torch.from_numpy(items), torch.from_numpy(skills[:, :k]), list(names),
                          torch.from_numpy(keys[:, :k]), offset=torch.from_numpy(offset) if offset.any() else None)

    # --- the facade ---------------------------------------------------------------------------------------------
    def init_state(self) -> State:
        return State(self.name, self.fingerprint, 0, {}, self._state_data())

    def _check(self, state: State) -> None:
        if state.fingerprint != self.fingerprint:
            raise StaleStateError(
                f"state built by {state.fingerprint}, this model is {self.fingerprint}; "
                "rebuild it with model.state_from_history(responses)"
            )

    @torch.no_grad()
    def update(self, state: State, response: Response | Mapping[str, Any]) -> State:
        """The state after ``response`` (a new object; ``state`` is left as it was). A dict with the keys of
        ``ResponseLog.from_rows`` is accepted too."""
        if not isinstance(response, Response):
            if not isinstance(response, Mapping):
                raise TypeError(f"a response is a Response or a dict with item_id, skill_ids and correct, not "
                                f"{type(response).__name__}")
            row = response
            response = Response.make(row.get("user_id", ""), row["item_id"],
                                     row["skill_ids"] if "skill_ids" in row else row.get("skill_id"),
                                     row["correct"], row.get("timestamp"))
        self._check(state)
        new = state.copy()
        new.cache = state.cache
        item = self.vocab.items.get(response.item_id, 0)
        skills = torch.tensor(self._skill_ids(response.skill_ids or self.skills_of(response.item_id)))
        self._advance(new, item, skills, int(response.correct), response)
        new.record(response.skill_ids or self.skills_of(response.item_id), int(response.correct))
        return new

    def state_from_history(self, history: Iterable[Response]) -> State:
        state = self.init_state()
        for r in history:
            state = self.update(state, r)
        return state

    @torch.no_grad()
    def predict_proba(self, state: State | Sequence[Response], candidates: Sequence[Any] | Candidates) -> np.ndarray:
        """P(correct) for each candidate item, given a state or a raw history (list of ``Response``)."""
        if not isinstance(state, State):
            state = self.state_from_history(state)
        self._check(state)
        cands = self.encode_candidates(candidates)
        if len(cands) == 0:
            return np.zeros(0)
        logits = self._score(state, cands)
        if cands.offset is not None:
            logits = logits + cands.offset
        return torch.sigmoid(logits).double().numpy()

    def mastery(self, state: State, skills: Iterable[str] | None = None) -> dict[str, tuple[float, float]]:
        """``{skill_id: (p, uncertainty)}`` for the given skills (default: every skill the model or the state
        knows). ``p`` is P(correct) on an average item of the skill."""
        if skills is None:
            skills = list(dict.fromkeys([*self.vocab.skills, *state.counts]))
        elif isinstance(skills, str):  # one skill id, not its characters
            skills = [skills]
        skills = [str(s) for s in skills]
        if not skills:
            return {}
        virtual = [(f"\x00skill:{s}", (s,)) for s in skills]
        p = self.predict_proba(state, virtual)
        out = {}
        for s, ps in zip(skills, p, strict=True):
            n_obs = sum(state.counts.get(s, (0, 0)))
            out[s] = (float(ps), count_uncertainty(float(ps), n_obs))
        return out

    # --- batch scoring (evaluation) -----------------------------------------------------------------------------
    @torch.no_grad()
    def predict_log(self, log: ResponseLog, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Leak-free scoring of every event of ``log``: returns (answers, P(correct)), student by student in the
        log's order, each student's events in answer order."""
        self.net.eval()
        device = next(iter(self.net.parameters()), torch.zeros(())).device
        pieces: list[tuple[Encoded, int]] = []  # (window, index of the first position to score)
        w = self.eval_window
        for seq in log.sequences():
            enc = self.encode(seq)
            if w is None or len(enc) <= w:
                pieces.append((enc, 0))
                continue
            # windows of w events; after the first, each scores its last `stride` positions with w - stride
            # events of context, so every event is scored exactly once
            stride = w // 2
            pieces.append((enc.window(0, w), 0))
            start = stride
            while start + w - stride < len(enc):
                pieces.append((enc.window(start, min(start + w, len(enc))), w - stride))
                start += stride
        ys: list[np.ndarray] = [np.zeros(0)] * len(pieces)
        ps: list[np.ndarray] = [np.zeros(0)] * len(pieces)
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i][0]))  # batches of similar lengths
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            batch = collate([pieces[i][0] for i in idx], device)
            logits = self.net(batch["items"], batch["skills"], batch["correct"], batch["mask"])
            prob = torch.sigmoid(logits).cpu().numpy()
            for j, i in enumerate(idx):
                enc, first = pieces[i]
                ys[i] = enc.correct[first:]
                ps[i] = prob[j, first : len(enc)]
        # the log's order: student by student, each in answer order (models with other windows line up)
        return np.concatenate(ys).astype(np.float64), np.concatenate(ps).astype(np.float64)

    # --- persistence --------------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the model to ``directory``: ``model.pt`` (tensors only) and ``model.json`` (name, schema version,
        config, vocab, metrics), plus whatever the model adds. Atomic: the files are written to a sibling folder
        that then takes the directory's place, so a crash never leaves new weights beside an old ``model.json``
        and a model saved over another keeps none of the old one's files. ``directory`` must be new, empty or hold
        a saved model; anything else is refused (a model never replaces a folder of other files)."""
        directory = Path(directory).resolve()
        if directory.exists():
            if not directory.is_dir():
                raise ModelDirError(f"{directory} is a file, not a directory")
            if {p.name for p in directory.iterdir()} - MODEL_FILES:
                raise ModelDirError(f"{directory} holds files that are not a saved model; choose a new directory")
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = directory.parent / f".{directory.name}.saving-{uuid.uuid4().hex[:8]}"
        try:
            tmp.mkdir()
            self._write_files(tmp)
            swap_in(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return directory

    def _write_files(self, directory: Path) -> None:
        """The model's files in ``directory`` (an empty folder); composite models override this."""
        state_dict = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        torch.save(state_dict, directory / "model.pt")
        self._write_meta(directory)

    def _write_meta(self, directory: Path, **extra: Any) -> None:
        """``model.json``: name, schema version, fingerprint, config, vocab, items, metrics (and ``extra``)."""
        meta = {
            "schema_version": SCHEMA_VERSION,
            "model": self.name,
            "fingerprint": self.fingerprint,
            "config": dataclasses.asdict(self.config),
            **extra,
            "vocab": self.vocab.to_dict(),
            "extra_items": {k: list(v) for k, v in self.extra_items.items()},
            "item_priors": self.item_priors,
            "metrics": self.metrics,
        }
        (directory / "model.json").write_text(json.dumps(json_safe(meta), indent=1, default=float, allow_nan=False))

    @classmethod
    def load(cls, directory: str | Path) -> KTModel:
        """The model saved in ``directory``. Anything wrong with the files (missing, truncated, edited, from
        another version or another model) raises :class:`ModelDirError` with a one-line reason."""
        from adaptive.models import MODEL_REGISTRY

        directory = Path(directory)
        meta_path = directory / "model.json"
        if not meta_path.is_file():
            raise ModelDirError(f"no model.json in {directory}")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelDirError(f"{meta_path} is not readable JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise ModelDirError(f"{meta_path} is not a model description (a JSON object)")
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise ModelDirError(f"{directory}: schema version {meta.get('schema_version')}, expected "
                                f"{SCHEMA_VERSION}; retrain the model with this version")
        klass = MODEL_REGISTRY.get(str(meta.get("model")))
        if klass is None:
            raise ModelDirError(f"{directory}: unknown model {meta.get('model')!r}")
        if cls is not KTModel and not issubclass(klass, cls):
            raise ModelDirError(f"{directory} holds a {meta['model']} model, not {cls.name}")
        try:
            return klass._from_saved(directory, meta)
        except ModelDirError:
            raise
        except Exception as exc:  # a damaged or edited file: say which directory, in one line, never a traceback
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if isinstance(exc, KeyError):
                first = f"model.json lacks {exc}"
            raise ModelDirError(f"{directory}: cannot load the model: {first}") from exc

    @classmethod
    def _from_saved(cls, directory: Path, meta: Mapping[str, Any]) -> KTModel:
        """The model saved in ``directory`` (``meta``: its model.json, already checked); composite models such as
        the ensemble override this to load their members."""
        known = {f.name for f in dataclasses.fields(cls.Config)}
        model = cls(cls.Config(**{k: v for k, v in meta["config"].items() if k in known}))
        model.vocab = Vocab.from_dict(meta["vocab"])
        model.extra_items = {k: tuple(v) for k, v in meta.get("extra_items", {}).items()}
        model.item_priors = {k: float(v) for k, v in meta.get("item_priors", {}).items()}
        model.net = model.build_net()
        state_dict = load_weights(directory / "model.pt")
        try:
            model.net.load_state_dict(state_dict)
        except RuntimeError as exc:  # torch lists every key: the first line says enough
            raise ModelDirError(f"{directory}: model.pt does not fit model.json ({str(exc).splitlines()[0]})") from exc
        model.net.eval()
        model.metrics = meta.get("metrics", {})
        model.fingerprint = meta["fingerprint"]
        return model
