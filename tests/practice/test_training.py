"""Champion/challenger training on the tool's own attempts: the ``training.select`` job, the bank's registry its
engine serves from, the instructor panel and its "Retrain now" endpoint."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import select

from lti_tool import jobs
from lti_tool.jobs import JobContext
from lti_tool.models.course import Context, ResourceLink, User
from lti_tool.models.items import Item
from lti_tool.models.practice import Attempt, PracticeEnrolment, ServedItem
from lti_tool.services.engine import bank_registry, engine_item_id, registry_root
from tests.practice.conftest import LINK, run_jobs

pytestmark = pytest.mark.usefixtures("engines_reset")

TINY = {"dkt": {"d_model": 8, "hidden": 8}, "akt": {"d_model": 8, "heads": 2, "d_ff": 8}}


def _simulate(db, bank, *, n_students: int, per_student: int, test_users: int = 0, seed: int = 0,
              link_id: str = LINK) -> dict[int, float]:
    """Direct inserts of a class's answers on ``bank`` in the course of the (launched) resource link ``link_id``:
    students of varying ability answer items of varying difficulty; returns the true difficulty (logits) by item
    id."""
    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with db.session() as s:
        link = s.scalars(select(ResourceLink).where(ResourceLink.resource_link_id == link_id)).one()
        context = s.get(Context, link.context_id)
        registration_id = s.scalars(select(User.registration_id)).first()
        items = s.scalars(select(Item).where(Item.bank_id == bank["id"]).order_by(Item.id)).all()
        item_skills = [(it, [sk.key for sk in it.skills]) for it in items]
        difficulty = {it.id: rng.gauss(0, 1) for it in items}
        for n in range(n_students + test_users):
            is_test = n >= n_students
            user = User(registration_id=registration_id, sub=f"sim-{seed}-{n}", is_test_user=is_test)
            s.add(user)
            s.flush()
            enrolment = PracticeEnrolment(resource_link_id=link.id, user_id=user.id, bank_id=bank["id"])
            s.add(enrolment)
            s.flush()
            ability = rng.gauss(0, 1)
            for k in range(per_student):
                item, skills = rng.choice(item_skills)
                p = 1 / (1 + math.exp(-(ability + 0.08 * k - difficulty[item.id])))
                when = start + dt.timedelta(days=n, minutes=k)
                served = ServedItem(enrolment_id=enrolment.id, user_id=user.id, bank_id=bank["id"], item_id=item.id,
                                    variant={}, is_test_user=is_test, served_at=when, answered_at=when)
                s.add(served)
                s.flush()
                s.add(Attempt(served_id=served.id, enrolment_id=enrolment.id, user_id=user.id,
                              context_id=context.id, bank_id=bank["id"], item_id=item.id, skill_keys=skills,
                              answer="x", correct=rng.random() < p, is_test_user=is_test, created_at=when))
    return difficulty


def registry_of(tool_server, bank) -> Path:
    """The bank's own registry in the tool under test (``bank``: the fixtures' {"id", "slug"})."""
    return bank_registry(registry_root(tool_server.app.config["SETTINGS"]), SimpleNamespace(**bank))


def _run(tool_server, **options):
    app = tool_server.app
    ctx = JobContext(db=tool_server.database, settings=app.config["SETTINGS"], worker_id="test")
    return jobs.run_job("training.select", options, ctx)


def test_training_selects_on_held_out_students_and_instructor_sees_it(platform, activity, bank, tool_server, db,
                                                                      student_api):
    teacher = platform.launch("instructor")  # creates the course, the link and the instructor
    assert teacher.status == 200
    registry = registry_of(tool_server, bank)
    _simulate(db, bank, n_students=40, per_student=25, test_users=3)

    with db.session() as s:
        from lti_tool.jobs.training import load_response_log

        log = load_response_log(s, bank_id=bank["id"])
        slug_items = {engine_item_id(bank["slug"], it.key) for it in s.scalars(select(Item)).all()}
    assert log.n_students == 40  # test users' attempts are excluded
    assert len(log) == 40 * 25
    assert {r.item_id for r in log} <= slug_items  # the ids the serving engine uses

    record = _run(tool_server, bank_id=bank["id"], min_students=20, min_responses=300, epochs=1,
                  model_configs=TINY, models=["dkt"])
    assert record["bank_id"] == bank["id"]
    assert record["registry"] == str(registry)
    saved = json.loads((registry / "champion.json").read_text())
    assert saved["champion"] == record["champion"] in ("pfa", "dkt")
    assert set(saved["candidates"]) == {"pfa", "dkt"}
    for metrics in saved["candidates"].values():
        assert 0.0 <= metrics["auc"] <= 1.0
    assert saved["n_students"] == 40
    assert saved["n_responses"] == 1000
    assert saved["n_heldout_students"] >= 1
    assert (registry / record["champion"]).is_dir()

    # the serving engine hot-swaps to the recorded champion
    from lti_tool.services import engine as engine_mod

    eng = engine_mod.get_engine(SimpleNamespace(**bank), tool_server.app)
    eng._checked = -1e9  # skip the 30 s reload throttle
    eng.maybe_reload()
    assert eng.model.name == record["champion"]

    page = platform.launch("instructor")
    assert page.status == 200
    assert 'id="engine-panel"' in page.html
    assert f'data-bank-id="{bank["id"]}"' in page.html
    assert f'data-champion="{record["champion"]}"' in page.html
    assert "Held-out AUC of the baseline" in page.html
    assert f"{saved['candidates']['pfa']['auc']:.3f}" in page.html
    assert "40 students, 1000 answers" in page.html
    assert "Retrain now" in page.html
    # the tracker fitted by the same job takes part in the mastery decisions, and the panel says so
    assert record["tracked_skills"] > 0
    assert json.loads((registry / "tracker.json").read_text())["params"]
    assert f"the per-skill mastery tracker ({record['tracked_skills']} skill" in page.html


def test_too_few_students_keeps_the_baseline_and_retrain_is_for_instructors(platform, activity, bank, tool_server,
                                                                           db, student_api):
    assert platform.launch("instructor").status == 200
    _simulate(db, bank, n_students=6, per_student=10, seed=1)
    registry = registry_of(tool_server, bank)

    student = student_api("student-9")
    r = student.post("/api/v1/engine/retrain", {})
    assert r.status_code == 403
    r = requests.post(tool_server.url + "/api/v1/engine/retrain", json={}, timeout=10)
    assert r.status_code == 401

    teacher = student_api(role="instructor")
    r = teacher.post("/api/v1/engine/retrain", {})
    assert r.status_code == 202, r.text
    assert r.json()["queued"] == [{"bank_id": bank["id"], "bank": bank["slug"]}]
    assert run_jobs(tool_server) >= 1  # the queued training.select ran with the library's thresholds
    saved = json.loads((registry / "champion.json").read_text())
    assert saved["champion"] == "pfa"
    assert saved["candidates"] == {}
    assert saved["n_students"] == 6
    assert "too thin" in saved["reason"]

    page = platform.launch("instructor")
    assert "baseline (not enough data yet)" in page.html
    assert "6 students, 60 answers" in page.html
    assert not (registry / "tracker.json").exists()  # 6 students: no skill can be tracked
    assert "the model's predicted success only" in page.html

    zh = platform.launch("instructor", locale="zh-CN")
    assert "基线" in zh.html
    assert "仅依据模型预测的答对概率" in zh.html


def test_removing_a_school_drops_the_shared_bank_engine_fitted_on_its_students(platform, activity, bank, tool_server,
                                                                              db):
    """The sample bank is global: every school's students answer in it. Removing a registration deletes its
    students' answers, so the engine, tracker and calibrated difficulties fitted on them go too (the baseline
    serves until the bank is retrained on what is left)."""
    from click.testing import CliRunner

    from lti_tool.cli import main
    from lti_tool.services import engine as engine_mod

    assert platform.launch("instructor").status == 200
    _simulate(db, bank, n_students=40, per_student=25, seed=3)
    record = _run(tool_server, bank_id=bank["id"], min_students=20, min_responses=300, epochs=1,
                  model_configs=TINY, models=["dkt"])
    registry = registry_of(tool_server, bank)
    assert (registry / "champion.json").is_file()
    assert (registry / "tracker.json").is_file()
    assert record["calibrated_items"] > 0
    eng = engine_mod.get_engine(SimpleNamespace(**bank), tool_server.app)
    eng._checked = -1e9
    eng.maybe_reload()
    assert eng.fingerprint == json.loads((registry / "champion.json").read_text())["fingerprint"]

    settings = tool_server.app.config["SETTINGS"]
    env = {"ADAPTIVE_LTI_DATABASE_URL": settings.resolved_database_url,
           "ADAPTIVE_LTI_SECRET_KEY": settings.secret_key.get_secret_value(),
           "ADAPTIVE_LTI_INSTANCE_PATH": str(settings.instance_path),
           "ADAPTIVE_LTI_KT_REGISTRY": str(registry_root(settings)), "ADAPTIVE_LTI_REDIS_URL": ""}
    res = CliRunner().invoke(main, ["platform", "remove", "--issuer", platform.issuer, "--client-id",
                                    platform.client_id, "--yes"], env=env, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "with 0 item bank(s)" in res.output
    assert (f"Shared bank {bank['slug']} (id {bank['id']}): its trained engine was deleted, the baseline serves it; "
            f"retrain it on the remaining answers with 'adaptive-lti engine retrain --bank {bank['id']} --wait'"
            in res.output)
    with db.session() as s:
        assert s.scalar(select(Item.id).where(Item.bank_id == bank["id"])) is not None  # the bank stays
        assert s.scalars(select(Attempt)).all() == []
        assert [it.calibrated_difficulty for it in s.scalars(select(Item))] == [None] * s.query(Item).count()
    assert not (registry / "champion.json").exists()
    assert not (registry / "tracker.json").exists()
    assert not (registry / record["champion"]).exists()
    eng._checked = -1e9
    eng.maybe_reload()
    assert eng.model.name == "pfa"  # the untrained baseline
    assert eng.tracker is None
    # nothing left to train on: the baseline keeps serving
    assert _run(tool_server, bank_id=bank["id"])["skipped"] == "no answers yet: the baseline serves"


def test_discarding_an_engine_waits_for_no_training(tmp_path):
    """A training holding the bank's lock may be reading answers being removed: nothing is deleted then."""
    from lti_tool.jobs.training import _registry_lock, discard_engine

    registry = tmp_path / "banks" / "1-sample"
    assert discard_engine(registry) is False  # never trained
    (registry / "dkt").mkdir(parents=True)
    (registry / "dkt" / "model.pt").write_bytes(b"x")
    (registry / "champion.json").write_text("{}")
    with _registry_lock(registry) as locked:
        assert locked
        assert discard_engine(registry) is None
        assert (registry / "champion.json").is_file()
    assert discard_engine(registry) is True
    assert sorted(p.name for p in registry.iterdir()) == [".training.lock"]
    assert discard_engine(registry) is False
