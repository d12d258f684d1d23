"""DKT: an LSTM over the student's answers (Piech et al. 2015), with problem ids.

Each event is embedded as the mean of its skills' embeddings plus, when ``item_embeddings`` is on, a Rasch-style
item term ``mu[item] * mean(skill variation vectors)`` (one scalar difficulty per item, so rare items cost one
parameter). The LSTM reads ``[q * c, q * (1 - c)]`` (the classic (skill, answer) one-hot, generalised). The
probability of answering item ``t`` uses the hidden state after events ``< t`` and, with ``head="mlp"``, the
item's own embedding (so new items of known skills are scored sensibly). ``head="skill"`` with
``item_embeddings=False`` is plain DKT: one output per skill, the mean of the skills' probabilities for a multi-skill
item (the pyKT question-level late fusion), the baseline used by ``bench/kt_quality.py``.

Serving caches the LSTM state ``(h, c)`` per student: an update is one LSTM step (``torch.lstm_cell`` per layer),
scoring N candidates one matrix product.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import torch
from torch import nn

from adaptive.data import Response
from adaptive.models.base import Candidates, KTModel
from adaptive.state import State


@dataclasses.dataclass
class DKTConfig:
    d_model: int = 64  # embedding size
    hidden: int = 128  # LSTM size
    layers: int = 1
    dropout: float = 0.2
    item_embeddings: bool = True
    head: str = "mlp"  # "mlp" (hidden state + item embedding) or "skill" (classic per-skill output)
    l2_item: float = 1e-5  # penalty on the Rasch item difficulties

    def __post_init__(self) -> None:
        if self.head not in ("mlp", "skill"):
            raise ValueError(f"head must be 'mlp' or 'skill', not {self.head!r}")


def embed_question(skill_emb: nn.Embedding, skill_var: nn.Embedding | None, item_mu: nn.Embedding | None,
                   items: torch.Tensor, skills: torch.Tensor) -> torch.Tensor:
    """Mean of the skills' embeddings (+ item difficulty * mean skill variation): [..., K] -> [..., d]."""
    present = (skills > 0).float().unsqueeze(-1)
    denom = present.sum(-2).clamp(min=1.0)
    q = (skill_emb(skills) * present).sum(-2) / denom
    if item_mu is not None and skill_var is not None:
        q = q + item_mu(items) * (skill_var(skills) * present).sum(-2) / denom
    return q


class DKTNet(nn.Module):
    def __init__(self, n_items: int, n_skills: int, cfg: DKTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.skill_emb = nn.Embedding(n_skills, d, padding_idx=0)
        self.skill_var = nn.Embedding(n_skills, d, padding_idx=0) if cfg.item_embeddings else None
        self.item_mu = nn.Embedding(n_items, 1, padding_idx=0) if cfg.item_embeddings else None
        if self.item_mu is not None:
            nn.init.zeros_(self.item_mu.weight)
        self.lstm = nn.LSTM(2 * d, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.h0 = nn.Parameter(torch.zeros(cfg.layers, 1, cfg.hidden))
        self.c0 = nn.Parameter(torch.zeros(cfg.layers, 1, cfg.hidden))
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.head == "mlp":  # on [hidden state, question]
            self.out_hidden = nn.Linear(cfg.hidden + d, cfg.hidden)
            self.out_final = nn.Linear(cfg.hidden, 1)
        else:  # one logit per skill
            self.out_final = nn.Linear(cfg.hidden, n_skills)

    def question(self, items: torch.Tensor, skills: torch.Tensor) -> torch.Tensor:
        return embed_question(self.skill_emb, self.skill_var, self.item_mu, items, skills)

    def lstm_input(self, q: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
        c = correct.unsqueeze(-1)
        return torch.cat([q * c, q * (1 - c)], -1)

    def head(self, h: torch.Tensor, q: torch.Tensor, skills: torch.Tensor) -> torch.Tensor:
        """Logits from hidden states [..., H] and candidate embeddings [..., d] / skills [..., K]."""
        if self.cfg.head == "mlp":
            z = self.drop(torch.relu(self.out_hidden(torch.cat([h, q], -1))))
            return self.out_final(z).squeeze(-1)
        logits = self.out_final(h)  # [..., n_skills]
        present = skills > 0
        p = torch.sigmoid(torch.gather(logits, -1, skills)) * present
        p = p.sum(-1) / present.sum(-1).clamp(min=1)
        p = torch.where(present.any(-1), p, torch.sigmoid(logits).mean(-1))
        return torch.logit(p.clamp(1e-6, 1 - 1e-6))

    def forward(self, items: torch.Tensor, skills: torch.Tensor, correct: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        b = items.shape[0]
        q = self.question(items, skills)
        x = self.drop(self.lstm_input(q, correct))
        h0 = (self.h0.expand(-1, b, -1).contiguous(), self.c0.expand(-1, b, -1).contiguous())
        out, _ = self.lstm(x, h0)
        # hidden state before event t: h0 for t = 0, else the output after t - 1
        prev = torch.cat([self.h0[-1].expand(b, 1, -1), out[:, :-1]], 1)
        return self.head(self.drop(prev), q, skills)

    def regularization(self) -> torch.Tensor:
        if self.item_mu is None:
            return torch.zeros((), device=self.skill_emb.weight.device)
        return self.cfg.l2_item * (self.item_mu.weight**2).sum()


class DKTModel(KTModel):
    """DKT with problem ids (see the module docstring)."""

    name = "dkt"
    Config = DKTConfig

    def build_net(self) -> nn.Module:
        return DKTNet(self.vocab.n_items, self.vocab.n_skills, self.config)

    def _hc(self, state: State) -> tuple[torch.Tensor, torch.Tensor]:
        if "h" not in state.data:
            net = cast(DKTNet, self.net)
            return net.h0.detach(), net.c0.detach()
        h, c = state.data["h"], state.data["c"]
        if not isinstance(h, torch.Tensor):  # came back from JSON
            h, c = torch.tensor(h, dtype=torch.float32), torch.tensor(c, dtype=torch.float32)
            state.data["h"], state.data["c"] = h, c
        return h, c

    def _state_data(self) -> dict[str, Any]:
        return {}

    def _advance(self, state: State, item: int, skills: torch.Tensor, correct: int, response: Response) -> None:
        net: DKTNet = self.net  # type: ignore[assignment]
        q = net.question(torch.tensor([item]), skills.unsqueeze(0))
        x = net.lstm_input(q, torch.tensor([float(correct)]))  # [1, 2d]
        h_old, c_old = self._hc(state)  # [layers, 1, H]
        hs, cs = [], []
        lstm = net.lstm
        for k in range(lstm.num_layers):  # one step per layer with lstm_cell: a fifth of nn.LSTM's call overhead
            h_k, c_k = torch.lstm_cell(x, (h_old[k], c_old[k]), getattr(lstm, f"weight_ih_l{k}"),
                                       getattr(lstm, f"weight_hh_l{k}"), getattr(lstm, f"bias_ih_l{k}"),
                                       getattr(lstm, f"bias_hh_l{k}"))
            hs.append(h_k)
            cs.append(c_k)
            x = h_k  # no dropout between layers when serving
        state.data = {"h": torch.stack(hs), "c": torch.stack(cs)}

    def _score(self, state: State, cands: Candidates) -> torch.Tensor:
        net: DKTNet = self.net  # type: ignore[assignment]
        h = self._hc(state)[0][-1, 0]  # last layer, [H]
        if net.cfg.head != "mlp":
            q = net.question(cands.items, cands.skills)
            return net.head(h.expand(len(cands), -1), q, cands.skills)
        # the MLP's first layer on [h, q] is W_h h + (W_q q + b): the candidates' part is computed once per bank
        first = net.out_hidden
        hid = self.config.hidden
        key = f"dkt:{self.fingerprint}:{id(net)}"
        q_part = cands.memo.get(key)
        if q_part is None:
            q_part = net.question(cands.items, cands.skills) @ first.weight[:, hid:].T + first.bias
            cands.memo[key] = q_part
        z = torch.relu(q_part + h @ first.weight[:, :hid].T)
        return net.out_final(z).squeeze(-1)
