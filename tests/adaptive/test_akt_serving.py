"""The attention model's serving path (incremental cache + fast attention kernel) computes the model's function.

References, both independent of the serving code:
- the batch ``AKTNet.forward`` on ``history + [candidate]`` (the training path), for histories shorter than the
  window, where serving and batch see the same events;
- for longer histories, the same ``forward`` formula with a banded mask (each event attends to the ``window``
  events up to itself, each candidate to the last ``window`` events: what the serving cache keeps), written out
  below with the network's own modules and the plain softmax.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptive import get_model_class
from adaptive.data import Response
from adaptive.models import akt as akt_module
from adaptive.models.akt import AKTModel, AKTNet

TOL = 1e-5


def random_model(seed: int, n_items: int = 60, n_skills: int = 8, **config: object) -> AKTModel:
    """An untrained model with random weights (training does not matter to the identity being tested)."""
    from adaptive.models.base import Vocab

    torch.manual_seed(seed)
    model = get_model_class("akt")(**config)
    assert isinstance(model, AKTModel)
    rng = np.random.default_rng(seed)
    items = {f"i{j}": j + 1 for j in range(n_items)}
    skills = {f"s{j}": j + 1 for j in range(n_skills)}
    item_skills = {f"i{j}": tuple(f"s{x}" for x in rng.choice(n_skills, 1 + (j % 3 == 0), replace=False))
                   for j in range(n_items)}
    model.vocab = Vocab(items, skills, item_skills)
    model.net = model.build_net()
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(torch.randn_like(p) * 0.3)  # item difficulties and the rest away from their initial values
    model.net.eval()
    model.fingerprint = f"akt-test-{seed}"
    return model


def random_history(model: AKTModel, n: int, seed: int) -> list[Response]:
    rng = np.random.default_rng(seed)
    items = list(model.vocab.items)
    return [Response.make("u", items[int(rng.integers(len(items)))], None, int(rng.integers(2)), float(t))
            for t in range(n)]


def candidates(model: AKTModel) -> list[object]:
    """Every known item, plus unknown items with known, unknown and no skills."""
    return [*model.vocab.items, ("new-1", ["s1"]), ("new-2", ["s2", "s5"]), ("new-3", ["nope"]), "unknown"]


def banded_reference(model: AKTModel, history: list[Response], cands: list[object]) -> np.ndarray:
    """P(correct) of each candidate as the next event after ``history``, from the plain formula."""
    net: AKTNet = model.net  # type: ignore[assignment]
    w = model.config.window
    enc = model.encode(history)
    cand = model.encode_candidates(cands)
    t = len(enc)
    with torch.no_grad():
        items = torch.from_numpy(enc.items).view(1, -1)
        skills = torch.from_numpy(enc.skills).unsqueeze(0)
        q, qa = net.embed(items, skills, torch.from_numpy(enc.correct).view(1, -1))
        assert qa is not None
        pos = torch.arange(t)
        dist = (pos.view(-1, 1) - pos.view(1, -1)).float()
        band = (dist >= 0) & (dist < w)
        y = qa
        for blk in net.encoder_blocks():
            k, v = blk.att.kv(y, y)
            y = blk.finish(y, blk.att.attend(y, k, v, blk.att.bias(dist.clamp(min=0), band)))
        qc, _ = net.embed(cand.items, cand.skills)
        # question encoder: each event attends to itself and the window - 1 before it; a candidate to itself and
        # the last window - 1 events
        xq, xc = q, qc
        lo_q = max(0, t - (w - 1))
        dist_c = torch.cat([(t - pos[lo_q:]).float(), torch.zeros(1)]).view(1, -1)
        for blk in net.question_blocks():
            att = blk.att
            k_e, v_e = att.kv(xq, xq)
            k_c, v_c = att.kv(xc, xc)  # [C, H, dk]
            n_c = len(xc)
            keys_c = torch.cat([k_e[0, lo_q:].expand(n_c, -1, -1, -1), k_c.unsqueeze(1)], 1)
            vals_c = torch.cat([v_e[0, lo_q:].expand(n_c, -1, -1, -1), v_c.unsqueeze(1)], 1)
            xc = blk.finish(xc, att.attend(xc.unsqueeze(1), keys_c, vals_c, att.bias(dist_c, None))[:, 0])
            xq = blk.finish(xq, att.attend(xq, k_e, v_e, att.bias(dist.clamp(min=0), band)))
        lo = max(0, t - w)
        keys = torch.cat([net.null_k.view(1, 1, -1), xq[:, lo:]], 1)
        vals = torch.cat([net.null_v.view(1, 1, -1), y[:, lo:]], 1)
        dist_r = torch.cat([torch.zeros(1), (t - pos[lo:]).float()]).view(1, -1)
        h = xc.unsqueeze(0)  # [1, C, d]
        for blk in net.retriever_blocks():
            k, v = blk.att.kv(keys, vals)
            h = blk.finish(h, blk.att.attend(h, k, v, blk.att.bias(dist_r, None), topk=model.config.topk))
        return torch.sigmoid(net.output(h[0], qc)).double().numpy()


def batch_forward(model: AKTModel, history: list[Response], cands: list[object]) -> np.ndarray:
    """P(correct) of each candidate from ``AKTNet.forward`` on ``history + [candidate]`` (one row per candidate)."""
    enc = model.encode(history)
    cand = model.encode_candidates(cands)
    c, t = len(cand), len(enc)
    k = max(enc.skills.shape[1], cand.skills.shape[1])
    items = torch.zeros(c, t + 1, dtype=torch.long)
    skills = torch.zeros(c, t + 1, k, dtype=torch.long)
    correct = torch.zeros(c, t + 1)
    items[:, :t] = torch.from_numpy(enc.items)
    skills[:, :t, : enc.skills.shape[1]] = torch.from_numpy(enc.skills)
    correct[:, :t] = torch.from_numpy(enc.correct)
    items[:, t] = cand.items
    skills[:, t, : cand.skills.shape[1]] = cand.skills
    with torch.no_grad():
        logits = model.net(items, skills, correct, torch.ones(c, t + 1, dtype=torch.bool))
    return torch.sigmoid(logits[:, t]).double().numpy()


@pytest.mark.parametrize(("seed", "n"), [(0, 0), (1, 1), (2, 7), (3, 23)])
@pytest.mark.parametrize("config", [{}, {"kq_same": True, "question_layers": 1}, {"topk": 3}])
def test_serving_equals_batch_forward_within_the_window(seed, n, config):
    model = random_model(seed, window=24, **config)
    hist = random_history(model, n, seed)
    cands = candidates(model)
    state = model.state_from_history(hist)
    p = model.predict_proba(state, cands)
    assert np.abs(p - batch_forward(model, hist, cands)).max() < TOL
    assert np.abs(p - banded_reference(model, hist, cands)).max() < TOL


@pytest.mark.parametrize("config", [{}, {"encoder_layers": 2, "retriever_layers": 2, "heads": 2, "d_model": 32},
                                    {"kq_same": True, "question_layers": 1},
                                    {"question_layers": 2, "retriever_layers": 2, "heads": 2, "d_model": 32},
                                    {"topk": 5, "retriever_layers": 2}])
def test_serving_equals_the_plain_formula_past_the_window(config):
    model = random_model(5, window=40, **config)
    hist = random_history(model, 130, 5)
    cands = model.encode_candidates(candidates(model))
    state = model.state_from_history(hist[:100])
    for r in hist[100:]:  # incremental updates, and scores at several points
        state = model.update(state, r)
        if state.n % 10 == 0:
            ref = banded_reference(model, hist[: state.n], candidates(model))
            assert np.abs(model.predict_proba(state, cands) - ref).max() < TOL
    # a state rebuilt from its JSON (cache recomputed from the stored recent history) scores the same
    from adaptive.state import State

    again = State.from_json(state.to_json())
    assert np.abs(model.predict_proba(again, cands) - model.predict_proba(state, cands)).max() < TOL


def test_strong_decay_and_loose_bound_fall_back_or_floor_exactly(monkeypatch):
    model = random_model(7, window=64)
    net = model.net
    assert isinstance(net, AKTNet)
    hist = random_history(model, 90, 7)
    cands = candidates(model)
    # strong decay: distant events get biases far below -60 (the kernel floors them there)
    with torch.no_grad():
        net.retriever_blocks()[0].att.theta.fill_(3.0)
    model.fingerprint = "akt-strong-decay"
    p = model.predict_proba(model.state_from_history(hist), cands)
    assert np.abs(p - banded_reference(model, hist, cands)).max() < TOL
    # large queries and keys: the Cauchy-Schwarz bound is far above the real maximum, the fast kernel's
    # denominators underflow and the call must fall back to the plain formula
    calls = []
    real_plain = akt_module._plain_attention

    def spy(*args, **kwargs):
        calls.append(1)
        return real_plain(*args, **kwargs)

    monkeypatch.setattr(akt_module, "_plain_attention", spy)
    with torch.no_grad():
        att = net.retriever_blocks()[0].att
        att.theta.fill_(0.01)
        att.wq.weight.mul_(40.0)
        att.wk.weight.mul_(40.0)
    model.fingerprint = "akt-large-scores"
    p = model.predict_proba(model.state_from_history(hist), cands)
    assert calls, "the fallback was not taken"
    # scores 1,600 times larger: float32 rounding of the matrix products (whose kernels differ between CPUs) is
    # up to about 4e-5 here on an AMD EPYC, under 1e-5 on others; a wrong formula is off by far more
    assert np.abs(p - banded_reference(model, hist, cands)).max() < 10 * TOL


def test_serving_on_a_trained_model_matches_batch_forward(sim):
    _, _, train, test = sim
    model = get_model_class("akt")(d_model=32, heads=4, d_ff=32, window=32)
    model.fit(train, epochs=2, batch_size=32, max_len=32, seed=1)
    assert isinstance(model, AKTModel)
    hist = test.sequences()[0][:20]
    cands = [*list(model.vocab.items)[:30], ("x", ["s1", "s2"])]
    p = model.predict_proba(model.state_from_history(hist), cands)
    assert np.abs(p - batch_forward(model, hist, cands)).max() < TOL


def test_threads_scoring_at_once_get_their_own_results():
    """The kernel's scratch buffer is per thread: concurrent calls (a threaded web server) do not mix."""
    from concurrent.futures import ThreadPoolExecutor

    model = random_model(9, window=50)
    cands = model.encode_candidates(candidates(model))
    states = [model.state_from_history(random_history(model, 30 + 5 * i, 100 + i)) for i in range(6)]
    alone = [model.predict_proba(s, cands) for s in states]
    with ThreadPoolExecutor(3) as pool:
        for _ in range(5):
            together = list(pool.map(lambda s: model.predict_proba(s, cands), states))
            for a, b in zip(alone, together, strict=True):
                assert np.array_equal(a, b)


@pytest.mark.parametrize("config", [{}, {"kq_same": True, "question_layers": 1}, {"topk": 4}])
def test_save_load_and_models_saved_before_the_new_options(config, tmp_path):
    """A saved model loads (weights_only) and scores the same; a model.json written before an option existed (no
    key for it) loads with the option's default, which is the old behaviour."""
    import json

    from adaptive import load_model

    model = random_model(11, window=30, **config)
    hist = random_history(model, 45, 11)
    cands = candidates(model)
    p = model.predict_proba(model.state_from_history(hist), cands)
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert np.array_equal(again.predict_proba(again.state_from_history(hist), cands), p)
    if not config:
        meta = json.loads((tmp_path / "m" / "model.json").read_text())
        for key in ("kq_same", "question_layers", "topk"):
            meta["config"].pop(key)
        (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
        old = load_model(tmp_path / "m")
        assert np.array_equal(old.predict_proba(old.state_from_history(hist), cands), p)


def test_predict_log_returns_the_logs_order_past_the_window():
    """Batch scoring with sliding windows gives each student's events in answer order, students in the log's
    order (so models with different windows line up event by event)."""
    from adaptive.data import ResponseLog

    model = random_model(13, window=16)
    seqs = {f"u{i}": [Response.make(f"u{i}", r.item_id, None, r.correct, r.timestamp)
                      for r in random_history(model, n, 20 + i)] for i, n in enumerate([41, 7, 30, 16, 17])}
    log = ResponseLog(seqs)
    y, p = model.predict_log(log)
    assert np.array_equal(y, np.concatenate([[r.correct for r in s] for s in log.sequences()]))
    assert len(p) == len(y)


def test_sparse_retrieval_keeps_the_k_best_earlier_events_and_never_a_later_one():
    """``keep_topk`` keeps each row's k largest scores (ties included) and leaves masked scores masked, so a row with
    fewer visible events than k keeps exactly those; a model with ``topk`` predicts the same for an event whatever
    comes after it in the window (no future answer leaks in), and differs from the dense model."""
    from adaptive.models.akt import keep_topk

    inf = float("-inf")
    scores = torch.tensor([[0.0, inf, inf, inf], [2.0, 1.0, inf, inf], [1.0, 3.0, 2.0, 3.0], [0.0, -5.0, -1.0, -3.0]])
    kept = keep_topk(scores, 2, -1)
    assert torch.equal(kept, torch.tensor([[0.0, inf, inf, inf], [2.0, 1.0, inf, inf], [inf, 3.0, inf, 3.0],
                                           [0.0, inf, -1.0, inf]]))
    assert keep_topk(scores, 0, -1) is scores
    assert keep_topk(scores, 4, -1) is scores

    model = random_model(21, window=40, topk=2)
    hist = random_history(model, 30, 21)
    enc = model.encode(hist)
    items = torch.from_numpy(enc.items).view(1, -1)
    skills = torch.from_numpy(enc.skills).unsqueeze(0)
    correct = torch.from_numpy(enc.correct).view(1, -1)
    with torch.no_grad():
        full = model.net(items, skills, correct, torch.ones_like(items, dtype=torch.bool))
        flipped = correct.clone()
        flipped[0, 20:] = 1 - flipped[0, 20:]  # change every answer from event 20 on
        again = model.net(items, skills, flipped, torch.ones_like(items, dtype=torch.bool))
    assert torch.allclose(full[0, :21], again[0, :21], atol=1e-6)  # event 20's own answer is not seen either
    assert not torch.allclose(full[0, 21:], again[0, 21:])
    dense = random_model(21, window=40)
    cands = candidates(model)
    assert np.abs(model.predict_proba(model.state_from_history(hist), cands)
                  - dense.predict_proba(dense.state_from_history(hist), cands)).max() > 1e-3
