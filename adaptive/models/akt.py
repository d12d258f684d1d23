"""An attention model of the AKT family (Ghosh et al. 2020): Rasch item embeddings + monotonic attention.

- **Rasch embeddings.** A question is ``q = mean(skill embeddings) + mu[item] * mean(skill variation vectors)``, one
  scalar difficulty ``mu`` per item (an unknown item has ``mu = 0``: an average item of its skills). An interaction
  adds the answer: ``qa = q + mean(E[skill, answer]) + mu[item] * g[answer]``.
- **Knowledge encoder.** Causal self-attention over the interactions (each sees itself and the past): ``y_t``.
- **Knowledge retriever.** The target question ``q_t`` attends to the *earlier* questions ``q_tau`` (keys) and reads
  their encoded interactions ``y_tau`` (values), ``tau < t``, plus a learned "nothing yet" slot so the first answer
  has something to attend to.
- **Monotonic attention.** Every head subtracts ``theta_h * (t - tau)`` from its scores (AKT's exponential decay of
  attention with distance, without the context-aware part), ``theta_h = softplus(.)`` learned per head.
- **Output.** ``MLP([retrieved, q_t])`` -> logit.

Serving caches, per student, each encoder layer's keys/values and the retriever's keys/values of the last
``window`` events (``State.cache``); an update adds one event (one query over the cache per encoder layer), scoring
N candidates is one attention of N queries over at most ``window`` cached events. The serialisable state is the raw
recent history (ids and answers), so it survives retraining; the cache is rebuilt from it when missing.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from adaptive.data import Response
from adaptive.models.base import MAX_SKILLS, Candidates, KTModel
from adaptive.state import State


@dataclasses.dataclass
class AKTConfig:
    d_model: int = 64
    heads: int = 4
    d_ff: int = 128
    encoder_layers: int = 1
    retriever_layers: int = 1
    dropout: float = 0.2
    window: int = 200  # events attended to (training windows, evaluation windows, serving cache)
    l2_item: float = 1e-5  # penalty on the Rasch item difficulties (as in AKT)

    def __post_init__(self) -> None:
        if self.d_model % self.heads:
            raise ValueError("d_model must be a multiple of heads")


class DecayAttention(nn.Module):
    """Multi-head attention with a learned per-head linear distance penalty (monotonic attention)."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.h, self.dk = heads, d // heads
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(d, d) for _ in range(4))
        # decay rates from ~0.5 to ~0.004 per step across heads (softplus^-1 of ALiBi-like slopes)
        slopes = torch.tensor([2.0 ** (-1 - 7 * i / max(heads - 1, 1)) for i in range(heads)])
        self.theta = nn.Parameter(torch.log(torch.expm1(slopes)))

    def kv(self, k_in: torch.Tensor, v_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values [..., S, H, dk] of the given inputs (what the serving cache stores)."""
        return (self.wk(k_in).unflatten(-1, (self.h, self.dk)), self.wv(v_in).unflatten(-1, (self.h, self.dk)))

    def bias(self, dist: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Additive score bias [H, T, S] (or [H, S]): ``-theta_h * distance``, ``-inf`` where not visible."""
        b = -F.softplus(self.theta).view(-1, *([1] * dist.dim())) * dist
        return b if mask is None else b.masked_fill(~mask, float("-inf"))

    def attend(self, q_in: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
               q_proj: torch.Tensor | None = None) -> torch.Tensor:
        """q_in [B, T, d] (or [T, d]); k, v [B, S, H, dk] (or [S, H, dk]); bias [H, T, S] or [H, 1, S];
        ``q_proj``: ``wq(q_in)`` when already known."""
        q_proj = self.wq(q_in) if q_proj is None else q_proj
        q = q_proj.unflatten(-1, (self.h, self.dk)).transpose(-3, -2)  # [B, H, T, dk]
        kk, vv = k.transpose(-3, -2), v.transpose(-3, -2)  # [B, H, S, dk]
        if q.dim() == 3:  # serving: [H, C, dk] against one student's cache, fused bias add
            scores = torch.baddbmm(bias.expand(*q.shape[:-1], kk.shape[-2]), q, kk.transpose(-1, -2),
                                   alpha=self.dk**-0.5)
        else:
            scores = (q @ kk.transpose(-1, -2)) * self.dk**-0.5 + bias
        out = torch.softmax(scores, -1) @ vv
        return self.wo(out.transpose(-3, -2).flatten(-2))


class Block(nn.Module):
    """Attention + feed-forward, post-norm residuals."""

    def __init__(self, cfg: AKTConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.att = DecayAttention(d, cfg.heads)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, cfg.d_ff), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.d_ff, d))
        self.drop = nn.Dropout(cfg.dropout)

    def finish(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        x = self.ln1(x + self.drop(attended))
        return self.ln2(x + self.drop(self.ff(x)))


class AKTNet(nn.Module):
    def __init__(self, n_items: int, n_skills: int, cfg: AKTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.skill_emb = nn.Embedding(n_skills, d, padding_idx=0)
        self.skill_var = nn.Embedding(n_skills, d, padding_idx=0)
        self.item_mu = nn.Embedding(n_items, 1, padding_idx=0)
        nn.init.zeros_(self.item_mu.weight)
        self.inter_emb = nn.Embedding(2 * n_skills, d)  # (skill, answer) pairs: 2 * skill + answer
        self.answer_var = nn.Embedding(2, d)
        self.encoder = nn.ModuleList(Block(cfg) for _ in range(cfg.encoder_layers))
        self.retriever = nn.ModuleList(Block(cfg) for _ in range(cfg.retriever_layers))
        self.null_k = nn.Parameter(torch.randn(d) * 0.02)
        self.null_v = nn.Parameter(torch.randn(d) * 0.02)
        self.out_hidden = nn.Linear(2 * d, cfg.d_ff)  # on [retrieved, question]
        self.out_drop = nn.Dropout(cfg.dropout)
        self.out_final = nn.Linear(cfg.d_ff, 1)

    def encoder_blocks(self) -> list[Block]:
        return cast(list[Block], list(self.encoder))

    def retriever_blocks(self) -> list[Block]:
        return cast(list[Block], list(self.retriever))

    def output(self, h: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return self.out_final(self.out_drop(torch.relu(self.out_hidden(torch.cat([h, q], -1))))).squeeze(-1)

    # embeddings -------------------------------------------------------------------------------------------------
    def embed(self, items: torch.Tensor, skills: torch.Tensor,
              correct: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        present = (skills > 0).float().unsqueeze(-1)
        denom = present.sum(-2).clamp(min=1.0)
        mu = self.item_mu(items)
        q = (self.skill_emb(skills) * present).sum(-2) / denom + mu * (self.skill_var(skills) * present).sum(-2) / denom
        if correct is None:
            return q, None
        c = correct.long()
        pairs = self.inter_emb(2 * skills + c.unsqueeze(-1))
        qa = q + (pairs * present).sum(-2) / denom + mu * self.answer_var(c)
        return q, qa

    # training / batch scoring -----------------------------------------------------------------------------------
    def forward(self, items: torch.Tensor, skills: torch.Tensor, correct: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        b, t = items.shape
        q, qa = self.embed(items, skills, correct)
        assert qa is not None
        pos = torch.arange(t, device=items.device)
        dist = (pos.view(-1, 1) - pos.view(1, -1)).float()  # t - tau
        causal = dist >= 0
        y = qa
        for blk in self.encoder_blocks():
            k, v = blk.att.kv(y, y)
            y = blk.finish(y, blk.att.attend(y, k, v, blk.att.bias(dist.clamp(min=0), causal)))
        # retriever: keys are [null, q_0 .. q_{T-1}], values [null, y_0 .. y_{T-1}], visible when tau < t
        keys = torch.cat([self.null_k.expand(b, 1, -1), q], 1)
        vals = torch.cat([self.null_v.expand(b, 1, -1), y], 1)
        dist_r = torch.cat([torch.zeros(t, 1, device=items.device), dist.clamp(min=0)], 1)
        mask_r = torch.cat([torch.ones(t, 1, dtype=torch.bool, device=items.device), dist > 0], 1)
        h = q
        for blk in self.retriever_blocks():
            k, v = blk.att.kv(keys, vals)
            h = blk.finish(h, blk.att.attend(h, k, v, blk.att.bias(dist_r, mask_r)))
        return self.output(h, q)

    def regularization(self) -> torch.Tensor:
        return self.cfg.l2_item * (self.item_mu.weight**2).sum()


@dataclasses.dataclass
class _Cache:
    """Per-student serving cache: absolute positions [S] and, per layer, keys/values [S, H, dk]."""

    pos: torch.Tensor
    enc: list[tuple[torch.Tensor, torch.Tensor]]
    ret: list[tuple[torch.Tensor, torch.Tensor]]


class AKTModel(KTModel):
    """Attention model with Rasch embeddings and monotonic attention (see the module docstring)."""

    name = "akt"
    Config = AKTConfig

    @property
    def eval_window(self) -> int:  # type: ignore[override]
        return int(self.config.window)

    def build_net(self) -> nn.Module:
        return AKTNet(self.vocab.n_items, self.vocab.n_skills, self.config)

    def _state_data(self) -> dict[str, Any]:
        return {"history": []}  # [[item_id, [skill ids], answer], ...], the last `window` events

    def _empty_cache(self) -> _Cache:
        net: AKTNet = self.net  # type: ignore[assignment]
        h, dk = self.config.heads, self.config.d_model // self.config.heads
        empty = torch.zeros(0, h, dk)
        ret = []
        for blk in net.retriever_blocks():  # the null slot, always first, at distance 0
            k, v = blk.att.kv(net.null_k.view(1, -1), net.null_v.view(1, -1))
            ret.append((k, v))
        return _Cache(torch.zeros(0), [(empty, empty) for _ in net.encoder_blocks()], ret)

    def _cache(self, state: State) -> _Cache:
        if isinstance(state.cache, _Cache):
            return state.cache
        cache = self._empty_cache()
        for i, (item_id, skills, answer) in enumerate(state.data.get("history", [])):
            item = self.vocab.items.get(item_id, 0)
            sk = torch.tensor(self._skill_ids(skills or self.skills_of(item_id)))
            cache = self._push(cache, item, sk, int(answer), state.n - len(state.data["history"]) + i)
        state.cache = cache
        return cache

    def _push(self, cache: _Cache, item: int, skills: torch.Tensor, answer: int, position: int) -> _Cache:
        """A new cache with one more event (the old one is left untouched: states never share mutation)."""
        net: AKTNet = self.net  # type: ignore[assignment]
        w = self.config.window
        q, qa = net.embed(torch.tensor([item]), skills.view(1, -1), torch.tensor([float(answer)]))
        assert qa is not None
        pos = torch.cat([cache.pos, torch.tensor([float(position)])])[-w:]
        x = qa  # [1, d]
        enc = []
        for blk, (k_old, v_old) in zip(net.encoder_blocks(), cache.enc, strict=True):
            k_new, v_new = blk.att.kv(x, x)
            k, v = torch.cat([k_old, k_new])[-w:], torch.cat([v_old, v_new])[-w:]
            bias = blk.att.bias((float(position) - pos).view(1, -1), None)  # [H, 1, S]
            x = blk.finish(x, blk.att.attend(x, k, v, bias))
            enc.append((k, v))
        ret = []
        for blk, (k_old, v_old) in zip(net.retriever_blocks(), cache.ret, strict=True):
            k_new, v_new = blk.att.kv(q, x)
            # keep the null slot (row 0) and the last `window` events
            k = torch.cat([k_old[:1], torch.cat([k_old[1:], k_new])[-w:]])
            v = torch.cat([v_old[:1], torch.cat([v_old[1:], v_new])[-w:]])
            ret.append((k, v))
        return _Cache(pos, enc, ret)

    def _advance(self, state: State, item: int, skills: torch.Tensor, correct: int, response: Response) -> None:
        cache = self._cache(state)
        state.cache = self._push(cache, item, skills, correct, state.n)
        raw = list((response.skill_ids or self.skills_of(response.item_id))[:MAX_SKILLS])
        hist = state.data.get("history", [])
        state.data = {"history": [*hist, [response.item_id, raw, int(correct)]][-self.config.window :]}

    def _score(self, state: State, cands: Candidates) -> torch.Tensor:
        net: AKTNet = self.net  # type: ignore[assignment]
        cache = self._cache(state)
        d = self.config.d_model
        first = net.out_hidden
        key = f"akt:{self.fingerprint}:{id(net)}"
        memo = cands.memo.get(key)
        if memo is None:  # what depends on the candidates only: their embedding, first query, output half
            q, _ = net.embed(cands.items, cands.skills)  # [C, d]
            memo = (q, net.retriever_blocks()[0].att.wq(q), q @ first.weight[:, d:].T + first.bias)
            cands.memo[key] = memo
        q, q_proj, out_q = memo
        dist = torch.cat([torch.zeros(1), float(state.n) - cache.pos]).view(1, -1)  # null slot first
        h = q
        for i, (blk, (k, v)) in enumerate(zip(net.retriever_blocks(), cache.ret, strict=True)):
            h = blk.finish(h, blk.att.attend(h, k, v, blk.att.bias(dist, None), q_proj if i == 0 else None))
        z = torch.relu(out_q + h @ first.weight[:, :d].T)
        return net.out_final(z).squeeze(-1)
