"""Training loop for the sequence models: windows of ``max_len`` events, Adam, early stopping on validation AUC
(on the validation log loss when the validation students' answers are all right or all wrong, where AUC is
undefined). A loss that stops being a number ends training with :class:`TrainingError`, never a silently
untrained model.

Data-parallel when ``torch.distributed`` is initialised (``torchrun`` sets ``WORLD_SIZE``; the process group is then
created here with gloo on CPU, nccl on CUDA): every rank draws the same shuffled global batches and takes its share
of each, DistributedDataParallel averages the gradients, every rank evaluates the same validation students (so they
agree on early stopping without exchanging anything) and holds the same weights at the end.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from adaptive.data import ResponseLog, split_by_student
from adaptive.models.base import Encoded, collate

if TYPE_CHECKING:
    from adaptive.models.base import KTModel


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_len: int = 200  # training windows (events)
    patience: int = 4  # epochs without a better validation AUC before stopping
    min_epochs: int = 1
    seed: int = 0
    device: str | None = None  # None: cuda when available, else cpu
    progress: bool = False  # tqdm progress bar (rank 0 only)
    valid_frac: float = 0.1  # held out of the training students when no validation log is given
    max_iter: int | None = None  # accepted for the baseline; unused here
    # batches sorted by length within runs of `bucket` batches (less padding, faster epochs); 1 = plain shuffled
    # batches. Default 1: length-sorted batches cost the attention model 2 AUC points on ASSIST2009 (bench/README.md)
    bucket: int = 1
    # exponential moving average of the weights (Polyak averaging): 0 = off, else its decay per step (warmed up as
    # min(ema, (1 + step) / (10 + step))); validation, early stopping and the returned model use the averaged weights.
    # 0.95: dkt +0.0018 test AUC on ASSIST2009 over five folds, every fold, same epochs (bench/README.md)
    ema: float = 0.95

    def __post_init__(self) -> None:
        if not 0.0 <= self.ema < 1.0:
            raise ValueError("ema must be in [0, 1)")
        for name in ("epochs", "batch_size", "max_len", "patience", "min_epochs"):
            if int(getattr(self, name)) < (2 if name == "max_len" else 1):
                raise ValueError(f"{name} must be at least {2 if name == 'max_len' else 1}, got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be zero or positive, got {self.weight_decay}")
        if not 0.0 < self.valid_frac < 1.0:
            raise ValueError(f"valid_frac must be between 0 and 1, got {self.valid_frac}")


class TrainingError(RuntimeError):
    """Training cannot go on (it diverged, or the data cannot train this model); the message says why."""


def resolve_device(name: str | None) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:1`` ... (None: cuda when present, else cpu), checked before any work is done."""
    try:
        device = torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but this torch build or machine has no CUDA")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} asked for, but there are {torch.cuda.device_count()} CUDA devices")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r} is not supported; use cpu, cuda or cuda:N")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def maybe_init_distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group from torchrun's environment when needed."""
    import torch.distributed as dist

    if dist.is_available() and not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def windows(seqs: list[Encoded], max_len: int) -> list[Encoded]:
    """Cut each sequence into consecutive windows of at most ``max_len`` events (windows of one event dropped)."""
    out = []
    for s in seqs:
        for start in range(0, len(s), max_len):
            w = s.window(start, start + max_len)
            if len(w) >= 2:
                out.append(w)
    return out


def batches(data: list[Encoded], batch_size: int, rng: random.Random, bucket: int = 1) -> list[list[int]]:
    """Shuffled batches of windows of similar lengths (little padding): shuffle, sort each run of ``bucket``
    batches by length, cut, shuffle the batches. The same ``rng`` gives the same batches on every rank."""
    order = list(range(len(data)))
    rng.shuffle(order)
    out = []
    step = batch_size * bucket
    for c in range(0, len(order), step):
        part = sorted(order[c : c + step], key=lambda i: len(data[i]))
        out += [part[b : b + batch_size] for b in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def _diverged(loss: float, world: int, device: torch.device) -> bool:
    """Whether any process's loss is not a number. Decided together (one small all-reduce): a process that
    stopped alone would leave the others waiting in the next gradient all-reduce."""
    bad = not math.isfinite(loss)
    if world > 1:
        import torch.distributed as dist

        flag = torch.tensor([1.0 if bad else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        bad = bool(flag.item())
    return bad


def _swap_in(params: Sequence[torch.Tensor], values: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Copy ``values`` into ``params``; returns copies of what they held."""
    with torch.no_grad():
        held = [q.detach().clone() for q in params]
        for q, v in zip(params, values, strict=True):
            q.copy_(v)
    return held


def train_model(model: KTModel, log: ResponseLog, valid: ResponseLog | None, cfg: TrainConfig) -> dict[str, Any]:
    """Train ``model.net`` in place; returns the history (per-epoch loss, validation AUC, seconds)."""
    from adaptive.evaluate import evaluate_model

    rank, world = maybe_init_distributed()
    seed_everything(cfg.seed)
    if valid is None or len(valid) == 0:
        if log.n_students < 2:
            raise TrainingError("one student's answers cannot be split into training and validation students; "
                                "give more students or a validation log")
        log, valid = split_by_student(log, 1.0 - cfg.valid_frac, seed=cfg.seed)
    # Early stopping on validation AUC, which needs both right and wrong answers among the validation students;
    # with one kind only (a small course) it is undefined at every epoch, so the log loss decides instead.
    answers = {int(r.correct) for seq in valid.sequences() for r in seq}
    criterion = "auc" if answers == {0, 1} else "logloss"
    device = resolve_device(cfg.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", rank % torch.cuda.device_count())
    net = model.net.to(device)
    ddp: nn.Module = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    data = windows([model.encode(s) for s in log.sequences()], cfg.max_len)
    if not data:
        raise ValueError("no training sequence has two or more responses")
    bce = nn.BCEWithLogitsLoss(reduction="sum")
    bar = None
    if cfg.progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs, desc=f"train {model.name}", unit="epoch")
    best_score, best_auc, best_state, best_epoch, bad = -math.inf, math.nan, copy.deepcopy(net.state_dict()), 0, 0
    params = [q for q in net.parameters() if q.requires_grad]
    averaged = [q.detach().clone() for q in params] if cfg.ema > 0 else None
    steps = 0
    history: dict[str, Any] = {"epochs": [], "world_size": world, "device": str(device)}
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.time()
        net.train()
        total, count = 0.0, 0
        for global_batch in batches(data, cfg.batch_size, random.Random(cfg.seed * 1000 + epoch), cfg.bucket):
            idx = global_batch[rank::world]
            if not idx:  # keep ranks in step: a rank with no share still joins the all-reduce
                idx = global_batch[:1]
                weight = 0.0
            else:
                weight = 1.0
            batch = collate([data[i] for i in idx], device)
            logits = ddp(batch["items"], batch["skills"], batch["correct"], batch["mask"])
            m = batch["mask"]
            n_tok = m.sum().clamp(min=1)
            loss = weight * bce(logits[m], batch["correct"][m]) / n_tok + model.regularization()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            if averaged is not None:
                with torch.no_grad():
                    share = 1.0 - min(cfg.ema, (1.0 + steps) / (10.0 + steps))
                    for a, q in zip(averaged, params, strict=True):
                        a.lerp_(q.detach(), share)
            if _diverged(float(loss.detach()), world, device):
                raise TrainingError(f"training diverged in epoch {epoch} (the loss is not a number on at least "
                                    f"one process); lower the learning rate (now {cfg.lr:g})")
            total += float(loss.detach()) * float(n_tok) * weight
            count += int(n_tok) * int(weight)
        net.eval()
        current = _swap_in(params, averaged) if averaged is not None else None
        v = evaluate_model(model, valid)
        secs = time.time() - t0
        history["epochs"].append({"epoch": epoch, "loss": total / max(count, 1),
                                  "valid_auc": v["auc"] if math.isfinite(v["auc"]) else None,
                                  "valid_logloss": v["logloss"], "seconds": round(secs, 2)})
        score = v["auc"] if criterion == "auc" else -v["logloss"]
        if not math.isfinite(score):
            raise TrainingError(f"the validation {criterion} is {score} after epoch {epoch}: the model's "
                                "predictions are not numbers; lower the learning rate")
        if score > best_score + 1e-5:
            best_score, best_auc, best_state, best_epoch, bad = (score, v["auc"], copy.deepcopy(net.state_dict()),
                                                                 epoch, 0)
        else:
            bad += 1
        if current is not None:  # back to the raw weights for the next epoch's steps
            _swap_in(params, current)
        if bar is not None:
            shown = {"valid_auc": f"{v['auc']:.4f}"} if criterion == "auc" else {"valid_logloss": f"{v['logloss']:.4f}"}
            bar.set_postfix(loss=f"{total / max(count, 1):.4f}", **shown, best=best_epoch)
            bar.update(1)
        if epoch >= cfg.min_epochs and bad >= cfg.patience:
            break
    if bar is not None:
        bar.close()
    net.load_state_dict(best_state)
    model.net = net.to("cpu")
    model.net.eval()
    history.update(best_epoch=best_epoch, best_valid_auc=best_auc if math.isfinite(best_auc) else None,
                   selected_on=f"valid_{criterion}",
                   seconds_per_epoch=round(float(np.mean([e["seconds"] for e in history["epochs"]])), 2))
    return history
