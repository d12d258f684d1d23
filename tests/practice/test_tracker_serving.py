"""The per-skill mastery tracker in serving: ``tracker.json`` in the bank's registry (written by the training job)
makes mastery decisions follow ``combined_mastery(..., criterion="auto")``; without it, the model's P(correct)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from adaptive.data import Response
from adaptive.mastery import LevelParams, SkillTracker
from lti_tool.services import engine as engine_mod

from .test_api import right
from .test_training import registry_of

THRESHOLD = 0.8  # the activity fixture's

pytestmark = pytest.mark.usefixtures("engines_reset")


def _reload(tool_server, bank) -> engine_mod.Engine:
    eng = engine_mod.get_engine(SimpleNamespace(**bank), tool_server.app)
    eng._checked = -1e9  # skip the reload throttle
    eng.maybe_reload()
    return eng


def _play(api, db, n: int) -> tuple[list[tuple[tuple[str, ...], int]], dict]:
    """Answer ``n`` items right; returns the (skills, correct) pairs and the last answer's response."""
    item = api.get("/api/v1/practice/next").json()["item"]
    pairs, res = [], {}
    for _ in range(n):
        res = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": right(db, item["id"])}).json()
        pairs.append((tuple(s["key"] for s in item["skills"]), 1))
        item = res["next"]["item"]
    return pairs, res


def test_without_tracker_mastery_is_the_models(student_api, tool_server, db, bank):
    assert not (registry_of(tool_server, bank) / "tracker.json").exists()
    eng = _reload(tool_server, bank)
    assert eng.tracker is None
    api = student_api("student-old")
    pairs, res = _play(api, db, 2)
    answered = {s for skills, _ in pairs for s in skills}
    for m in res["mastery"]:
        assert m["mastered"] == (m["p"] >= THRESHOLD)
        if m["skill"] in answered:
            assert not m["mastered"]  # the untrained engine needs about 4 right answers a skill
    assert res["progress"]["skills_mastered"] == 0


def test_tracker_decides_mastery_for_two_level_skills(student_api, tool_server, db, bank):
    registry = registry_of(tool_server, bank)
    api = student_api("student-tracked")
    keys = [m["skill"] for m in api.get("/api/v1/practice/mastery").json()["mastery"]]
    tracker = SkillTracker({k: LevelParams((0.9, 0.1), (0.4,), (0.2, 0.9)) for k in keys})
    assert set(tracker.fitted_levels().values()) == {2}
    registry.mkdir(parents=True, exist_ok=True)
    (registry / "tracker.json").write_text(json.dumps(tracker.to_dict()))
    eng = _reload(tool_server, bank)
    assert eng.tracker is not None
    assert eng.tracker.fitted_levels() == tracker.fitted_levels()

    pairs, res = _play(api, db, 4)
    expected = tracker.mastery(tracker.state_from_answers(pairs), keys)
    for body in (res, api.get("/api/v1/practice/mastery").json()):
        served = {m["skill"]: m for m in body["mastery"]}
        for k in keys:  # a 2-level skill: the tracker's P(top level) decides
            assert served[k]["p"] == round(expected[k], 4)
            assert served[k]["mastered"] == (expected[k] >= THRESHOLD)
        n_mastered = sum(m["mastered"] for m in body["mastery"])
        assert n_mastered >= 1
        assert body["progress"]["skills_mastered"] == n_mastered
    assert res["score"]["given"] == round(n_mastered / len(keys), 4)
    tracked_mastered = {k for k in keys if expected[k] >= THRESHOLD}

    # without tracker.json the model's P(correct) alone decides again (below the threshold for those skills),
    # but what the learner was credited with stays: mastery goes down only through a skill's own answers
    (registry / "tracker.json").unlink()
    eng = _reload(tool_server, bank)
    assert eng.tracker is None
    model_alone = eng.model.mastery(eng.model.state_from_history(
        [Response.make("u", f"{bank['slug']}/x", skills, 1) for skills, _ in pairs]), keys)
    assert tracked_mastered
    assert all(model_alone[k][0] < THRESHOLD for k in tracked_mastered)
    body = api.get("/api/v1/practice/mastery").json()
    served = {m["skill"]: m for m in body["mastery"]}
    for k in tracked_mastered:
        assert served[k]["mastered"]
        assert served[k]["p"] == round(expected[k], 4)
    assert body["progress"]["skills_mastered"] == sum(m["mastered"] for m in body["mastery"])


def test_training_writes_the_tracker_atomically_when_there_is_enough_data(tmp_path):
    import random

    from adaptive.data import ResponseLog
    from lti_tool.jobs.training import fit_tracker

    rng = random.Random(0)
    rows = []
    for u in range(40):
        known = False
        for k in range(12):
            known = known or rng.random() < 0.3
            correct = rng.random() < (0.9 if known else 0.2)
            rows.append((f"u{u}", f"bank/i{k % 3}", ("s1",), int(correct), float(u * 100 + k)))
    assert fit_tracker(ResponseLog.from_rows(rows[:5 * 12]), tmp_path) == 0  # too few students: nothing written
    assert not (tmp_path / "tracker.json").exists()
    assert fit_tracker(ResponseLog.from_rows(rows), tmp_path) == 1
    tracker = SkillTracker.from_dict(json.loads((tmp_path / "tracker.json").read_text()))
    assert set(tracker.fitted_levels()) == {"s1"}
    assert [p.name for p in tmp_path.iterdir()] == ["tracker.json"]  # no temp file left
    eng = engine_mod.Engine.from_registry(tmp_path)
    assert eng.tracker is not None
    assert eng.tracker_fingerprint
