"""One engine per item bank: each bank trains into its own registry, is served by its own champion and tracker,
the instructor panel and "Retrain now" only reach the banks of the instructor's course, and the CLI's ``--bank``."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from adaptive import BASELINE, get_model_class
from adaptive.mastery import LevelParams, SkillTracker
from lti_tool.cli import main
from lti_tool.devlms.platform import Course, demo_course
from lti_tool.jobs.training import load_response_log
from lti_tool.models.practice import Attempt
from lti_tool.services import engine as engine_mod
from lti_tool.services import items
from lti_tool.services.engine import Engine, Engines, bank_dir_name, get_engine, registry_root
from lti_tool.services.item_formats import csv as csv_format
from tests.conftest import TEST_SECRET
from tests.practice.conftest import Api, run_jobs

from .test_tracker_serving import _play
from .test_training import TINY, _run, _simulate, registry_of

pytestmark = pytest.mark.usefixtures("engines_reset")

THRESHOLD = 0.8
LINK_Y = "rl-practice-y"


def _new_bank(db, slug: str, registration_id: int | None = None) -> dict:
    """Another bank with the sample's content under its own slug (same skill keys, unrelated item ids)."""
    with db.session() as s:
        bank = items.save_bank(s, csv_format.read(items.SAMPLE_DIR), registration_id=registration_id,
                               slug=slug).bank
        return {"id": bank.id, "slug": bank.slug}


def _course_y(bank: dict) -> Course:
    """Another course of the same platform whose only adaptive activity uses ``bank``."""
    course = Course(id="course-202", label="MATH202", title="Mathematics 202", members=demo_course().members)
    course.links[LINK_Y] = {"title": "Other practice", "custom": {
        "item_bank": bank["slug"], "mastery_threshold": str(THRESHOLD), "goal_skills": "0", "scoring": "mastery"}}
    return course


@pytest.fixture
def apis():
    made: list[requests.Session] = []

    def launch(platform, tool_server, course: Course, role: str = "student", sub: str | None = None,
               locale: str = "en") -> tuple[Api, str]:
        platform.course = course
        result = platform.launch(role, locale=locale, **({"sub": sub} if sub else {}))
        assert result.status == 200, result.html[:500]
        http = requests.Session()
        made.append(http)
        return Api(tool_server.url, result.token, http), result.html

    yield launch
    for http in made:
        http.close()


def _ref(bank: dict) -> SimpleNamespace:
    return SimpleNamespace(**bank)


def _engine(tool_server, bank: dict) -> Engine:
    """The bank's engine in the tool server, its registry checked now (not after the 30 s reload throttle)."""
    eng = get_engine(_ref(bank), tool_server.app)
    eng._checked = -1e9
    eng.maybe_reload()
    return eng


def _record(tool_server, bank: dict) -> dict:
    return json.loads((registry_of(tool_server, bank) / "champion.json").read_text())


def test_each_bank_trains_into_its_own_registry_and_is_served_by_it(platform, activity, bank, tool_server, db):
    assert platform.launch("instructor").status == 200
    other = _new_bank(db, "fractions-b")
    idle = _new_bank(db, "fractions-c")  # no answers: never trained
    _simulate(db, bank, n_students=40, per_student=25, seed=0)
    _simulate(db, other, n_students=12, per_student=10, seed=1)  # thin (under 20), but enough to fit the baseline

    with db.session() as s:
        log_other = load_response_log(s, bank_id=other["id"])
    assert log_other.n_students == 12
    assert len(log_other) == 120
    assert {r.item_id.split("/")[0] for r in log_other} == {"fractions-b"}  # only that bank's answers

    result = _run(tool_server, min_students=20, min_responses=300, epochs=1, model_configs=TINY, models=["dkt"])
    assert [r["bank_id"] for r in result["banks"]] == [bank["id"], other["id"]]
    assert [r["registry"] for r in result["banks"]] == [str(registry_of(tool_server, b)) for b in (bank, other)]

    trained, thin = _record(tool_server, bank), _record(tool_server, other)
    assert trained["n_students"] == 40
    assert set(trained["candidates"]) == {"pfa", "dkt"}
    assert thin["n_students"] == 12
    assert thin["champion"] == BASELINE
    assert thin["candidates"] == {}
    assert "too thin" in thin["reason"]
    assert trained["fingerprint"] != thin["fingerprint"]
    root = registry_root(tool_server.app.config["SETTINGS"])
    assert not (root / "champion.json").exists()  # nothing tool-wide
    assert not registry_of(tool_server, idle).exists()

    assert _engine(tool_server, bank).fingerprint == trained["fingerprint"]
    assert _engine(tool_server, other).fingerprint == thin["fingerprint"]
    untrained = _engine(tool_server, idle)
    assert untrained.model.name == BASELINE
    assert untrained.fingerprint == get_model_class(BASELINE)().fingerprint
    assert len({_engine(tool_server, b).fingerprint for b in (bank, other, idle)}) == 3


def test_practice_on_a_bank_uses_its_model_and_tracker_never_another_banks(platform, activity, bank, tool_server,
                                                                         db, apis):
    assert platform.launch("instructor").status == 200
    course_x = platform.course
    other = _new_bank(db, "fractions-b")
    course_y = _course_y(other)
    # bank A: a baseline fitted on its own (thin) answers, and a tracker that decides mastery of every skill
    _simulate(db, bank, n_students=12, per_student=10, seed=2)
    record = _run(tool_server, bank_id=bank["id"], models=["dkt"])
    assert record["champion"] == BASELINE
    assert "too thin" in record["reason"]
    student_x, _ = apis(platform, tool_server, course_x, sub="learner-x")
    keys = [m["skill"] for m in student_x.get("/api/v1/practice/mastery").json()["mastery"]]
    tracker = SkillTracker({k: LevelParams((0.9, 0.1), (0.4,), (0.2, 0.9)) for k in keys})
    (registry_of(tool_server, bank) / "tracker.json").write_text(json.dumps(tracker.to_dict()))
    assert not registry_of(tool_server, other).exists()
    _engine(tool_server, bank)  # the instructor's page loaded it before the training: reload now

    pairs_x, res_x = _play(student_x, db, 4)
    expected_x = tracker.mastery(tracker.state_from_answers(pairs_x), keys)
    assert {m["skill"]: m["p"] for m in res_x["mastery"]} == {k: round(expected_x[k], 4) for k in keys}

    student_y, _ = apis(platform, tool_server, course_y, sub="learner-y")
    pairs_y, res_y = _play(student_y, db, 4)
    expected_y = tracker.mastery(tracker.state_from_answers(pairs_y), keys)
    served_y = {m["skill"]: m for m in res_y["mastery"]}
    answered_y = {s for skills, _ in pairs_y for s in skills}
    assert any(served_y[k]["p"] != round(expected_y[k], 4) for k in answered_y)  # not bank A's tracker
    for m in res_y["mastery"]:
        assert m["mastered"] == (m["p"] >= THRESHOLD)

    app = tool_server.app
    eng_x, eng_y = _engine(tool_server, bank), _engine(tool_server, other)
    assert eng_x.tracker is not None
    assert eng_y.tracker is None
    assert eng_x.fingerprint == record["fingerprint"] != eng_y.fingerprint
    assert eng_y.fingerprint == get_model_class(BASELINE)().fingerprint  # bank B: the untrained baseline
    with db.session() as s:
        served_by = dict(s.execute(select(Attempt.bank_id, Attempt.engine_model)
                                   .where(Attempt.engine_model.is_not(None))  # not the simulated ones
                                   .group_by(Attempt.bank_id, Attempt.engine_model)).all())
    assert served_by == {bank["id"]: eng_x.fingerprint, other["id"]: eng_y.fingerprint}
    assert set(engine_mod.engines(app).loaded()) == {bank_dir_name(b["id"], b["slug"]) for b in (bank, other)}
    with pytest.raises(ValueError, match="cannot serve"):
        eng_x.cached_state(1, other["id"], 0)


def test_retrain_from_the_panel_reaches_only_the_courses_banks(platform, activity, bank, tool_server, db, apis):
    assert platform.launch("instructor").status == 200
    course_x = platform.course
    other = _new_bank(db, "fractions-b")
    course_y = _course_y(other)
    teacher_y, page_y = apis(platform, tool_server, course_y, role="instructor")
    _simulate(db, bank, n_students=6, per_student=10, seed=3)
    _simulate(db, other, n_students=6, per_student=10, seed=4, link_id=LINK_Y)
    teacher_x, page_x = apis(platform, tool_server, course_x, role="instructor")

    assert f'data-bank-id="{bank["id"]}"' in page_x
    assert f'data-bank-id="{other["id"]}"' not in page_x
    assert f'data-bank-id="{other["id"]}"' in page_y
    assert f'data-bank-id="{bank["id"]}"' not in page_y

    run_jobs(tool_server)  # what the launches queued (line items, roster sync)
    r = teacher_x.post("/api/v1/engine/retrain", {"bank_id": other["id"]})  # course Y's bank
    assert r.status_code == 404, r.text
    r = teacher_x.post("/api/v1/engine/retrain", {"bank_id": "nope"})
    assert r.status_code == 400
    assert run_jobs(tool_server) == 0  # nothing was queued
    r = teacher_x.post("/api/v1/engine/retrain", {})
    assert r.status_code == 202, r.text
    assert r.json()["queued"] == [{"bank_id": bank["id"], "bank": bank["slug"]}]
    assert run_jobs(tool_server) == 1
    assert _record(tool_server, bank)["n_students"] == 6
    assert not registry_of(tool_server, other).exists()  # course X could not touch bank B

    r = teacher_y.post("/api/v1/engine/retrain", {"bank_id": bank["id"]})
    assert r.status_code == 404
    r = teacher_y.post("/api/v1/engine/retrain", {"bank_id": other["id"]})
    assert r.status_code == 202, r.text
    assert run_jobs(tool_server) == 1
    assert _record(tool_server, other)["n_students"] == 6

    _, page_x = apis(platform, tool_server, course_x, role="instructor")
    assert "Item bank: " in page_x
    assert "6 students, 60 answers" in page_x
    _, zh = apis(platform, tool_server, course_x, role="instructor", locale="zh-CN")
    assert "题库：" in zh
    assert "基线" in zh


def test_panel_of_a_course_without_item_bank(platform, tool_server, db, apis):
    _, page = apis(platform, tool_server, platform.course, role="instructor")  # the demo link names no bank
    assert 'id="engine-panel"' in page
    assert "No adaptive activity of this course uses an item bank yet" in page
    assert "engine-retrain" not in page
    teacher, _ = apis(platform, tool_server, platform.course, role="instructor")
    assert teacher.post("/api/v1/engine/retrain", {}).status_code == 404


def _cli(args, database_url, registry, tmp_path):
    env = {"ADAPTIVE_LTI_DATABASE_URL": database_url, "ADAPTIVE_LTI_SECRET_KEY": TEST_SECRET,
           "ADAPTIVE_LTI_INSTANCE_PATH": str(tmp_path), "ADAPTIVE_LTI_KT_REGISTRY": str(registry),
           "ADAPTIVE_LTI_LOG_LEVEL": "WARNING"}
    return CliRunner().invoke(main, ["engine", "retrain", *args], env=env, catch_exceptions=False)


def test_cli_retrains_one_bank_by_slug_or_id_or_all(platform, activity, bank, tool_server, db, database_url,
                                                    tmp_path):
    assert platform.launch("instructor").status == 200
    other = _new_bank(db, "fractions-b")
    _simulate(db, bank, n_students=6, per_student=10, seed=5)
    _simulate(db, other, n_students=5, per_student=10, seed=6)
    root = tmp_path / "registry"
    reg = {b["id"]: root / "banks" / bank_dir_name(b["id"], b["slug"]) for b in (bank, other)}

    res = _cli(["--bank", "fractions-b", "--wait", "--json"], database_url, root, tmp_path)
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)
    assert record["bank_id"] == other["id"]
    assert record["n_students"] == 5
    assert json.loads((reg[other["id"]] / "champion.json").read_text())["n_students"] == 5
    assert not reg[bank["id"]].exists()

    res = _cli(["--bank", str(bank["id"]), "--wait"], database_url, root, tmp_path)
    assert res.exit_code == 0, res.output
    assert f"Bank {bank['slug']} (id {bank['id']}): champion {BASELINE}" in res.output
    assert json.loads((reg[bank["id"]] / "champion.json").read_text())["n_students"] == 6

    res = _cli(["--wait"], database_url, root, tmp_path)  # every bank with answers
    assert res.exit_code == 0, res.output
    assert res.output.count("champion pfa") == 2

    for ref, message in (("no-such-bank", "no item bank 'no-such-bank'"), ("999999", "no item bank with id")):
        res = _cli(["--bank", ref, "--wait"], database_url, root, tmp_path)
        assert res.exit_code != 0
        assert message in res.output
    with db.session() as s:
        from lti_tool.models.course import User

        registration_id = s.scalars(select(User.registration_id)).first()
    _new_bank(db, "fractions-b", registration_id=registration_id)  # the same slug, owned by a registration
    res = _cli(["--bank", "fractions-b", "--wait"], database_url, root, tmp_path)
    assert res.exit_code != 0
    assert "several item banks are called 'fractions-b'" in res.output

    res = CliRunner().invoke(main, ["engine", "retrain", "--help"])
    assert "--bank SLUG_OR_ID" in res.output


def test_engines_are_bounded_and_ignore_a_tool_wide_record(tmp_path):
    (tmp_path / "champion.json").write_text("{}")  # an old tool-wide record: not read
    engines = Engines(tmp_path, size=2)
    a, b, c = (SimpleNamespace(id=i, slug=f"bank {i}/x") for i in (1, 2, 3))
    eng_a = engines.get(a)
    assert eng_a.model.name == BASELINE
    assert eng_a.registry == tmp_path / "banks" / "1-bank_1_x"
    assert engines.get(a) is eng_a
    engines.get(b)
    engines.get(c)  # drops the least recently used: a
    assert engines.loaded() == ["2-bank_2_x", "3-bank_3_x"]
    assert engines.get(a) is not eng_a
    assert bank_dir_name(7, "../..") == "7-bank"
    with pytest.raises(ValueError, match="cannot serve"):
        Engine(eng_a.model, None, bank_id=1).remember_state(5, 2, 0, eng_a.model.init_state())


def test_an_ensemble_champion_serves_practice(platform, activity, bank, tool_server, db, apis):
    """The ensemble (pfa_recency + dkt + akt logits) serves a bank like any other model: next items, answers,
    mastery, and the learner's state rebuilt from the stored attempts after the cache is dropped gives the same
    mastery."""
    from adaptive.models.ensemble import EnsembleModel

    assert platform.launch("instructor").status == 200
    _simulate(db, bank, n_students=12, per_student=15, seed=5)
    with db.session() as s:
        log = load_response_log(s, bank_id=bank["id"])
    members = ["pfa_recency", ["dkt", TINY["dkt"]], ["akt", TINY["akt"]]]
    model = EnsembleModel(members=members).fit(log, epochs=1, seed=0)
    registry = registry_of(tool_server, bank)
    model.save(registry / "ensemble")
    (registry / "champion.json").write_text(json.dumps(
        {"champion": "ensemble", "path": "ensemble", "fingerprint": model.fingerprint,
         "candidates": {"pfa": {"auc": 0.61}, "ensemble": {"auc": 0.68, "combine": model.metrics["combine"]}},
         "n_students": log.n_students, "n_responses": len(log)}))
    eng = _engine(tool_server, bank)
    assert eng.model.name == "ensemble"
    assert eng.fingerprint == model.fingerprint

    # the instructor's panel shows the ensemble's member weights next to its held-out AUC
    page = platform.launch("instructor").html
    weights = model.metrics["combine"]["weights"]
    shown = " · ".join(f"{k.upper().replace('_', ' ')} {v:.2f}" for k, v in weights.items())
    assert list(weights) == ["pfa_recency", "dkt", "akt"]
    assert "PFA RECENCY" in shown
    assert f"(weights: {shown})" in page

    student, _ = apis(platform, tool_server, platform.course, sub="learner-ens")
    _, res = _play(student, db, 3)
    mastery = {m["skill"]: m["p"] for m in res["mastery"]}
    assert mastery
    assert all(0.0 < p < 1.0 for p in mastery.values())
    with db.session() as s:
        served_by = set(s.scalars(select(Attempt.engine_model).where(Attempt.engine_model.is_not(None))))
    assert served_by == {model.fingerprint}

    # drop every cached state: the next request rebuilds the learner's state from the database
    tool_server.app.extensions.pop("practice_engines", None)  # a fresh set of engines: nothing cached
    again = {m["skill"]: m["p"] for m in student.get("/api/v1/practice/mastery").json()["mastery"]}
    assert again == pytest.approx(mastery, abs=1e-4)


def test_cli_retrain_queues_only_when_a_job_queue_exists(bank, database_url, tmp_path, request):
    """Without --wait the command needs Celery on Redis; with it, the job lands on the 'training' queue."""
    import redis

    from lti_tool import jobs

    env = {"ADAPTIVE_LTI_DATABASE_URL": database_url, "ADAPTIVE_LTI_SECRET_KEY": TEST_SECRET,
           "ADAPTIVE_LTI_INSTANCE_PATH": str(tmp_path), "ADAPTIVE_LTI_REDIS_URL": "",
           "ADAPTIVE_LTI_LOG_LEVEL": "WARNING"}
    res = CliRunner().invoke(main, ["engine", "retrain", "--bank", str(bank["id"])], env=env)
    assert res.exit_code != 0
    assert "no job queue (ADAPTIVE_LTI_REDIS_URL unset): use --wait to train here" in res.output
    url = request.getfixturevalue("redis_url")  # this session's own Redis database; skips when Redis is down
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    env["ADAPTIVE_LTI_REDIS_URL"] = url
    try:
        res = CliRunner().invoke(main, ["engine", "retrain", "--bank", str(bank["id"])], env=env,
                                 catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert f"Queued training.select for bank {bank['slug']} (id {bank['id']})" in res.output
        assert client.llen("training") == 1
    finally:
        jobs.set_runtime(None)
        client.delete("training")
        client.close()
