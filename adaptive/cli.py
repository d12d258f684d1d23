"""``adaptive-lti kt ...``: train and evaluate knowledge-tracing models from the command line.

The web app mounts this group (``from adaptive.cli import kt; cli.add_command(kt)``); ``python -m adaptive kt ...``
runs it standalone.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from adaptive.data import FORMATS, DataFormatError, ResponseLog, read_log
from adaptive.models.base import MODEL_FILES, json_safe


def _model_names() -> list[str]:
    from adaptive.models import MODEL_REGISTRY

    return sorted(MODEL_REGISTRY)


def _read(path: str, fmt: str, param: str, **kwargs: Any) -> ResponseLog:
    try:
        log = read_log(path, fmt, **kwargs)
    except DataFormatError as exc:
        raise click.BadParameter(str(exc), param_hint=param) from None
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint=param) from None
    if len(log) == 0:
        raise click.BadParameter(f"{path}: no responses", param_hint=param)
    return log


def _parse_settings(values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = {"true": True, "false": False}.get(raw.lower(), raw)
    return out


def _public(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "reliability"}


def _dumps(value: Any) -> str:
    return json.dumps(json_safe(value), default=float, allow_nan=False)


def _check_out(out: str, force: bool) -> Path:
    """Refuse an --out that cannot take a model before any training is done."""
    path = Path(out).resolve()
    if path.exists():
        if not path.is_dir():
            raise click.BadParameter(f"{out} is a file", param_hint="--out")
        entries = {p.name for p in path.iterdir()}
        if entries - MODEL_FILES:
            raise click.BadParameter(f"{out} holds other files; choose a new or empty directory", param_hint="--out")
        if entries and not force:
            raise click.BadParameter(f"{out} already holds a model; give --force to replace it, or another "
                                     "directory", param_hint="--out")
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK):
        raise click.BadParameter(f"cannot create {out}: {ancestor} is not a writable directory", param_hint="--out")
    return path


def _positive_finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be a positive number, got {value}")
    return value


@click.group("kt")
def kt() -> None:
    """Knowledge-tracing models: train, evaluate, choose the champion."""


_format = click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="Input file format.")


@kt.command("train")
@click.option("--data", "data", type=click.Path(exists=True, dir_okay=False), required=True, help="Training log.")
@_format
@click.option("--valid", type=click.Path(exists=True, dir_okay=False), help="Validation log (early stopping).")
@click.option("--valid-fold", type=int, help="pykt only: hold this fold of --data out as the validation set.")
@click.option("--model", "model_name", default="akt", show_default=True,
              help="Model name: pfa (baseline), pfa_recency (baseline + recency features), dkt, akt or ensemble "
                   "(a weighted sum of members' logits; --set 'members=[\"pfa\", \"dkt\"]').")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Directory to save the model in: new or empty (or holding a model, with --force).")
@click.option("--force", is_flag=True, help="Replace the model already in --out (written whole, then swapped in).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Model config override (repeatable).")
@click.option("--epochs", type=click.IntRange(1), default=30, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True, callback=_positive_finite,
              help="Adam's learning rate.")
@click.option("--patience", type=click.IntRange(1), default=4, show_default=True,
              help="Stop after this many epochs without a better validation AUC (log loss where the validation "
                   "answers are all right or all wrong).")
@click.option("--max-len", type=click.IntRange(2), default=200, show_default=True, help="Training window length.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--ema", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.95, show_default=True,
              help="Decay per step of the moving average of the weights that is validated and saved (0: off).")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when present, else cpu).")
@click.option("--threads", type=click.IntRange(1), default=None, help="torch CPU threads.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def train_cmd(  # noqa: PLR0917 - click passes options as arguments
    data: str, fmt: str, valid: str | None, valid_fold: int | None, model_name: str, out: str, force: bool,
              settings: tuple[str, ...], epochs: int, batch_size: int, lr: float, patience: int, max_len: int,
              seed: int, ema: float, device: str | None, threads: int | None, progress: bool) -> None:
    """Train a model on a response log and save it to --out."""
    import torch

    from adaptive.evaluate import evaluate_model
    from adaptive.models import MODEL_REGISTRY
    from adaptive.models.base import ModelDirError
    from adaptive.train import TrainingError, maybe_init_distributed, resolve_device

    if model_name not in MODEL_REGISTRY:
        raise click.BadParameter(f"unknown model {model_name!r}; choose from {', '.join(_model_names())}",
                                 param_hint="--model")
    if valid_fold is not None and fmt != "pykt":
        raise click.BadParameter("--valid-fold needs --format pykt", param_hint="--valid-fold")
    if valid_fold is not None and valid:
        raise click.BadParameter("give --valid or --valid-fold, not both", param_hint="--valid-fold")
    try:
        resolve_device(device)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--device") from None
    out_path = _check_out(out, force)
    if threads:
        torch.set_num_threads(threads)
    if valid_fold is not None:
        train_log = _read(data, fmt, "--data", exclude_folds=[valid_fold])
        valid_log: ResponseLog | None = _read(data, fmt, "--data", folds=[valid_fold])
    else:
        train_log = _read(data, fmt, "--data")
        valid_log = _read(valid, fmt, "--valid") if valid else None
    if valid_log is not None:
        shared = set(train_log.students()) & set(valid_log.students())
        if shared:
            raise click.BadParameter(
                f"{len(shared)} of the {valid_log.n_students} validation students are also in --data (e.g. "
                f"{sorted(shared)[0]!r}); validation must be on other students", param_hint="--valid")
    try:
        model = MODEL_REGISTRY[model_name](**_parse_settings(settings))
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from None
    rank, _ = maybe_init_distributed()
    options: dict[str, Any] = {"seed": seed, "progress": progress, "device": device, "epochs": epochs,
                               "batch_size": batch_size, "lr": lr, "patience": patience, "max_len": max_len,
                               "ema": ema}
    try:
        model.fit(train_log, valid=valid_log, **model.options_for_fit(options))
    except (TrainingError, ValueError) as exc:
        raise click.ClickException(f"training {model_name} failed: {exc}") from None
    if valid_log is not None and "valid" not in model.metrics:
        model.metrics["valid"] = _public(evaluate_model(model, valid_log))
    if rank == 0:
        for label, fit in _unconverged(model_name, model.metrics.get("train", {})):
            click.echo(f"warning: {label}: the fit stopped after {fit.get('iterations')} iterations, before it "
                       "converged; raise its max_iter (--set max_iter=N, or in the member's config)", err=True)
        try:
            model.save(out_path)
        except (ModelDirError, OSError) as exc:
            raise click.ClickException(f"cannot save the model to {out}: {exc}") from None
        summary = {"model": model_name, "out": str(Path(out)), "fingerprint": model.fingerprint,
                   "n_train_responses": len(train_log), "valid": model.metrics.get("valid"),
                   "train": {k: v for k, v in model.metrics.get("train", {}).items() if k != "epochs"}}
        click.echo(_dumps(summary))
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _unconverged(name: str, train: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The fits (the model's own, or an ensemble's members') that stopped at ``max_iter`` before converging."""
    if train.get("converged") is False:
        return [(name, train)]
    return [(label, fit) for label, fit in train.items() if isinstance(fit, Mapping) and fit.get("converged") is False]


@kt.command("evaluate")
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False), required=True,
              help="A directory written by `kt train`.")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), required=True, help="Test log.")
@_format
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--bins/--no-bins", default=False, help="Include the reliability bins.")
def evaluate_cmd(model_dir: str, data: str, fmt: str, as_json: bool, bins: bool) -> None:
    """Leak-free, question-level metrics of a saved model on a test log."""
    from adaptive.evaluate import evaluate_model
    from adaptive.models.base import KTModel

    try:
        model = KTModel.load(model_dir)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--model") from None
    log = _read(data, fmt, "--data")
    result = evaluate_model(model, log)
    if not bins:
        result = _public(result)
    result["model"] = model.name
    # answers the model can only score from skills (items it was not trained on) or not at all (skills too)
    unseen_items = sum(r.item_id not in model.vocab.items for r in log) / len(log)
    unseen_skills = sum(not any(s in model.vocab.skills for s in r.skill_ids) for r in log) / len(log)
    result["unseen"] = {"items": round(unseen_items, 4), "skills": round(unseen_skills, 4)}
    if unseen_items > 0:
        click.echo(f"note: {unseen_items:.0%} of the test answers are on items the model was not trained on "
                   f"(scored from their skills), {unseen_skills:.0%} on skills it does not know either "
                   "(scored as an average item)", err=True)
    if as_json:
        click.echo(_dumps(result))
        return
    for key in ("auc", "accuracy", "rmse", "logloss", "ece", "n"):
        value = result[key]
        if isinstance(value, float) and not math.isfinite(value):
            click.echo(f"{key:>9}: undefined (the test answers are all right or all wrong)")
        else:
            click.echo(f"{key:>9}: {value:.4f}" if isinstance(value, float) else f"{key:>9}: {value}")


@kt.command("select")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), required=True, help="All responses so far.")
@_format
@click.option("--models", default="pfa,dkt,akt", show_default=True, help="Comma-separated challengers.")
@click.option("--registry", type=click.Path(file_okay=False), required=True,
              help="Registry directory (one sub-directory per model + champion.json).")
@click.option("--holdout", type=click.FloatRange(0.05, 0.5), default=0.2, show_default=True,
              help="Fraction of students held out to compare the models.")
@click.option("--min-students", type=click.IntRange(1), default=None, help="Below this, keep the baseline.")
@click.option("--min-responses", type=click.IntRange(1), default=None, help="Below this, keep the baseline.")
@click.option("--epochs", type=click.IntRange(1), default=30, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="A progress bar per sequence model trained.")
def select_cmd(  # noqa: PLR0917
    data: str, fmt: str, models: str, registry: str, holdout: float, min_students: int | None,
               min_responses: int | None, epochs: int, seed: int, progress: bool) -> None:
    """Train the challengers, compare them on held-out students, record the champion."""
    from adaptive.champion import DEFAULT_MIN_RESPONSES, DEFAULT_MIN_STUDENTS, train_and_select

    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise click.BadParameter("name at least one model", param_hint="--models")
    unknown = [m for m in names if m not in _model_names()]
    if unknown:
        raise click.BadParameter(f"unknown model(s) {unknown}; choose from {', '.join(_model_names())}",
                                 param_hint="--models")
    log = _read(data, fmt, "--data")
    record = train_and_select(
        log, registry, names, holdout=holdout, seed=seed, epochs=epochs,
        min_students=min_students or DEFAULT_MIN_STUDENTS, min_responses=min_responses or DEFAULT_MIN_RESPONSES,
        progress=progress,
    )
    click.echo(_dumps(record))


def main() -> None:  # pragma: no cover - convenience for `python -m adaptive.cli`
    kt(sys.argv[1:])
