"""Item difficulty in the web app: the authors' seeds steer the untrained engine, and training writes the engine's
calibration back to the items (``Item.calibrated_difficulty``) once an item has enough answers."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import func, select

from lti_tool.jobs.training import MIN_CALIBRATION_ANSWERS
from lti_tool.models.items import Item, ItemBank
from lti_tool.models.practice import Attempt
from lti_tool.services import engine as engine_mod
from lti_tool.services import practice
from tests.practice.test_training import _run, _simulate

pytestmark = pytest.mark.usefixtures("engines_reset")


def _ranks(values):
    return np.argsort(np.argsort(values))


def test_untrained_engine_follows_the_authors_seeds(tool_server, bank, db):
    eng = engine_mod.get_engine(SimpleNamespace(**bank), tool_server.app)
    assert eng.model.name == "pfa"
    assert eng.model.fingerprint.endswith("untrained")
    with db.session() as s:
        view = practice.bank_view(s, eng, s.get(ItemBank, bank["id"]))
        p = eng.model.predict_proba(eng.model.init_state(), view.candidates)
        by_skills: dict[tuple[str, ...], list[tuple[float, float]]] = {}
        for it, prob in zip(view.items, p, strict=True):
            if it.difficulty is not None:
                by_skills.setdefault(tuple(it.skill_keys), []).append((it.difficulty, float(prob)))
    compared = 0
    for pairs in by_skills.values():
        for d1, p1 in pairs:
            for d2, p2 in pairs:
                if d1 < d2:  # within the same skills, an item the author rates harder is predicted harder
                    assert p1 > p2
                    compared += 1
    assert compared > 20


def test_training_writes_calibrated_difficulty_for_items_with_enough_answers(platform, activity, bank, tool_server,
                                                                               db):
    assert platform.launch("instructor").status == 200
    truth = _simulate(db, bank, n_students=90, per_student=40, seed=4)
    # thin by the thresholds: the baseline is fitted on every answer and serves
    record = _run(tool_server, bank_id=bank["id"], min_students=1000)
    assert record["champion"] == "pfa"
    with db.session() as s:
        counts = Counter(dict(s.execute(select(Attempt.item_id, func.count()).where(
            Attempt.bank_id == bank["id"], Attempt.is_test_user.is_(False)).group_by(Attempt.item_id)).all()))
        items = s.scalars(select(Item).where(Item.bank_id == bank["id"])).all()
        calibrated = [it for it in items if it.calibrated_difficulty is not None]
        assert record["calibrated_items"] == len(calibrated) > 30
        for it in items:
            enough = counts[it.id] >= MIN_CALIBRATION_ANSWERS
            assert (it.calibrated_difficulty is not None) == enough, (it.key, counts[it.id])
            if enough:
                assert 0.0 <= it.calibrated_difficulty <= 1.0
                assert it.effective_difficulty == it.calibrated_difficulty
            else:
                assert it.effective_difficulty == it.difficulty
        est = [it.calibrated_difficulty for it in calibrated]
        true = [truth[it.id] for it in calibrated]
        rho = np.corrcoef(_ranks(est), _ranks(true))[0, 1]
        assert rho > 0.6, rho
