"""Champion/challenger: per course or item bank, keep the model that wins on held-out students.

A registry directory holds one sub-directory per trained model and ``champion.json``, the record of the decision:
which model serves, why, each candidate's held-out metrics, the data it was decided on and when (instructors are
shown this record). While the data is too thin (fewer than ``min_students`` students or ``min_responses``
responses) the baseline serves: it needs no training data and cannot overfit a handful of students.

    record = train_and_select(log, "registry/course-42", ["pfa", "dkt", "akt"])
    model = load_champion("registry/course-42")     # the untrained baseline when nothing was recorded yet
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from adaptive.data import ResponseLog, split_by_student
from adaptive.evaluate import evaluate_model
from adaptive.models import BASELINE, KTModel, get_model_class
from adaptive.models.base import ModelDirError, json_safe, swap_in
from adaptive.train import TrainingError

DEFAULT_MIN_STUDENTS = 50
MIN_FIT_STUDENTS = 10  # below this even the baseline is not fitted (thin data below DEFAULT_MIN_STUDENTS is)
DEFAULT_MIN_RESPONSES = 2000
RECORD = "champion.json"
HISTORY_KEPT = 20


def choose(results: Mapping[str, Mapping[str, Any]], baseline: str = BASELINE, metric: str = "auc",
           min_gain: float = 0.0) -> tuple[str, str]:
    """The winner among evaluated candidates and the reason: highest ``metric``; a challenger must beat the
    baseline by more than ``min_gain`` to replace it."""
    scored = {k: float(v[metric]) for k, v in results.items()
              if isinstance(v.get(metric), int | float) and v[metric] == v[metric]}  # drop failed, None and nan
    if not scored:
        return baseline, f"no candidate could be scored on {metric}; keeping the baseline"
    best = max(scored, key=lambda k: scored[k])
    base = scored.get(baseline)
    if best != baseline and base is not None and scored[best] - base <= min_gain:
        return baseline, (f"{best} ({metric} {scored[best]:.4f}) does not beat the baseline ({base:.4f}) "
                          f"by more than {min_gain}")
    return best, f"highest held-out {metric}: {scored[best]:.4f}"


def read_record(registry: str | Path) -> dict[str, Any] | None:
    path = Path(registry) / RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def _write_record(registry: Path, record: dict[str, Any]) -> None:
    previous = read_record(registry)
    history = (previous or {}).get("history", [])
    if previous:
        history = [*history, {k: v for k, v in previous.items() if k != "history"}][-HISTORY_KEPT:]
    record = {**record, "history": history}
    tmp = registry / (RECORD + ".tmp")
    tmp.write_text(json.dumps(json_safe(record), indent=1, default=float, allow_nan=False))
    os.replace(tmp, registry / RECORD)


def train_and_select(
    log: ResponseLog,
    registry: str | Path,
    model_names: Iterable[str] = ("pfa", "dkt", "akt"),
    *,
    holdout: float = 0.2,
    seed: int = 0,
    min_students: int = DEFAULT_MIN_STUDENTS,
    min_responses: int = DEFAULT_MIN_RESPONSES,
    min_gain: float = 0.0,
    baseline: str = BASELINE,
    model_configs: Mapping[str, Mapping[str, Any]] | None = None,
    item_priors: Mapping[str, float] | None = None,
    **train_options: Any,
) -> dict[str, Any]:
    """Split students into train / held-out, train every candidate on the train part, score them on the held-out
    students, save them under ``registry/<name>/`` and record the champion in ``registry/champion.json``.

    The saved models are exactly the ones compared (trained on the train part), so the recorded held-out metrics
    are those of the model that serves. A challenger whose training fails is recorded with its ``error`` and left
    out of the comparison. Sequence models hold out a further 10 % of the train part for early
    stopping. With thin data only the baseline is trained, on everything (from ``MIN_FIT_STUDENTS`` students; with
    fewer the untrained baseline, with ``item_priors``, serves). ``item_priors``: the authors' difficulty
    seeds in logits (:mod:`adaptive.difficulty`), given to every candidate before it is fitted."""
    registry = Path(registry)
    registry.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys([baseline, *model_names]))
    for n in names:
        get_model_class(n)  # fail early on unknown names
    configs = model_configs or {}
    thresholds = {"min_students": min_students, "min_responses": min_responses, "min_gain": min_gain}
    base_record = {
        "decided_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "metric": "auc",
        "n_students": log.n_students,
        "n_responses": len(log),
        "thresholds": thresholds,
        "holdout": holdout,
        "seed": seed,
    }
    thin = log.n_students < min_students or len(log) < min_responses
    if thin or log.n_students < 4:
        model = get_model_class(baseline)(**configs.get(baseline, {}))
        model.register_items({}, difficulty=item_priors)
        if log.n_students >= MIN_FIT_STUDENTS:
            model.fit(log, **_options_for(baseline, train_options, seed))
        # else the untrained baseline with the authors' seeds: the fit's intercept is the training students'
        # average, and one student's 39 answers (nearly all right) raised every estimate, the prior of students
        # who never answered included, over the mastery threshold
        model.save(registry / baseline)
        record = {**base_record, "champion": baseline, "path": baseline, "fingerprint": model.fingerprint,
                  "reason": (f"data too thin ({log.n_students} students, {len(log)} responses; "
                             f"need {min_students} and {min_responses}): the baseline serves"),
                  "candidates": {}}
        _write_record(registry, record)
        return record
    train, held = split_by_student(log, 1.0 - holdout, seed=seed)
    # candidates are saved to a staging folder and moved into place only once the champion is chosen, just before
    # the record names it: while they train, the registry still holds the models its record describes
    staging = registry / f".staging-{uuid.uuid4().hex[:8]}"
    try:
        results, fingerprints = _train_candidates(names, train=train, held=held, staging=staging, configs=configs,
                                                  item_priors=item_priors, baseline=baseline, seed=seed,
                                                  train_options=train_options)
        champion, reason = choose(results, baseline=baseline, min_gain=min_gain)
        for name in fingerprints:
            swap_in(staging / name, registry / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    record = {**base_record, "champion": champion, "path": champion, "fingerprint": fingerprints[champion],
              "reason": reason, "candidates": results, "n_heldout_students": held.n_students}
    _write_record(registry, record)
    return record


def _train_candidates(names: list[str], *, train: ResponseLog, held: ResponseLog, staging: Path,
                      configs: Mapping[str, Mapping[str, Any]], item_priors: Mapping[str, float] | None,
                      baseline: str, seed: int, train_options: Mapping[str, Any]
                      ) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Fit each candidate on ``train``, score it on ``held`` and save it under ``staging``: (held-out metrics or
    the error, per name; fingerprints of the saved ones)."""
    results: dict[str, dict[str, Any]] = {}
    fingerprints: dict[str, str] = {}
    for name in names:
        model = get_model_class(name)(**configs.get(name, {}))
        model.register_items({}, difficulty=item_priors)
        try:
            model.fit(train, **_options_for(name, train_options, seed))
        except (TrainingError, ValueError) as exc:
            if name == baseline:
                raise
            # one challenger that cannot train (it diverged, the data cannot train it) loses this round; the
            # others are still compared, and its previous files stay as they were
            results[name] = {"error": str(exc)}
            continue
        metrics = {k: v for k, v in evaluate_model(model, held).items() if k != "reliability"}
        metrics["fit_seconds"] = model.metrics.get("fit_seconds")
        if "combine" in model.metrics:  # an ensemble's member weights, shown with its candidate row
            metrics["combine"] = model.metrics["combine"]
        model.metrics["heldout"] = metrics
        model.save(staging / name)
        results[name] = metrics
        fingerprints[name] = model.fingerprint
    return results, fingerprints


def _options_for(name: str, options: Mapping[str, Any], seed: int) -> dict[str, Any]:
    return get_model_class(name).options_for_fit({"seed": seed, **options})


def load_champion(registry: str | Path, attempts: int = 20) -> KTModel:
    """The recorded champion, or an untrained baseline (sensible priors) when no decision was recorded.

    A training may be moving models into place while this reads: a folder missing for a moment, or a model that
    is not yet the one the record names (its fingerprint differs), is read again after a short wait (0.1 s, up to
    ``attempts`` times). If the folder still holds another model than the record names (a training that failed
    between moving the models and writing the record), that model is served: it is a whole, trained model, and
    refusing it would leave the bank without an engine."""
    error: ModelDirError | None = None
    loaded: KTModel | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(0.1)
        record = read_record(registry)
        if record is None:
            return get_model_class(BASELINE)()
        try:
            loaded = KTModel.load(Path(registry) / record["path"])
        except ModelDirError as exc:
            error = exc
            continue
        if record.get("fingerprint") in (None, loaded.fingerprint):
            return loaded
    if loaded is not None:
        return loaded
    assert error is not None
    raise error
