"""The tie at zero in sparseKT's top-k step, on a toy input (the figure quoted in bench/README.md).

    .venv/bin/python bench/sparsekt_topk_tie.py

sparseKT's top-k attention (pyKT's ``pykt/models/sparsekt.py``, as read at 03fc382) softmaxes the masked scores,
keeps the probabilities at least as large as each row's k-th largest, and softmaxes those again. Future positions
have probability exactly 0 after the first softmax. This script runs that step (``topk_step`` of
``bench/sparsekt_leak.py``, our own code, not pyKT's) and measures the weight the second softmax gives to future
positions, for scores where the k-th largest visible probability underflows to 0 in float32, and for ordinary
scores. It shows that the mechanism exists; ``bench/sparsekt_leak.py`` measures how often a trained model reaches it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sparsekt_leak import NEG, topk_step  # the step itself, as the trained model uses it


def published_step(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The attention weights of rows k+1.. after the step: softmax, keep >= the k-th largest, softmax again."""
    t = scores.shape[-1]
    visible = torch.ones(t, t).tril(-1).bool()  # strictly earlier positions (the retriever's mask)
    return topk_step(F.softmax(scores.masked_fill(~visible, NEG), -1), visible, k)


def future_weight(weights: torch.Tensor, k: int) -> torch.Tensor:
    """Per row (row k+1+i), the weight on positions after it."""
    rows = torch.arange(k + 1, k + 1 + weights.shape[0]).view(-1, 1)
    return (weights * (torch.arange(weights.shape[1]).view(1, -1) >= rows)).sum(-1)


def main() -> None:
    t, k = 10, 5
    peaked = torch.full((t, t), -200.0)
    peaked[:, 0] = 0.0  # one dominant key; every other visible probability underflows to 0
    torch.manual_seed(0)
    ordinary = torch.randn(t, t)
    for name, scores in (("one dominant key (others 200 below)", peaked), ("ordinary random scores", ordinary)):
        w = future_weight(published_step(scores, k), k)
        print(f"{name}: weight on future positions, rows {k + 1}..{t - 1}: "
              + ", ".join(f"{x:.2f}" for x in w.tolist()))


if __name__ == "__main__":
    main()
