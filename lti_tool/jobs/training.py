"""The ``training.select`` job: champion/challenger per item bank on the tool's own attempts.

For one bank (option ``bank_id``), reads that bank's non-test-user attempts (oldest first per student) into an
:class:`adaptive.data.ResponseLog` with the ids the web app's engine uses (``engine_item_id(bank_slug, item_key)``,
skill keys, ``str(user_id)``), runs :func:`adaptive.champion.train_and_select` (held-out students; the baseline
while the data is too thin) and writes the decision and the per-skill tracker into that bank's registry
(:func:`lti_tool.services.engine.bank_registry`). The authors' difficulty seeds are the models' prior knowledge of
the items, and the served model's difficulty of every item with at least ``MIN_CALIBRATION_ANSWERS`` answers is
written back as ``Item.calibrated_difficulty`` (:mod:`adaptive.difficulty`). Without ``bank_id`` every bank that
has real attempts is trained, one after another, each with its own report. Serving processes pick a bank's new
champion up by themselves (``Engine.maybe_reload``).

Sized for a web worker: CPU only, few epochs, torch threads limited for the duration of the job, the most recent
``max_responses`` answers of the bank at most, and a time budget per bank: a challenger whose previous fit on that
bank (scaled to the new data size) would not fit in the budget is left out. One training at a time per bank
registry (a file lock); a second request for the same bank while one runs is skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
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

DEFAULT_MODELS = ("dkt", "akt", "ensemble")  # ensemble: mean logit of pfa, dkt and akt (adaptive/models)
DEFAULT_EPOCHS = 5
DEFAULT_THREADS = 2
DEFAULT_TIME_BUDGET_S = 600.0
DEFAULT_MAX_RESPONSES = 200_000
LOCK_FILE = ".training.lock"
MIN_CALIBRATION_ANSWERS = 20  # answers an item needs before the engine's difficulty replaces the author's seed


def load_response_log(session: Session, *, bank_id: int, max_responses: int = DEFAULT_MAX_RESPONSES) -> Any:
    """The most recent ``max_responses`` real (non-test-user) attempts on bank ``bank_id`` as a ResponseLog."""
    from adaptive.data import ResponseLog
    from lti_tool.models.items import Item, ItemBank
    from lti_tool.models.practice import Attempt
    from lti_tool.services.engine import engine_item_id

    rows = session.execute(
        select(Attempt.user_id, ItemBank.slug, Item.key, Attempt.skill_keys, Attempt.correct, Attempt.created_at)
        .join(Item, Item.id == Attempt.item_id)
        .join(ItemBank, ItemBank.id == Attempt.bank_id)
        .where(Attempt.bank_id == bank_id, Attempt.is_test_user.is_(False))
        .order_by(Attempt.id.desc())
        .limit(max_responses)
    ).all()
    rows.reverse()
    return ResponseLog.from_rows(
        (str(r.user_id), engine_item_id(r.slug, r.key), tuple(r.skill_keys or ()), int(r.correct),
         r.created_at.timestamp())
        for r in rows
    )


def author_seeds(session: Session, bank_id: int) -> dict[str, float]:
    """The authors' difficulty seeds of a bank's items, in logits by engine item id (items without a seed left out)."""
    from adaptive.difficulty import difficulty_to_logit
    from lti_tool.models.items import Item, ItemBank
    from lti_tool.services.engine import engine_item_id

    rows = session.execute(select(ItemBank.slug, Item.key, Item.difficulty).join(Item, Item.bank_id == ItemBank.id)
                           .where(ItemBank.id == bank_id, Item.difficulty.is_not(None))).all()
    return {engine_item_id(r.slug, r.key): difficulty_to_logit(float(r.difficulty)) for r in rows}


def write_calibration(session: Session, bank_id: int, model: Any, response_log: Any, *,
                      min_answers: int = MIN_CALIBRATION_ANSWERS) -> int:
    """Write the served model's difficulty of each of the bank's items with at least ``min_answers`` answers in
    ``response_log`` into ``Item.calibrated_difficulty`` (0..1 scale, :mod:`adaptive.difficulty`); items with
    fewer answers get NULL (their author's seed stands). Returns the number of items calibrated."""
    from collections import Counter

    from adaptive.difficulty import calibrate, logit_to_difficulty
    from lti_tool.models.items import Item, ItemBank
    from lti_tool.services.engine import engine_item_id

    answers = Counter(r.item_id for seq in response_log.sequences() for r in seq)
    bank = session.get(ItemBank, bank_id)
    if bank is None:
        return 0
    items = list(session.scalars(select(Item).where(Item.bank_id == bank_id)))
    ids = {it.id: engine_item_id(bank.slug, it.key) for it in items}
    logits = calibrate(model, [ids[it.id] for it in items if answers[ids[it.id]] >= min_answers])
    for it in items:
        logit = logits.get(ids[it.id])
        it.calibrated_difficulty = None if logit is None else round(logit_to_difficulty(logit), 4)
    return len(logits)


def banks_with_attempts(session: Session) -> list[int]:
    """Ids of the banks that have real (non-test-user) attempts, in id order."""
    from lti_tool.models.practice import Attempt

    return list(session.scalars(select(Attempt.bank_id).where(Attempt.is_test_user.is_(False))
                                .distinct().order_by(Attempt.bank_id)))


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


def discard_engine(registry: Path) -> bool | None:
    """Delete what training wrote in a bank's registry (champion record, models, tracker), so its serving engines
    fall back to the baseline at their next reload check. Under the registry's training lock: returns None when a
    training holds it (nothing deleted: that training may be reading the answers being removed), else whether
    there was anything to delete."""
    if not registry.is_dir():
        return False
    with _registry_lock(registry) as locked:
        if not locked:
            return None
        found = False
        for entry in registry.iterdir():
            if entry.name == LOCK_FILE:
                continue
            found = True
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        return found


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


def retrain(db: Any, settings: Any, *, bank_id: int | None = None, models: Sequence[str] | None = None,
            **options: Any) -> dict[str, Any]:
    """Train bank ``bank_id`` (see :func:`retrain_bank`), or, without it, every bank that has real attempts one
    after another: ``{"banks": [report, ...]}`` (a bank whose training failed reports ``{"error": ...}`` and the
    others still train)."""
    from adaptive import get_model_class

    names = list(models or DEFAULT_MODELS)
    for name in names:
        get_model_class(name)  # an unknown model name fails before any bank is trained
    if bank_id is not None:
        return retrain_bank(db, settings, int(bank_id), models=names, **options)
    with db.session() as session:
        bank_ids = banks_with_attempts(session)
    reports: list[dict[str, Any]] = []
    for one in bank_ids:
        try:
            reports.append(retrain_bank(db, settings, one, models=names, **options))
        except Exception as exc:  # one bank's failure must not stop the others
            log.exception("training.bank_failed", bank_id=one)
            reports.append({"bank_id": one, "error": f"{type(exc).__name__}: {exc}"})
    return {"banks": reports}


def retrain_bank(db: Any, settings: Any, bank_id: int, *, models: Sequence[str] | None = None,
                 epochs: int = DEFAULT_EPOCHS, min_students: int | None = None, min_responses: int | None = None,
                 model_configs: Mapping[str, Mapping[str, Any]] | None = None, seed: int = 0,
                 threads: int = DEFAULT_THREADS, time_budget_s: float = DEFAULT_TIME_BUDGET_S,
                 max_responses: int = DEFAULT_MAX_RESPONSES) -> dict[str, Any]:
    """Train the candidates on bank ``bank_id``'s attempts and record the champion in the bank's registry; returns
    the decision record (without its history) with ``bank_id``, ``bank`` (slug) and ``registry``, or
    ``{"skipped": ...}`` when the bank does not exist, has no answers, or another training holds its registry."""
    from adaptive.champion import (
        DEFAULT_MIN_RESPONSES,
        DEFAULT_MIN_STUDENTS,
        load_champion,
        read_record,
        train_and_select,
    )
    from lti_tool.models.items import ItemBank
    from lti_tool.services.engine import bank_registry, registry_root

    with db.session() as session:
        bank = session.get(ItemBank, int(bank_id))
        if bank is None:
            return {"bank_id": bank_id, "skipped": "no such item bank"}
        slug, registry = bank.slug, bank_registry(registry_root(settings), bank)
    about = {"bank_id": int(bank_id), "bank": slug, "registry": str(registry)}
    with _registry_lock(registry) as locked:
        if not locked:
            log.info("training.skipped_running", **about)
            return {**about, "skipped": "a training of this bank is already running"}
        started = time.monotonic()
        with db.session() as session:
            response_log = load_response_log(session, bank_id=int(bank_id), max_responses=max_responses)
            seeds = author_seeds(session, int(bank_id))
        if len(response_log) == 0:
            log.info("training.skipped_no_data", **about)
            return {**about, "skipped": "no answers yet: the baseline serves"}
        names = _within_budget(list(models or DEFAULT_MODELS), read_record(registry), len(response_log),
                               time_budget_s)
        with _torch_threads(threads):
            record = train_and_select(
                response_log, registry, names,
                min_students=DEFAULT_MIN_STUDENTS if min_students is None else int(min_students),
                min_responses=DEFAULT_MIN_RESPONSES if min_responses is None else int(min_responses),
                model_configs=model_configs, seed=seed, epochs=int(epochs), device="cpu", progress=False,
                item_priors=seeds,
            )
            champion = load_champion(registry)
            with db.session() as session:
                calibrated = write_calibration(session, int(bank_id), champion, response_log)
        tracked = fit_tracker(response_log, registry)
        log.info("training.selected", **about, champion=record["champion"], n_students=record["n_students"],
                 n_responses=record["n_responses"], tracked_skills=tracked, calibrated_items=calibrated,
                 seconds=round(time.monotonic() - started, 1))
        return {**{k: v for k, v in record.items() if k != "history"}, **about, "tracked_skills": tracked,
                "calibrated_items": calibrated}


def fit_tracker(response_log: Any, registry: Path) -> int:
    """Fit the per-skill mastery tracker (:class:`adaptive.mastery.SkillTracker`, its own ``min_students``) on
    ``response_log`` (one bank's) and write it atomically as the bank registry's ``tracker.json`` (the bank's
    serving engine reloads it);
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
    """Options (JSON-able) as for :func:`retrain`: bank_id (absent: every bank with attempts), models, epochs,
    min_students, min_responses, model_configs, seed, threads, time_budget_s, max_responses."""
    return retrain(ctx.db, ctx.settings, **options)
