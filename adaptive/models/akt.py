"""An attention model of the AKT family (Ghosh et al. 2020): Rasch item embeddings + monotonic attention.

- **Rasch embeddings.** A question is ``q = mean(skill embeddings) + mu[item] * mean(skill variation vectors)``, one
  scalar difficulty ``mu`` per item (an unknown item has ``mu = 0``: an average item of its skills). An interaction
  adds the answer: ``qa = q + mean(E[skill, answer]) + mu[item] * g[answer]``.
- **Knowledge encoder.** Causal self-attention over the interactions (each sees itself and the past): ``y_t``.
- **Question encoder** (``question_layers``, AKT's; 0 by default): causal self-attention over the questions, without
  feed-forward; the retriever's queries and keys are then the encoded questions ``x_t`` instead of ``q_t``.
  ``kq_same`` (AKT's, off by default): keys and queries share one projection.
- **Knowledge retriever.** The target question ``q_t`` attends to the *earlier* questions ``q_tau`` (keys) and reads
  their encoded interactions ``y_tau`` (values), ``tau < t``, plus a learned "nothing yet" slot so the first answer
  has something to attend to.
- **Monotonic attention.** Every head subtracts ``theta_h * (t - tau)`` from its scores (AKT's exponential decay of
  attention with distance, without the context-aware part), ``theta_h = softplus(.)`` learned per head.
- **Sparse retrieval** (``topk``, sparseKT's top-k; 0, off, by default): each head of the retriever attends only to
  the ``topk`` earlier events (the "nothing yet" slot included) with the highest scores, the others masked before
  the softmax (on the scores, so a masked or future event can never be kept).
- **Output.** ``MLP([retrieved, q_t])`` -> logit.

Serving caches, per student, each encoder (and question encoder) layer's keys/values and the retriever's
keys/values of the last ``window`` events (``State.cache``); an update adds one event (one query over the cache per
layer), scoring N candidates is one attention of N queries over at most ``window`` cached events (two with the
question encoder), computed by :func:`_serve_attention` (two matrix products and one base-2 exponential, exact up to
rounding; see there). The serialisable state is the raw recent history (ids and answers), so it survives
retraining; the cache is rebuilt from it when missing. It keeps ``window + L * (window - 1)`` events, ``L`` the
deeper of the two encoders, what rebuilding needs to give the same cache as the updates did (the last ``window``
events' encoder outputs each looked ``window`` events back, per layer).
"""

from __future__ import annotations

import dataclasses
import math
import threading
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
    kq_same: bool = False  # keys and queries share one projection (AKT's kq_same; similarity of questions)
    question_layers: int = 0  # AKT's question encoder: self-attention over the questions before the retriever
    topk: int = 0  # the retriever attends to each question's topk best-scoring earlier events only (0: to all)

    def __post_init__(self) -> None:
        if self.d_model % self.heads:
            raise ValueError("d_model must be a multiple of heads")
        if self.topk < 0:
            raise ValueError("topk must be 0 (off) or a positive number of events")


class DecayAttention(nn.Module):
    """Multi-head attention with a learned per-head linear distance penalty (monotonic attention)."""

    def __init__(self, d: int, heads: int, kq_same: bool = False) -> None:
        super().__init__()
        self.h, self.dk = heads, d // heads
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(d, d) for _ in range(4))
        if kq_same:  # one module under both names (saved twice, loaded into the same weights)
            self.wk = self.wq
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
               q_proj: torch.Tensor | None = None, *, topk: int = 0) -> torch.Tensor:
        """q_in [B, T, d] (or [T, d]); k, v [B, S, H, dk] (or [S, H, dk]); bias [H, T, S] or [H, 1, S];
        ``q_proj``: ``wq(q_in)`` when already known; ``topk``: each query keeps only its ``topk`` best scores."""
        q_proj = self.wq(q_in) if q_proj is None else q_proj
        q = q_proj.unflatten(-1, (self.h, self.dk)).transpose(-3, -2)  # [B, H, T, dk]
        kk, vv = k.transpose(-3, -2), v.transpose(-3, -2)  # [B, H, S, dk]
        if q.dim() == 3:  # serving: [H, C, dk] against one student's cache, fused bias add
            scores = torch.baddbmm(bias.expand(*q.shape[:-1], kk.shape[-2]), q, kk.transpose(-1, -2),
                                   alpha=self.dk**-0.5)
        else:
            scores = (q @ kk.transpose(-1, -2)) * self.dk**-0.5 + bias
        scores = keep_topk(scores, topk, -1)
        out = torch.softmax(scores, -1) @ vv
        return self.wo(out.transpose(-3, -2).flatten(-2))


def keep_topk(scores: torch.Tensor, k: int, dim: int, *, inplace: bool = False) -> torch.Tensor:
    """``scores`` with everything under each row's ``k``-th largest (along ``dim``) set to ``-inf``; as is when ``k``
    is 0 or not under the row length. Ties with the ``k``-th are kept. Masked (``-inf``) scores stay masked: when a
    row has fewer than ``k`` finite scores its ``k``-th largest is ``-inf`` and nothing else is dropped.
    ``inplace``: write into ``scores`` (the serving kernel's buffer)."""
    if k <= 0 or k >= scores.shape[dim]:
        return scores
    drop = scores < scores.topk(k, dim).values.narrow(dim, k - 1, 1)
    return scores.masked_fill_(drop, float("-inf")) if inplace else scores.masked_fill(drop, float("-inf"))


class Block(nn.Module):
    """Attention + feed-forward (or attention only, AKT's question encoder), post-norm residuals."""

    def __init__(self, cfg: AKTConfig, feed_forward: bool = True) -> None:
        super().__init__()
        d = cfg.d_model
        self.att = DecayAttention(d, cfg.heads, cfg.kq_same)
        self.ln1 = nn.LayerNorm(d)
        self.ln2: nn.Module | None = None
        self.ff: nn.Module | None = None
        if feed_forward:
            self.ln2 = nn.LayerNorm(d)
            self.ff = nn.Sequential(nn.Linear(d, cfg.d_ff), nn.ReLU(), nn.Dropout(cfg.dropout),
                                    nn.Linear(cfg.d_ff, d))
        self.drop = nn.Dropout(cfg.dropout)

    def finish(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        x = self.ln1(x + self.drop(attended))
        if self.ff is None or self.ln2 is None:
            return x
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
        if cfg.question_layers:  # created last: a model without them draws the same initial weights as before
            self.questions = nn.ModuleList(Block(cfg, feed_forward=False) for _ in range(cfg.question_layers))

    def encoder_blocks(self) -> list[Block]:
        return cast(list[Block], list(self.encoder))

    def question_blocks(self) -> list[Block]:
        return cast(list[Block], list(self.questions)) if self.cfg.question_layers else []

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
        x = q  # question encoder (when configured): each question attends to itself and the earlier ones
        for blk in self.question_blocks():
            k, v = blk.att.kv(x, x)
            x = blk.finish(x, blk.att.attend(x, k, v, blk.att.bias(dist.clamp(min=0), causal)))
        # retriever: keys are [null, x_0 .. x_{T-1}], values [null, y_0 .. y_{T-1}], visible when tau < t
        keys = torch.cat([self.null_k.expand(b, 1, -1), x], 1)
        vals = torch.cat([self.null_v.expand(b, 1, -1), y], 1)
        dist_r = torch.cat([torch.zeros(t, 1, device=items.device), dist.clamp(min=0)], 1)
        mask_r = torch.cat([torch.ones(t, 1, dtype=torch.bool, device=items.device), dist > 0], 1)
        h = x
        for blk in self.retriever_blocks():
            k, v = blk.att.kv(keys, vals)
            h = blk.finish(h, blk.att.attend(h, k, v, blk.att.bias(dist_r, mask_r), topk=self.cfg.topk))
        return self.output(h, q)

    def regularization(self) -> torch.Tensor:
        return self.cfg.l2_item * (self.item_mu.weight**2).sum()


@dataclasses.dataclass
class _Cache:
    """Per-student serving cache: absolute positions [S] and, per layer, keys/values [H, S, dk] (heads first, the
    layout of the fused attention kernel; the retriever's slot 0 is the "nothing yet" slot)."""

    pos: torch.Tensor
    enc: list[tuple[torch.Tensor, torch.Tensor]]
    ret: list[tuple[torch.Tensor, torch.Tensor]]
    qst: list[tuple[torch.Tensor, torch.Tensor]]  # question encoder layers (values with a ones column)


class _Workspace(threading.local):
    """A per-thread scratch buffer for the [H, C, S] attention weights of one scoring call (6 MB for 2,000
    candidates), reused across calls: allocating it afresh each time costs as much as the exponentials."""

    def __init__(self) -> None:
        self.buf = torch.empty(0)

    def take(self, shape: tuple[int, ...]) -> torch.Tensor:
        n = math.prod(shape)
        if self.buf.numel() < n:
            with torch.inference_mode():
                self.buf = torch.empty(n)
        return self.buf[:n].view(shape)


_WORKSPACE = _Workspace()
_MIN_DENOMINATOR = 1e-10
_LOG2_E = 1 / math.log(2)  # e^x = 2^(x log2 e): torch's exp2 is four times faster than its exp, as exact


def _query_block(q: torch.Tensor, h: int) -> torch.Tensor:
    """Queries [C, h * dk] -> [h, dk + 2, C]: rows ``q / sqrt(dk)``, ``1``, ``-|q| / sqrt(dk)`` per head, the right
    factor of :func:`_serve_attention`'s single score product (what a candidate bank memoises for the first layer)."""
    c, dk = q.shape[0], q.shape[1] // h
    heads = q.view(c, h, dk)
    block = torch.empty(h, dk + 2, c)
    torch.mul(heads.permute(1, 2, 0), dk**-0.5, out=block[:, :dk])
    block[:, dk] = 1.0
    torch.mul(heads.norm(dim=-1).t(), -(dk**-0.5), out=block[:, dk + 1])  # the norm along contiguous memory
    return block


def _serve_attention(q_block: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
                     own: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None, *, topk: int = 0
                     ) -> torch.Tensor:
    """``softmax(q k^T / sqrt(dk) + bias) v`` for one student's cache, as [C, H * dk]: q_block [H, dk + 2, C] from
    :func:`_query_block`, k [H, S, dk], v [H, S, dk + 1] (values with a column of ones), bias [H, S] (<= 0, the same
    for every query). ``own``: each query also attends to a key and value of its own at distance 0 (the question
    encoder: a candidate sees itself), given as (score [H, C] = q.k_own / sqrt(dk), value [H, dk, C], max_c |k_own|
    [H]).

    Two matrix products and one exponential, no max pass: one product gives every ``q.k / sqrt(dk) + bias - m``
    where ``m = |q| max_s |k_s| / sqrt(dk)`` is an upper bound of the row's largest score (Cauchy-Schwarz; the
    bias is never positive), so no exponential overflows; the second gives numerators and, from the ones column,
    the softmax denominators. Softmax is invariant to the shift, so this is the plain formula up to rounding as long
    as the bound is not loose: a denominator under ``_MIN_DENOMINATOR`` (the row's largest term under ~e^-28; never
    met with trained weights, where the gap is a few units) sends the whole call to :func:`_plain_attention`. The
    bias is floored at -60 so that distant events give e^-60-sized terms rather than denormals (which slow the
    exponential and the product tenfold); that moves a row's result by under 201 e^-60 / 1e-10 ~ 2e-14, relative.
    The weights are laid out [H, S, C] (candidates last): the products are a third faster that way round; the result
    is returned as a transposed view of [H * dk, C].

    ``topk`` (not with ``own``): each query keeps only its ``topk`` largest exponents, the others set to ``-inf``
    before the exponential. The shift ``m`` is the same for a query's whole row, so it does not change which are
    kept; the floored bias can only reorder events whose weight is under e^-60 of the "nothing yet" slot's.
    """
    h, dk2, c = q_block.shape
    dk = dk2 - 2
    s = k.shape[1]
    kmax = k.norm(dim=-1).amax(-1) if s else torch.zeros(h)  # [H]
    if own is not None:
        kmax = torch.maximum(kmax, own[2])
    k_block = torch.cat([k, bias.clamp(min=-60.0).unsqueeze(-1), kmax.view(h, 1, 1).expand(h, s, 1)], -1)
    weights = _WORKSPACE.take((h, s, c))
    torch.bmm(k_block.mul_(_LOG2_E), q_block, out=weights)  # the exponents in base 2
    keep_topk(weights, topk, 1, inplace=True)
    weights.exp2_()
    acc = torch.bmm(v.transpose(1, 2), weights)  # [H, dk + 1, C]
    num, den = acc[:, :dk], acc[:, dk]
    if own is not None:
        e_own = torch.exp(own[0] + q_block[:, dk + 1] * kmax.view(h, 1))  # exp(score - m), [H, C]
        num = torch.addcmul(num, e_own.unsqueeze(1), own[1])
        den = den + e_own
    if not bool(den.min() >= _MIN_DENOMINATOR):  # also catches NaN
        return _plain_attention(q_block, k, v, bias, own, topk=topk)
    return (num / den.unsqueeze(1)).view(h * dk, c).t()  # a transposed view: the next product reads it as is


def _plain_attention(q_block: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
                     own: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None, *, topk: int = 0
                     ) -> torch.Tensor:
    """What :func:`_serve_attention` computes, by the book (scores, softmax with its max, weighted sum): the
    fallback for badly scaled weights."""
    h, dk2, c = q_block.shape
    dk = dk2 - 2
    s = k.shape[1]
    scores = keep_topk(torch.bmm(k, q_block[:, :dk]) + bias.unsqueeze(-1), topk, 1)  # [H, S, C]
    if own is not None:
        scores = torch.cat([scores, own[0].unsqueeze(1)], 1)
    weights = torch.softmax(scores, 1)
    out = torch.bmm(v[..., :dk].transpose(1, 2), weights[:, :s])  # [H, dk, C]
    if own is not None:
        out = out + weights[:, s:] * own[1]
    return out.reshape(h * dk, c).t()


def _own_terms(att: DecayAttention, x: torch.Tensor, q_block: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A question-encoder query's own key and value (it attends to itself): score [H, C], value [H, dk, C],
    max |key| [H]."""
    c, h, dk = x.shape[0], att.h, att.dk
    k_own = att.wk(x).view(c, h, dk).permute(1, 2, 0)  # [H, dk, C]
    v_own = att.wv(x).view(c, h, dk).permute(1, 2, 0)
    score = (k_own * q_block[:, :dk]).sum(1)  # q / sqrt(dk) . k_own
    return score, v_own, k_own.norm(dim=1).amax(-1)


class AKTModel(KTModel):
    """Attention model with Rasch embeddings and monotonic attention (see the module docstring).

    Serving (``update`` / ``predict_proba``) does not call ``AKTNet.forward``: it computes the same function one
    event at a time from the cache, with a fast attention kernel (``tests/adaptive/test_akt_serving.py`` holds
    it to the batch ``forward`` and to the plain formula within 1e-5)."""

    name = "akt"
    Config = AKTConfig

    @property
    def eval_window(self) -> int:  # type: ignore[override]
        return int(self.config.window)

    def build_net(self) -> nn.Module:
        return AKTNet(self.vocab.n_items, self.vocab.n_skills, self.config)

    def _state_data(self) -> dict[str, Any]:
        return {"history": []}  # [[item_id, [skill ids], answer], ...], the last `_kept` events

    @property
    def _kept(self) -> int:
        """Events the serialised state keeps: enough to rebuild the serving cache exactly (see the module doc)."""
        w = int(self.config.window)
        return w + max(int(self.config.encoder_layers), int(self.config.question_layers)) * (w - 1)

    def _empty_cache(self) -> _Cache:
        net: AKTNet = self.net  # type: ignore[assignment]
        h, dk = self.config.heads, self.config.d_model // self.config.heads
        empty, empty1 = torch.zeros(h, 0, dk), torch.zeros(h, 0, dk + 1)
        ret = []
        for blk in net.retriever_blocks():  # the null slot, always first, at distance 0; values get a ones column
            k, v = blk.att.kv(net.null_k.view(1, -1), net.null_v.view(1, -1))
            ret.append((k.transpose(0, 1).contiguous(), F.pad(v.transpose(0, 1), (0, 1), value=1.0)))
        return _Cache(torch.zeros(0), [(empty, empty) for _ in net.encoder_blocks()], ret,
                      [(empty, empty1) for _ in net.question_blocks()])

    def _cache(self, state: State) -> _Cache:
        if isinstance(state.cache, _Cache):
            return state.cache
        with torch.inference_mode():
            cache = self._empty_cache()
            for i, (item_id, skills, answer) in enumerate(state.data.get("history", [])):
                item = self.vocab.items.get(item_id, 0)
                sk = torch.tensor(self._skill_ids(skills or self.skills_of(item_id)))
                cache = self._push(cache, item, sk, int(answer), state.n - len(state.data["history"]) + i)
        state.cache = cache
        return cache

    @staticmethod
    def _self_attend(blk: Block, x: torch.Tensor, k_old: torch.Tensor, v_old: torch.Tensor, bias: torch.Tensor, *,
                     w: int, ones: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One new event through a self-attention block over its cached last events: (output [1, d], keys, values
        of the last ``w`` events with it). ``ones``: the cached values carry a column of ones."""
        att = blk.att
        h = att.h
        k_new, v_new = att.wk(x).view(h, 1, -1), att.wv(x).view(h, 1, -1)
        if ones:
            v_new = F.pad(v_new, (0, 1), value=1.0)
        k = torch.cat([k_old, k_new], 1)[:, -w:]
        v = torch.cat([v_old, v_new], 1)[:, -w:]
        # one query: plain kernels beat the fused one at this size
        scores = torch.baddbmm(bias.unsqueeze(1), att.wq(x).view(h, 1, -1), k.transpose(1, 2), alpha=att.dk**-0.5)
        out = (torch.softmax(scores, -1) @ v[..., : att.dk]).view(1, -1)
        return blk.finish(x, att.wo(out)), k, v

    def _push(self, cache: _Cache, item: int, skills: torch.Tensor, answer: int, position: int) -> _Cache:
        """A new cache with one more event (the old one is left untouched: states never share mutation)."""
        net: AKTNet = self.net  # type: ignore[assignment]
        w = self.config.window
        h = self.config.heads
        q, qa = net.embed(torch.tensor([item]), skills.view(1, -1), torch.tensor([float(answer)]))
        assert qa is not None
        pos = torch.cat([cache.pos, torch.tensor([float(position)])])[-w:]
        dist = float(position) - pos
        x = qa  # [1, d]
        enc = []
        for blk, (k_old, v_old) in zip(net.encoder_blocks(), cache.enc, strict=True):
            x, k, v = self._self_attend(blk, x, k_old, v_old, blk.att.bias(dist, None), w=w, ones=False)
            enc.append((k, v))
        xq = q
        qst = []
        for blk, (k_old, v_old) in zip(net.question_blocks(), cache.qst, strict=True):
            xq, k, v = self._self_attend(blk, xq, k_old, v_old, blk.att.bias(dist, None), w=w, ones=True)
            qst.append((k, v))
        ret = []
        for blk, (k_old, v_old) in zip(net.retriever_blocks(), cache.ret, strict=True):
            att = blk.att
            # keep the null slot (index 0) and the last `window` events
            k_new, v_new = att.wk(xq).view(h, 1, -1), F.pad(att.wv(x).view(h, 1, -1), (0, 1), value=1.0)
            k = torch.cat([k_old[:, :1], torch.cat([k_old[:, 1:], k_new], 1)[:, -w:]], 1)
            v = torch.cat([v_old[:, :1], torch.cat([v_old[:, 1:], v_new], 1)[:, -w:]], 1)
            ret.append((k, v))
        return _Cache(pos, enc, ret, qst)

    def _advance(self, state: State, item: int, skills: torch.Tensor, correct: int, response: Response) -> None:
        cache = self._cache(state)
        with torch.inference_mode():
            state.cache = self._push(cache, item, skills, correct, state.n)
        raw = list((response.skill_ids or self.skills_of(response.item_id))[:MAX_SKILLS])
        hist = state.data.get("history", [])
        state.data = {"history": [*hist, [response.item_id, raw, int(correct)]][-self._kept :]}

    def _score(self, state: State, cands: Candidates) -> torch.Tensor:
        net: AKTNet = self.net  # type: ignore[assignment]
        cache = self._cache(state)
        h_ = self.config.heads
        w = self.config.window
        questions = net.question_blocks()
        with torch.inference_mode():
            d = self.config.d_model
            first = net.out_hidden
            key = f"akt:{self.fingerprint}:{id(net)}"
            memo = cands.memo.get(key)
            if memo is None:  # what depends on the candidates only: embedding, first queries, output half
                q, _ = net.embed(cands.items, cands.skills)  # [C, d]
                first_att = (questions or net.retriever_blocks())[0].att
                q_block = _query_block(first_att.wq(q), h_)
                own = _own_terms(first_att, q, q_block) if questions else None
                memo = (q, q_block, own, torch.addmm(first.bias, q, first.weight[:, d:].T),
                        first.weight[:, :d].T.contiguous())
                cands.memo[key] = memo
            q, q_block, own, out_q, w_h = memo
            x = q
            if questions:  # the candidate attends to itself and the last window - 1 events (as an update would)
                past = cache.pos[-(w - 1):] if w > 1 else cache.pos[:0]
                dist_q = float(state.n) - past
                for i, (blk, (k_all, v_all)) in enumerate(zip(questions, cache.qst, strict=True)):
                    att = blk.att
                    if i:
                        q_block = _query_block(att.wq(x), h_)
                        own = _own_terms(att, x, q_block)
                    k, v = k_all[:, k_all.shape[1] - len(past):], v_all[:, v_all.shape[1] - len(past):]
                    x = blk.finish(x, att.wo(_serve_attention(q_block, k, v, att.bias(dist_q, None), own)))
            dist = torch.cat([torch.zeros(1), float(state.n) - cache.pos])  # null slot first
            for i, (blk, (k, v)) in enumerate(zip(net.retriever_blocks(), cache.ret, strict=True)):
                att = blk.att
                qb = q_block if i == 0 and not questions else _query_block(att.wq(x), h_)
                x = blk.finish(x, att.wo(_serve_attention(qb, k, v, att.bias(dist, None), topk=self.config.topk)))
            z = torch.relu(torch.addmm(out_q, x, w_h))
            return net.out_final(z).squeeze(-1)
