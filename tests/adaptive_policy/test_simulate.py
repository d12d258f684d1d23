"""The simulation harness on small synthetic populations (no public data needed)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from adaptive import get_model_class
from adaptive.mastery import SkillTracker
from adaptive.policy import PolicyConfig
from adaptive.simulate import (
    SYNTHETIC_AFM,
    SYNTHETIC_BKT,
    AdaptivePolicy,
    BKTParams,
    FixedOrder,
    MasteryRule,
    RandomOrder,
    bkt_population,
    fit_afm,
    fit_bkt,
    history_log,
    logistic_population,
    make_curriculum,
    match_fixed_order,
    run_policy,
)


def bkt_sequences(p: BKTParams, n: int, length: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        known = rng.random() < p.p_init
        ys = []
        for _ in range(length):
            ys.append(int(rng.random() < (1 - p.p_slip if known else p.p_guess)))
            known = known or rng.random() < p.p_learn
        out.append(ys)
    return out


def test_fit_bkt_recovers_parameters():
    truth = BKTParams(0.3, 0.2, 0.2, 0.1)
    fitted = fit_bkt(bkt_sequences(truth, 800, 12, seed=1), iters=40)
    assert fitted.p_init == pytest.approx(truth.p_init, abs=0.08)
    assert fitted.p_learn == pytest.approx(truth.p_learn, abs=0.06)
    assert fitted.p_guess == pytest.approx(truth.p_guess, abs=0.06)
    assert fitted.p_slip == pytest.approx(truth.p_slip, abs=0.05)


def test_fit_afm_recovers_the_learning_slope():
    rng = np.random.default_rng(2)
    seqs = []
    for _ in range(1500):
        ability = rng.normal(0, 0.8)
        ys = [int(rng.random() < 1 / (1 + np.exp(-(ability + 0.2 + 0.5 * t)))) for t in range(3)]
        seqs.append((ability, ys))
    fitted = fit_afm(seqs)
    assert fitted.slope == pytest.approx(0.5, abs=0.15)
    assert fitted.intercept == pytest.approx(0.2, abs=0.15)


def test_curriculum_is_a_dag_in_topological_order():
    c = make_curriculum(n_skills=8, items_per_skill=4, seed=3)
    order = {s: i for i, s in enumerate(c.skills)}
    assert all(order[p] < order[s] for s, ps in c.prerequisites.items() for p in ps)
    assert len(c.items) == 32
    assert len(c.items_of("k3")) == 4


def test_baselines_behave_as_described():
    c = make_curriculum(n_skills=4, items_per_skill=4, seed=0)
    pop = bkt_population(c, SYNTHETIC_BKT)
    assert run_policy(FixedOrder(5), pop, c, n_students=10).items_mean == 20
    assert run_policy(RandomOrder(17), pop, c, n_students=10).items_mean == 17
    rule = run_policy(MasteryRule(3, cap=10), pop, c, n_students=20)
    assert 12 <= rule.items_mean <= 40
    # more practice in fixed order never lowers the share mastered for the same students
    short = run_policy(FixedOrder(2), pop, c, n_students=30)
    long = run_policy(FixedOrder(20), pop, c, n_students=30)
    assert long.share_mastered > short.share_mastered


def test_match_fixed_order_interpolates():
    c = make_curriculum(n_skills=4, items_per_skill=4, seed=0)
    pop = logistic_population(c, SYNTHETIC_AFM)
    fixed = [run_policy(FixedOrder(k), pop, c, n_students=20) for k in (2, 6, 12, 24)]
    shares = [f.share_mastered for f in fixed]
    assert shares == sorted(shares)
    target = (shares[1] + shares[2]) / 2
    match = match_fixed_order(fixed, target)
    assert fixed[1].items_mean <= match <= fixed[2].items_mean
    assert match_fixed_order(fixed, 1.01) is None


@pytest.mark.slow
@pytest.mark.parametrize(("population", "criterion", "margin", "seeds"),
                         [("bkt", "either", 0.7, (0, 1)), ("logistic", "model", 0.9, (0, 1, 2, 3))])
def test_adaptive_policy_needs_clearly_fewer_items_than_fixed_order(population, criterion, margin, seeds):
    """On synthetic learners of both families, our policy (PFA predictions + a tracker, both fitted on a simulated
    history, never on the simulator's parameters) reaches the same share of truly mastered skills as fixed order
    with clearly fewer items; fixed order is measured at every length so it gets its best budget.

    The mastery criterion differs: on all-or-none (BKT) learners the tracker's ceiling-relative criterion is needed
    (P(correct) of a learner who knows the skill stays below the threshold); on gradual (logistic) learners the
    tracker calls mastery too early and the model's P(correct) is the better criterion. No single criterion wins
    on both today (docs/practice.md).

    The ratio is averaged over several seeds (curriculum, population, history, students): one run of 40 simulated
    students moves by several points, and with floating-point differences between CPUs (the simulation branches on
    random draws against probabilities) one seed alone can land on either side of a tight margin. Measured on
    the logistic learners: 0.75-0.87 per seed, mean 0.82; on BKT learners 0.43-0.48."""
    ratios = []
    for seed in seeds:
        c = make_curriculum(n_skills=5, items_per_skill=6, seed=seed)
        pop = (bkt_population(c, SYNTHETIC_BKT, seed=seed) if population == "bkt"
               else logistic_population(c, SYNTHETIC_AFM, seed=seed))
        history = history_log(pop, c, n_students=120, seed=seed + 1000)
        model = get_model_class("pfa")().fit(history)
        tracker = SkillTracker.fit(history, levels=(2, 3))
        thr = 0.95 if criterion == "either" else 0.9
        cfg = PolicyConfig(mastery_threshold=thr, max_items_per_skill=30, stop_when_stuck=True)
        ours = run_policy(AdaptivePolicy(model, cfg, tracker=tracker, criterion=criterion), pop, c, n_students=40,
                          max_items=300, seed=seed)
        fixed = [run_policy(FixedOrder(k), pop, c, n_students=40, max_items=300, seed=seed) for k in range(2, 41)]
        match = match_fixed_order(fixed, ours.share_mastered)
        assert ours.share_mastered > 0.85, seed
        assert match is not None, seed
        assert ours.items_mean < match, (seed, ours.items_mean, match)  # never more items than fixed order
        ratios.append(ours.items_mean / match)
    assert sum(ratios) / len(ratios) < margin, ratios


def test_adaptive_policy_serves_known_items_and_stops():
    c = make_curriculum(n_skills=3, items_per_skill=3, seed=0)
    model = get_model_class("pfa")()  # untrained baseline: P rises with successes
    pol = AdaptivePolicy(model, PolicyConfig(mastery_threshold=0.8, max_items_per_skill=None))
    pol.start(c, random.Random(0))
    served = []
    for t in range(200):
        item = pol.next()
        if item is None:
            break
        served.append(item)
        pol.observe(item, 1, 60.0 * t)
    assert served, "nothing served"
    assert len(served) < 200  # every skill reached the threshold with correct answers
    assert {c.skills_of(i)[0] for i in served} == set(c.skills)
    assert all(a != b for a, b in itertools.pairwise(served))  # no immediate repeats
