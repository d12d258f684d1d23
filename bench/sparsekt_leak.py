"""Does sparseKT's top-k attention let future answers into its predictions once trained? Measured on ASSIST2015.

    .venv/bin/python bench/sparsekt_leak.py --epochs 30 --json /tmp/sparsekt_leak.json

sparseKT (Huang et al., SIGIR 2023) as pyKT implements it (``pykt/models/sparsekt.py``, read at 03fc382) is a stack
of retriever blocks: each question attends to the *earlier* questions (keys, one projection shared with the
queries) and reads their raw interaction embeddings (values). Its top-k variant softmaxes the masked scores, keeps
in each row (after the first ``k + 1``) the probabilities at least as large as the row's k-th largest, and softmaxes
those probabilities again. A masked (future) position has probability exactly 0 after the first softmax, so when
the k-th largest visible probability underflows to 0 as well (a score gap of about 103 in float32), every future
position ties with the threshold, is kept, and gets weight ``e^0`` in the second softmax: the row then reads later
interactions, its own answer included. (``bench/sparsekt_topk_tie.py`` shows the step on a toy input.)

This script trains our own implementation of that model (written from the description above and the paper; no pyKT
code) on pyKT's ASSIST2015 split, with pyKT's default sparseKT settings for the dataset (``d_model`` 256, 4 heads,
2 blocks, ``k`` 5, dropout 0.1, Adam at 1e-4, batches of 256 windows of 200 events), and after every epoch scores
the validation students twice with the same weights:

- ``as published``: the top-k step as described (the tie kept);
- ``leak-free``: the same step with the kept set intersected with the visible (earlier) positions.

With it, the share of rows that put weight on later positions and the mean weight they put there. If the trained
model reaches the tie, the first AUC pulls away from the second; if it does not, they stay equal and the tie cannot
explain sparseKT's figure. ``--train-mode leak-free`` trains with the fixed step instead (a leak-free sparseKT).

AUC is computed as pyKT computes it: students' sequences cut into windows of 200 (windows under 3 events dropped),
one prediction per event from the window's second event on. The test figure is for the epoch with the best
validation AUC in the training mode.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kt_quality import DATA, load  # the same ASSIST2015 split as the quality benchmark

from adaptive.data import ResponseLog
from adaptive.evaluate import auc_score

NEG = -1e32  # the masking constant of the described implementation


# --- data -----------------------------------------------------------------------------------------------------------
def windows(log: ResponseLog, skills: dict[str, int], length: int = 200, min_len: int = 3) -> tuple[torch.Tensor, ...]:
    """(skill ids, answers, mask) [N, length] of every student's sequence cut into consecutive windows."""
    cs, rs, ms = [], [], []
    for seq in log.sequences():
        for start in range(0, len(seq), length):
            part = seq[start : start + length]
            if len(part) < min_len:
                continue
            pad = length - len(part)
            cs.append([skills[r.skill_ids[0]] for r in part] + [0] * pad)
            rs.append([r.correct for r in part] + [0] * pad)
            ms.append([1] * len(part) + [0] * pad)
    return torch.tensor(cs), torch.tensor(rs), torch.tensor(ms, dtype=torch.bool)


# --- the model --------------------------------------------------------------------------------------------------
def sinusoid(length: int, d: int) -> torch.Tensor:
    pos = torch.arange(length).unsqueeze(1).float()
    div = torch.exp(torch.arange(0, d, 2).float() * -(math.log(10000.0) / d))
    pe = torch.zeros(length, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return pe


class Stats:
    """Weight that rows past the first k + 1 put on later positions (real rows only), summed over calls."""

    def __init__(self) -> None:
        self.rows = 0
        self.leaking = 0
        self.weight = 0.0
        self.gaps: list[torch.Tensor] = []

    def add(self, w: torch.Tensor, future: torch.Tensor, rows: torch.Tensor, gap: torch.Tensor) -> None:
        """``w`` the weights [B, H, T, T]; ``gap`` [B, H, T]: each row's best visible score minus its k-th best."""
        fw = (w * future).sum(-1)  # [B, H, T]
        sel = rows.unsqueeze(1).expand_as(fw)
        self.rows += int(sel.sum())
        self.leaking += int(((fw > 0.01) & sel).sum())
        self.weight += float(fw[sel].sum())
        self.gaps.append(gap[sel])

    def summary(self) -> dict[str, float]:
        n = max(self.rows, 1)
        g = torch.cat(self.gaps).cpu() if self.gaps else torch.zeros(1)
        return {"rows_reading_later_positions": self.leaking / n, "mean_weight_on_later_positions": self.weight / n,
                "score_gap_p50": float(g.quantile(0.5)) if len(g) < 2**24 else float(g.median()),
                "score_gap_p99": float(torch.sort(g).values[int(0.99 * (len(g) - 1))]),
                "score_gap_max": float(g.max()), "rows_gap_over_87": float((g > 87).float().mean())}


def topk_step(p: torch.Tensor, visible: torch.Tensor, k: int, *, leak_free: bool = False) -> torch.Tensor:
    """Rows ``k + 1``.. of the attention weights after the top-k step, from the first softmax's ``p`` [..., T, T]:
    keep each row's probabilities at least as large as its k-th largest, softmax them again. As published, a later
    position (``p`` = 0) ties with the threshold when the k-th largest is 0 too; ``leak_free`` keeps only the
    ``visible`` [T, T] positions."""
    tail = p[..., k + 1 :, :]
    keep = tail >= tail.topk(k, -1).values[..., k - 1 : k]
    if leak_free:
        keep &= visible[k + 1 :]
    return torch.softmax(tail.masked_fill(~keep, NEG), -1)


class Block(nn.Module):
    def __init__(self, d: int, heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.h, self.dk = heads, d // heads
        self.wk, self.wv, self.wo = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)  # queries share wk
        for lin in (self.wk, self.wv):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
        nn.init.zeros_(self.wo.bias)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, d_ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, y: torch.Tensor, k: int, mode: str, stats: Stats | None,
                rows: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.wk(x).view(b, t, self.h, self.dk).transpose(1, 2)
        v = self.wv(y).view(b, t, self.h, self.dk).transpose(1, 2)
        visible = torch.ones(t, t, dtype=torch.bool, device=x.device).tril(-1)  # strictly earlier positions
        scores = (q @ q.transpose(-1, -2)) / math.sqrt(self.dk)
        masked = scores.masked_fill(~visible, NEG)
        p = torch.softmax(masked, -1)
        gap = None
        if k + 1 < t:
            if stats is not None:
                best = masked[:, :, k + 1 :].topk(k, -1).values
                gap = F.pad(best[..., 0] - best[..., k - 1], (k + 1, 0))
            p = torch.cat([p[:, :, : k + 1], topk_step(p, visible, k, leak_free=mode == "leak-free")], 2)
        p = torch.cat([torch.zeros_like(p[:, :, :1]), p[:, :, 1:]], 2)  # the first question reads nothing
        if stats is not None and gap is not None:
            r = rows.clone()
            r[:, : k + 1] = False
            stats.add(p, (~visible).float(), r, gap)
        out = (self.drop(p) @ v).transpose(1, 2).reshape(b, t, -1)
        x = self.ln1(x + self.drop(self.wo(out)))
        return self.ln2(x + self.drop(self.ff(x)))


class SparseKT(nn.Module):
    def __init__(self, n_skills: int, d: int = 256, heads: int = 4, blocks: int = 2, d_ff: int = 256,
                 fc: tuple[int, int] = (256, 256), dropout: float = 0.1, length: int = 200) -> None:
        super().__init__()
        self.q_embed = nn.Embedding(n_skills, d)
        self.a_embed = nn.Embedding(2, d)
        self.register_buffer("pe", sinusoid(length, d))
        self.blocks = nn.ModuleList(Block(d, heads, d_ff, dropout) for _ in range(blocks))
        self.out = nn.Sequential(nn.Linear(2 * d, fc[0]), nn.ReLU(), nn.Dropout(dropout), nn.Linear(fc[0], fc[1]),
                                 nn.ReLU(), nn.Dropout(dropout), nn.Linear(fc[1], 1))

    def forward(self, c: torch.Tensor, r: torch.Tensor, mask: torch.Tensor, k: int, mode: str,
                stats: Stats | None = None) -> torch.Tensor:
        q = self.q_embed(c)
        pe = self.pe[: c.shape[1]]
        x, y = q + pe, q + self.a_embed(r) + pe
        for blk in self.blocks:
            x = blk(x, y, k, mode, stats, mask)
        return self.out(torch.cat([x, q], -1)).squeeze(-1)  # logit of each position's answer


# --- training and scoring --------------------------------------------------------------------------------------
def score(model: SparseKT, data: tuple[torch.Tensor, ...], k: int, mode: str, batch: int,
          device: torch.device) -> dict[str, float]:
    model.eval()
    stats = Stats()
    ys, ps = [], []
    with torch.no_grad():
        for i in range(0, len(data[0]), batch):
            c, r, m = (t[i : i + batch].to(device) for t in data)
            logit = model(c, r, m, k, mode, stats)
            sel = m.clone()
            sel[:, 0] = False
            ys.append(r[sel].cpu().numpy())
            ps.append(torch.sigmoid(logit[sel]).cpu().numpy())
    y, p = np.concatenate(ys), np.concatenate(ps)
    return {"auc": float(auc_score(y, p)), "n": len(y), **stats.summary()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--fold", type=int, default=1, help="validation = fold (k - 1) of train_valid.csv (default 1)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--patience", type=int, default=5, help="stop after this many epochs without a better "
                    "validation AUC (default 5)")
    ap.add_argument("--train-mode", choices=["as-published", "leak-free"], default="as-published")
    ap.add_argument("--k", type=int, default=5, help="top-k (pyKT's k_index, default 5)")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch", type=int, default=256, help="windows per optimiser step (default 256, pyKT's)")
    ap.add_argument("--micro", type=int, default=32, help="windows per forward pass (default 32; the step's "
                    "gradient is the same)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="torch device (default: cuda when present, else cpu)")
    ap.add_argument("--limit", type=int, default=0, help="train on this many windows only (0: all; a quick check)")
    ap.add_argument("--checkpoint", type=Path, help="save the run here after every epoch, and go on from it when it "
                    "exists (a longer run over several sittings; same arguments)")
    ap.add_argument("--json", type=Path, help="write the per-epoch figures and the test figures here")
    ap.add_argument("--test-checkpoint", action="store_true", help="score the checkpoint's best and last epochs on "
                    "the test students (both modes) and stop; no training")
    args = ap.parse_args()
    if args.test_checkpoint and not (args.checkpoint and args.checkpoint.exists()):
        raise SystemExit("--test-checkpoint needs --checkpoint naming an existing checkpoint")
    if not (DATA / "assist2015_pykt" / "train_valid.csv").exists():
        raise SystemExit(f"no ASSIST2015 pyKT files under {DATA / 'assist2015_pykt'} (see its README.md)")

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    train_log, valid_log, test_log = load("assist2015", args.fold)
    skills = {s: i for i, s in enumerate(sorted({s for lg in (train_log, valid_log, test_log) for s in lg.skills()},
                                                key=int))}
    train, valid, test = windows(train_log, skills), windows(valid_log, skills), windows(test_log, skills)
    if args.limit:
        train = tuple(t[: args.limit] for t in train)
    print(f"windows: train {len(train[0])}, valid {len(valid[0])}, test {len(test[0])}; {len(skills)} skills",
          flush=True)

    train_mode = args.train_mode.replace("as-published", "as published")
    device = torch.device(args.device)
    model = SparseKT(len(skills), d=args.d_model, d_ff=args.d_model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    history, best, best_state, since, first = [], -1.0, None, 0, 1
    if args.checkpoint and args.checkpoint.exists():  # go on from the last finished epoch
        ck = torch.load(args.checkpoint, weights_only=True, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["rng"].cpu())
        history, best, best_state, since = ck["history"], ck["best"], ck["best_state"], ck["since"]
        first = history[-1]["epoch"] + 1
        print(f"{'scoring' if args.test_checkpoint else 'resuming after'} epoch {first - 1} of {args.checkpoint}",
              flush=True)
        if args.test_checkpoint:  # the best epoch's model and the last one (the tie grows after the best)
            best_epoch = max(history, key=lambda h: h[train_mode]["auc"])["epoch"]
            out = {}
            for label, epoch, state in (("best", best_epoch, best_state), ("last", first - 1, ck["model"])):
                model.load_state_dict(state)
                out[label] = {"epoch": epoch, "test": {mode: score(model, test, args.k, mode, args.micro, device)
                                                       for mode in ("as published", "leak-free")}}
                for mode, s in out[label]["test"].items():
                    print(f"test ({mode}, epoch {epoch}, the {label}): AUC {s['auc']:.5f} over {s['n']} "
                          f"predictions; rows reading later positions {s['rows_reading_later_positions'] * 1e6:.1f} "
                          f"per million, mean weight there {s['mean_weight_on_later_positions']:.2e}")
            if args.json:
                args.json.write_text(json.dumps(out, indent=1))
            return
    n = len(train[0])
    for epoch in range(first, args.epochs + 1):
        if since >= args.patience:
            break
        t0 = time.time()
        model.train()
        perm = torch.randperm(n)
        total = 0.0
        for bi, i in enumerate(range(0, n, args.batch)):
            idx = perm[i : i + args.batch]
            n_pred = int(train[2][idx, 1:].sum())
            opt.zero_grad()
            loss_sum = 0.0
            for j in range(0, len(idx), args.micro):  # the batch's mean loss, in pieces (memory, speed)
                c, r, m = (t[idx[j : j + args.micro]].to(device) for t in train)
                logit = model(c, r, m, args.k, train_mode)
                sel = m.clone()
                sel[:, 0] = False
                loss = F.binary_cross_entropy_with_logits(logit[sel], r[sel].float(), reduction="sum") / n_pred
                loss.backward()
                loss_sum += float(loss.detach())
            opt.step()
            total += loss_sum
            print(f"\repoch {epoch}: batch {bi + 1}/{math.ceil(n / args.batch)} loss {total / (bi + 1):.4f}",
                  end="", flush=True)
        row = {"epoch": epoch, "train_loss": total / (bi + 1), "seconds": round(time.time() - t0, 1)}
        for mode in ("as published", "leak-free"):
            row[mode] = score(model, valid, args.k, mode, args.micro, device)
        history.append(row)
        a, b = row["as published"], row["leak-free"]
        print(f"\repoch {epoch}: loss {row['train_loss']:.4f}, validation AUC as published {a['auc']:.4f} "
              f"(rows reading later positions {a['rows_reading_later_positions']:.3f}, mean weight there "
              f"{a['mean_weight_on_later_positions']:.3f}, score gap p50/p99/max {a['score_gap_p50']:.1f}/"
              f"{a['score_gap_p99']:.1f}/{a['score_gap_max']:.1f}), leak-free {b['auc']:.4f}; {row['seconds']:.0f} s",
              flush=True)
        if row[train_mode]["auc"] > best:
            best, best_state, since = row[train_mode]["auc"], copy.deepcopy(model.state_dict()), 0
        else:
            since += 1
        if args.checkpoint:
            tmp = args.checkpoint.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
                        "history": history, "best": best, "best_state": best_state, "since": since}, tmp)
            tmp.replace(args.checkpoint)
    assert best_state is not None
    model.load_state_dict(best_state)
    best_epoch = max(history, key=lambda h: h[train_mode]["auc"])["epoch"]
    result = {"train_mode": train_mode, "best_epoch": best_epoch, "args": {k: str(v) for k, v in vars(args).items()},
              "test": {mode: score(model, test, args.k, mode, args.micro, device)
                       for mode in ("as published", "leak-free")},
              "history": history}
    for mode, s in result["test"].items():
        print(f"test ({mode}, epoch {best_epoch}): AUC {s['auc']:.4f} over {s['n']} predictions; rows reading later "
              f"positions {s['rows_reading_later_positions']:.3f}, mean weight there "
              f"{s['mean_weight_on_later_positions']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
