"""An ensemble: P(correct) is the sigmoid of a weighted sum of its member models' logits (stacking).

    model = get_model_class("ensemble")()          # members: pfa_recency, dkt, akt
    model = get_model_class("ensemble")(members=["pfa", ["dkt", {"hidden": 64}]], combine="mean")

``members`` lists model names or ``[name, {config overrides}]``; a repeated member (``dkt``, ``dkt``) is trained
with the next seed (``seed + 1`` for the second, and so on), so repeats differ. ``fit`` trains every member on the
same log (the baseline gets only the options it takes) and records each member's training summary and
``fit_seconds``.

How the members' logits ``z_k`` combine (``combine``):

- ``"stacked"`` (the default): ``logit = bias + sum_k w_k z_k``, a logistic regression fitted on the validation
  students' member predictions (MAP, Gaussian prior: each weight centred on 1/K with ``weight_sd``, the bias on 0
  with the same SD). The validation students are the ``valid`` log, else 10 % of the training students held out of
  every member's fit (the ones the sequence models hold out for early stopping anyway), so the weights are learned
  on students no member was fitted on. With fewer than ``min_stack_events`` validation events the weights stay at
  the mean.
- ``"mean"``: ``logit = mean_k z_k``.

The weights and bias are saved in ``model.json`` and recorded in ``metrics["combine"]``. The facade is the one of
every model: a member's state lives inside the ensemble's (``state.data["members"]``, what each member keeps in its
own state, JSON-able), its live form (tensors, the attention model's cache) in ``state.cache``; each member encodes
the candidates once and memoises its encoding on the ensemble's :class:`Candidates`. ``save`` writes ``model.json``
and each member in ``members/<label>/`` (its own ``model.pt``, loaded with ``weights_only=True``).

The default members, stacked: AUC 0.7882 ± 0.0044 on ASSIST2009 and 0.8334 ± 0.0058 on STATICS2011 over five
folds, 0.7316 ± 0.0005 on ASSIST2015 over three (bench/README.md); stacking adds
little AUC over the plain mean but lowers the calibration error.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from adaptive.data import Response, ResponseLog
from adaptive.models.base import Candidates, KTModel, Vocab
from adaptive.state import State

_EPS = 1e-7  # members' probabilities are clipped to [eps, 1 - eps] before predict_log takes their logits


def _default_members() -> list[Any]:
    # the attention model without AKT's question encoder: about level with it inside the stack (paired: ASSIST2009
    # +0.0001 and STATICS2011 -0.0004 over five folds, ASSIST2015 +0.0006 over three) at 60 % of its serving time
    # (bench/README.md, "Choosing the members")
    return ["pfa_recency", "dkt", "akt"]


COMBINE = ("stacked", "mean")


@dataclasses.dataclass
class EnsembleConfig:
    members: list[Any] = dataclasses.field(default_factory=_default_members)
    combine: str = "stacked"  # "stacked": weights learned on validation students; "mean": the mean logit
    weight_sd: float = 0.5  # prior SD of the stacking weights (around 1/K) and bias (around 0)
    min_stack_events: int = 200  # fewer validation events than this: the mean
    valid_frac: float = 0.1  # students held out of the members' fit when no validation log is given

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("an ensemble needs at least one member")
        if self.combine not in COMBINE:
            raise ValueError(f"combine must be one of {COMBINE}, not {self.combine!r}")
        if not self.weight_sd > 0:
            raise ValueError("weight_sd must be positive")
        if not 0.0 < self.valid_frac < 1.0:
            raise ValueError("valid_frac must be in (0, 1)")
        for spec in self.members:
            name, overrides = _spec(spec)
            if name == "ensemble":
                raise ValueError("an ensemble cannot be a member of an ensemble")
            if not isinstance(overrides, Mapping):
                raise ValueError(f"member {spec!r}: the overrides must be a mapping")


def stack_weights(y: np.ndarray, z: np.ndarray, weight_sd: float) -> tuple[list[float], float] | None:
    """The stacking weights and bias: MAP logistic regression of the answers ``y`` [N] on the members' logits
    ``z`` [K, N], each weight's prior centred on 1/K and the bias's on 0, both with SD ``weight_sd``. None when
    the fit does not give finite values."""
    k = z.shape[0]
    zt = torch.from_numpy(z.T.astype(np.float64))
    yt = torch.from_numpy(y.astype(np.float64))
    w = torch.full((k,), 1.0 / k, dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    prior = torch.full((k,), 1.0 / k, dtype=torch.float64)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=200, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9)
    bce = nn.BCEWithLogitsLoss(reduction="sum")
    var2 = 2 * weight_sd**2

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = bce(zt @ w + b, yt) + (((w - prior) ** 2).sum() + b**2) / var2
        loss.backward()
        return loss

    opt.step(closure)
    weights, bias = w.detach().tolist(), float(b.detach())
    if not (all(np.isfinite(weights)) and np.isfinite(bias)):
        return None
    return [float(v) for v in weights], bias


def _spec(spec: Any) -> tuple[str, dict[str, Any]]:
    """(name, overrides) of one ``members`` entry: ``"dkt"`` or ``["dkt", {...}]``."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, (list, tuple)) and len(spec) == 2 and isinstance(spec[0], str):
        return spec[0], dict(spec[1]) if isinstance(spec[1], Mapping) else spec[1]
    raise ValueError(f"ensemble member {spec!r}: expected a model name or [name, {{config overrides}}]")


def _labels(names: list[str]) -> list[str]:
    """One label per member (its name; ``name_2``, ``name_3`` ... for repeats): metrics keys and sub-directories."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


class EnsembleModel(KTModel):
    """The sigmoid of a weighted sum of the members' logits (see the module docstring)."""

    name = "ensemble"
    Config = EnsembleConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        from adaptive.models import get_model_class

        self.members: list[KTModel] = []
        super().__init__(config, **overrides)
        specs = [_spec(s) for s in self.config.members]
        self.members = [get_model_class(name)(**opts) for name, opts in specs]
        self.labels = _labels([m.name for m in self.members])
        self.weights = [1.0 / len(self.members)] * len(self.members)  # the mean until stacking fits them
        self.bias = 0.0
        self.net = self.build_net()
        self.net.eval()

    def build_net(self) -> nn.Module:
        """The members' networks side by side (a view: each member owns its own)."""
        return nn.ModuleDict({label: m.net for label, m in zip(getattr(self, "labels", []), self.members,
                                                               strict=True)})

    # --- training -----------------------------------------------------------------------------------------------
    def fit(self, log: ResponseLog, valid: ResponseLog | None = None, **options: Any) -> EnsembleModel:
        """Fit every member on ``log`` (``valid`` for their early stopping and the stacking weights; without it,
        ``valid_frac`` of the students are held out of every member for both); each member gets the options its
        ``fit`` uses (``KTModel.options_for_fit``), a repeated member the next seed."""
        from adaptive.data import split_by_student
        from adaptive.evaluate import evaluate_model

        if len(log) == 0:
            raise ValueError("cannot fit on an empty log")
        t0 = time.time()
        seed = int(options.get("seed", 0))
        if (valid is None or len(valid) == 0) and log.n_students >= 2:
            log, valid = split_by_student(log, 1.0 - self.config.valid_frac, seed=seed)
        self.vocab = Vocab.build(log)
        self._cand_cache.clear()
        train: dict[str, Any] = {}
        repeats: dict[str, int] = {}
        for label, member in zip(self.labels, self.members, strict=True):
            opts = dict(options)
            repeats[member.name] = repeats.get(member.name, -1) + 1
            if repeats[member.name]:
                opts["seed"] = seed + repeats[member.name]
            member.fit(log, valid=valid, **member.options_for_fit(opts))
            summary = {k: v for k, v in member.metrics.get("train", {}).items() if k != "epochs"}
            train[label] = {"model": member.name, "fit_seconds": member.metrics.get("fit_seconds"), **summary}
            if "seed" in opts:
                train[label]["seed"] = opts["seed"]
            if "valid" in member.metrics:
                train[label]["valid"] = member.metrics["valid"]
        self.net = self.build_net()
        self.net.eval()
        self.fingerprint = f"{self.name}-{uuid.uuid4().hex[:12]}"
        self.metrics = {"train": train, "fit_seconds": 0.0,
                        "n_train_students": log.n_students, "n_train_responses": len(log)}
        self.metrics["combine"] = self._fit_weights(valid)
        self.metrics["fit_seconds"] = round(time.time() - t0, 2)
        if valid is not None and len(valid):
            self.metrics["valid"] = {k: v for k, v in evaluate_model(self, valid).items() if k != "reliability"}
        return self

    def _member_logits(self, log: ResponseLog, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """(y, z): the outcomes and the members' logits [K, N] for every event of ``log``, in the log's order."""
        y_ref: np.ndarray | None = None
        zs = []
        for member in self.members:
            y, p = member.predict_log(log, batch_size=batch_size)
            if y_ref is None:
                y_ref = y
            elif len(y) != len(y_ref) or not np.array_equal(y, y_ref):
                raise RuntimeError(f"ensemble: member {member.name} scored the events in another order")
            p = np.clip(p, _EPS, 1.0 - _EPS)
            zs.append(np.log(p) - np.log1p(-p))
        assert y_ref is not None
        return y_ref, np.stack(zs)

    def _fit_weights(self, valid: ResponseLog | None) -> dict[str, Any]:
        """Set ``weights`` and ``bias`` (see the module docstring); what was done, for ``metrics["combine"]``."""
        k = len(self.members)
        self.weights, self.bias = [1.0 / k] * k, 0.0
        n = len(valid) if valid is not None else 0
        done: dict[str, Any] = {"method": "mean", "n_events": n}
        if self.config.combine == "stacked" and valid is not None and n >= self.config.min_stack_events:
            y_np, z_np = self._member_logits(valid)
            fitted = stack_weights(y_np, z_np, self.config.weight_sd)
            if fitted is not None:
                self.weights, self.bias = fitted
                done["method"] = "stacked"
        done.update(weights=dict(zip(self.labels, (round(v, 4) for v in self.weights), strict=True)),
                    bias=round(self.bias, 4))
        return done

    # --- items --------------------------------------------------------------------------------------------------
    def register_items(self, mapping: Mapping[str, Iterable[str]],
                       difficulty: Mapping[str, float | None] | None = None) -> None:
        mapping = {str(k): tuple(str(s) for s in v) for k, v in mapping.items()}
        super().register_items(mapping, difficulty)
        for member in self.members:
            member.register_items(mapping, difficulty)

    # --- state --------------------------------------------------------------------------------------------------
    def _state_data(self) -> dict[str, Any]:
        return {"members": [{"fingerprint": m.fingerprint, "data": m.init_state().data} for m in self.members]}

    def _member_states(self, state: State) -> list[State]:
        """The members' live states: from the cache, else rebuilt from ``state.data`` (after a JSON round trip)."""
        cached = state.cache
        if isinstance(cached, list) and len(cached) == len(self.members) and all(
                isinstance(s, State) and s.n == state.n for s in cached):
            return cached
        entries = state.data.get("members", [])
        if len(entries) != len(self.members):
            raise ValueError(f"ensemble state holds {len(entries)} member states, the model has {len(self.members)}")
        live = [State(m.name, str(e["fingerprint"]), state.n, {k: list(v) for k, v in state.counts.items()},
                      dict(e["data"]))
                for m, e in zip(self.members, entries, strict=True)]
        state.cache = live
        return live

    def _advance(self, state: State, item: int, skills: torch.Tensor, correct: int, response: Response) -> None:
        new = [m.update(s, response) for m, s in zip(self.members, self._member_states(state), strict=True)]
        state.cache = new
        state.data = {"members": [{"fingerprint": s.fingerprint, "data": s.data} for s in new]}

    def _score(self, state: State, cands: Candidates) -> torch.Tensor:
        raw = None
        logits = []
        for i, (member, ms) in enumerate(zip(self.members, self._member_states(state), strict=True)):
            key = f"ensemble:{self.fingerprint}:{i}:{id(member)}"
            mc = cands.memo.get(key)
            if mc is None:
                if raw is None:  # the skills the ensemble resolved for each candidate, as given to every member
                    names = cands.skill_names
                    raw = [(cid, [names[k] for k in row if k]) for cid, row in
                           zip(cands.ids, cands.skill_keys.tolist(), strict=True)]
                mc = member.encode_candidates(raw)
                cands.memo[key] = mc
            member._check(ms)
            logits.append(member._score(ms, mc).float() * self.weights[i])
        return torch.stack(logits).sum(0) + self.bias

    # --- batch scoring (evaluation) -----------------------------------------------------------------------------
    @torch.no_grad()
    def predict_log(self, log: ResponseLog, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """The combined prediction for every event (in the log's order; the members' probabilities are clipped to
        [1e-7, 1 - 1e-7] before their logits are taken)."""
        y, z = self._member_logits(log, batch_size=batch_size)
        return y, 1.0 / (1.0 + np.exp(-self.combine_logits(z)))

    def combine_logits(self, z: np.ndarray) -> np.ndarray:
        """The ensemble's logit from its members' logits ``z`` [K, N] (as ``_member_logits`` gives them)."""
        return np.asarray(self.weights) @ z + self.bias

    # --- persistence --------------------------------------------------------------------------------------------
    def _write_files(self, directory: Path) -> None:
        """``model.json`` (config, vocabulary, items, metrics, the members' labels) and each member's own files
        in ``members/<label>/`` (``save`` writes them all to a fresh folder, then swaps it in)."""
        for label, member in zip(self.labels, self.members, strict=True):
            folder = directory / "members" / label
            folder.mkdir(parents=True)
            member._write_files(folder)
        self._write_meta(directory, members=self.labels, weights=self.weights, bias=self.bias)

    @classmethod
    def _from_saved(cls, directory: Path, meta: Mapping[str, Any]) -> KTModel:
        model = cls(cls.Config(**{**meta["config"], "members": list(meta["config"]["members"])}))
        labels = list(meta.get("members", model.labels))
        if labels != model.labels:
            raise ValueError(f"{directory}: members {labels} do not match the config's {model.labels}")
        members = [KTModel.load(directory / "members" / label) for label in labels]
        for label, old, new in zip(labels, model.members, members, strict=True):
            if new.name != old.name:
                raise ValueError(f"{directory}: member {label} is a {new.name} model, the config says {old.name}")
        model.members = members
        k = len(members)
        model.weights = [float(v) for v in meta.get("weights", [1.0 / k] * k)]  # saved before stacking: the mean
        model.bias = float(meta.get("bias", 0.0))
        if len(model.weights) != k:
            raise ValueError(f"{directory}: {len(model.weights)} weights for {k} members")
        model.vocab = Vocab.from_dict(meta["vocab"])
        model.extra_items = {k: tuple(v) for k, v in meta.get("extra_items", {}).items()}
        model.item_priors = {k: float(v) for k, v in meta.get("item_priors", {}).items()}
        model.net = model.build_net()
        model.net.eval()
        model.metrics = meta.get("metrics", {})
        model.fingerprint = meta["fingerprint"]
        return model
