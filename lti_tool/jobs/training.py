"""The ``training.select`` job: champion/challenger on the tool's own attempts.

Reads every non-test-user attempt (oldest first per student) into an :class:`adaptive.data.ResponseLog` with the
ids the web app's engine uses (``engine_item_id(bank_slug, item_key)``, skill keys, ``str(user_id)``), runs
:func:`adaptive.champion.train_and_select` (held-out students; the baseline while the data is too thin) and writes
the decision into the engine's registry (:func:`lti_tool.services.engine.registry_path`). Serving processes pick
the new champion up by themselves (``Engine.maybe_reload``).

Sized for a web worker: CPU only, few epochs, torch threads limited for the duration of the job, the most recent
``max_responses`` answers at most, and a time budget: a challenger whose previous fit (scaled to the new data size)
would not fit in the budget is left out. One training at a time per registry (a file lock); a second request
while one runs is skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.jobs import JobContext, job
from lti_tool.logs import get_logger

log = get_logger(__name__)

DEFAULT_MODELS = ("dkt", "akt")
DEFAULT_EPOCHS = 5
DEFAULT_THREADS = 2
DEFAULT_TIME_BUDGET_S = 600.0
DEFAULT_MAX_RESPONSES = 200_000
LOCK_FILE = ".training.lock"


def load_response_log(session: Session, *, max_responses: int = DEFAULT_MAX_RESPONSES) -> Any:
    """The most recent ``max_responses`` real (non-test-user) attempts of all banks as a ResponseLog."""
    from adaptive.data import ResponseLog
    from lti_tool.models.items import Item, ItemBank
    from lti_tool.models.practice import Attempt
    from lti_tool.services.engine import engine_item_id

    rows = session.execute(
        select(Attempt.user_id, ItemBank.slug, Item.key, Attempt.skill_keys, Attempt.correct, Attempt.created_at)
        .join(Item, Item.id == Attempt.item_id)
        .join(ItemBank, ItemBank.id == Attempt.bank_id)
        .where(Attempt.is_test_user.is_(False))
        .order_by(Attempt.id.desc())
        .limit(max_responses)
    ).all()
    rows.reverse()
    return ResponseLog.from_rows(
        (str(r.user_id), engine_item_id(r.slug, r.key), tuple(r.skill_keys or ()), int(r.correct),
         r.created_at.timestamp())
        for r in rows
    )


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _registry_lock(registry: Path) -> Iterator[bool]:
    registry.mkdir(parents=True, exist_ok=True)
    with (registry / LOCK_FILE).open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _within_budget(models: Sequence[str], previous: Mapping[str, Any] | None, n_responses: int,
                   budget_s: float) -> list[str]:
    """The challengers expected to fit in the budget, from the previous decision's fit times (scaled linearly to
    the new number of responses); all of them when there is no previous timing."""
    candidates = (previous or {}).get("candidates") or {}
    scale = n_responses / max(int((previous or {}).get("n_responses") or 0), 1)
    kept, spent = [], 0.0
    for name in models:
        seconds = (candidates.get(name) or {}).get("fit_seconds")
        estimate = float(seconds) * scale if seconds is not None else 0.0
        if kept and spent + estimate > budget_s:
            log.warning("training.model_over_budget", model=name, estimate_s=round(estimate, 1))
            continue
        kept.append(name)
        spent += estimate
    return kept


def retrain(db: Any, settings: Any, *, models: Sequence[str] | None = None, epochs: int = DEFAULT_EPOCHS,
            min_students: int | None = None, min_responses: int | None = None,
            model_configs: Mapping[str, Mapping[str, Any]] | None = None, seed: int = 0,
            threads: int = DEFAULT_THREADS, time_budget_s: float = DEFAULT_TIME_BUDGET_S,
            max_responses: int = DEFAULT_MAX_RESPONSES) -> dict[str, Any]:
    """Train the candidates on the tool's attempts and record the champion; returns the decision record (without
    its history), or ``{"skipped": ...}`` when another training holds the registry."""
    from adaptive.champion import DEFAULT_MIN_RESPONSES, DEFAULT_MIN_STUDENTS, read_record, train_and_select
    from lti_tool.services.engine import registry_path

    registry = registry_path(settings)
    with _registry_lock(registry) as locked:
        if not locked:
            log.info("training.skipped_running", registry=str(registry))
            return {"skipped": "a training is already running", "registry": str(registry)}
        started = time.monotonic()
        with db.session() as session:
            response_log = load_response_log(session, max_responses=max_responses)
        if len(response_log) == 0:
            log.info("training.skipped_no_data")
            return {"skipped": "no answers yet: the baseline serves", "registry": str(registry)}
        names = _within_budget(list(models or DEFAULT_MODELS), read_record(registry), len(response_log),
                               time_budget_s)
        with _torch_threads(threads):
            record = train_and_select(
                response_log, registry, names,
                min_students=DEFAULT_MIN_STUDENTS if min_students is None else int(min_students),
                min_responses=DEFAULT_MIN_RESPONSES if min_responses is None else int(min_responses),
                model_configs=model_configs, seed=seed, epochs=int(epochs), device="cpu", progress=False,
            )
        tracked = fit_tracker(response_log, registry)
        log.info("training.selected", champion=record["champion"], n_students=record["n_students"],
                 n_responses=record["n_responses"], tracked_skills=tracked,
                 seconds=round(time.monotonic() - started, 1))
        return {**{k: v for k, v in record.items() if k != "history"}, "registry": str(registry),
                "tracked_skills": tracked}


def fit_tracker(response_log: Any, registry: Path) -> int:
    """Fit the per-skill mastery tracker (:class:`adaptive.mastery.SkillTracker`, its own ``min_students``) on
    ``response_log`` and write it atomically as the registry's ``tracker.json`` (the serving engine reloads it);
    returns the number of skills fitted. Nothing is written when no skill has enough students (a previous
    tracker, if any, stays)."""
    from adaptive.mastery import SkillTracker
    from lti_tool.services.engine import TRACKER_FILE

    tracker = SkillTracker.fit(response_log)
    if not tracker.params:
        return 0
    fd, tmp = tempfile.mkstemp(dir=registry, prefix=".tracker-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(tracker.to_dict(), fh)
        os.replace(tmp, registry / TRACKER_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return len(tracker.params)


@job("training.select", queue="training")
def training_select(ctx: JobContext, **options: Any) -> dict[str, Any]:
    """Options (JSON-able) as for :func:`retrain`: models, epochs, min_students, min_responses, model_configs,
    seed, threads, time_budget_s, max_responses."""
    return retrain(ctx.db, ctx.settings, **options)
