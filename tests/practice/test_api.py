"""The practice API end to end: a real launch from the LMS simulator, then the JSON API with the Bearer token."""

from __future__ import annotations

from sqlalchemy import func, select

from lti_tool.models import Attempt, LearnerState, PracticeEnrolment, ScoreOutbox, ServedItem
from lti_tool.services import answers
from lti_tool.services.answers import Variant


def served_variant(db, served_id: int) -> Variant:
    with db.session() as s:
        return Variant.from_dict(s.get(ServedItem, served_id).variant)


def right(db, served_id: int):
    return answers.correct_answer(served_variant(db, served_id))


def wrong(db, served_id: int):
    return answers.wrong_answer(served_variant(db, served_id))


def count(db, model, *where) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_next_answer_feedback_score_and_outbox(student_api, db):
    api = student_api()
    r = api.get("/api/v1/practice/next")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["api_version"] == "1"
    assert body["done"] is False
    item = body["item"]
    assert item["stem_html"]
    assert item["explanation"]["text"]  # e.g. "Fractions: 70% mastered, prerequisite of ..."
    assert "mastered" in item["explanation"]["text"]
    assert body["progress"]["skills_total"] >= 8
    # a student with no answers has made no progress yet (not the prior's P(correct) over the threshold)
    assert body["progress"]["fraction"] == 0.0
    assert {m["skill"] for m in body["mastery"]} >= set(body["mastery"][0]["prerequisites"])
    # the answer key never reaches the browser
    assert "answer_spec" not in r.text
    assert "correct_answer" not in r.text

    # resume: asking again gives the same item, nothing new served
    again = api.get("/api/v1/practice/next").json()
    assert again["item"]["id"] == item["id"]
    assert again["resumed"] is True
    assert count(db, ServedItem) == 1

    r = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": right(db, item["id"])})
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["correct"] is True
    assert res["feedback"]["key"] == "correct"
    assert res["score"]["maximum"] == 1.0
    assert "skills mastered" in res["score"]["comment_text"]
    assert res["next"]["item"]["id"] != item["id"]
    before = {m["skill"]: m["p"] for m in body["mastery"]}
    after = {m["skill"]: m["p"] for m in res["mastery"]}
    assert any(after[k] > before[k] for k in before)  # mastery moved up after a correct answer

    # one transaction wrote the attempt, the state and the score's outbox row
    assert count(db, Attempt) == 1
    assert count(db, LearnerState) == 1
    assert count(db, ScoreOutbox) == 1
    with db.session() as s:
        outbox = s.scalars(select(ScoreOutbox)).one()
        assert "skills mastered" in outbox.comment
        assert outbox.score_maximum == 1.0

    nxt = res["next"]["item"]
    r = api.post("/api/v1/practice/answer", {"item_id": nxt["id"], "answer": wrong(db, nxt["id"])})
    res2 = r.json()
    assert res2["correct"] is False
    assert res2["feedback"]["key"] == "incorrect"
    assert res2["feedback"]["correct_answer"] is not None


def test_double_submit_is_idempotent(student_api, db):
    api = student_api()
    item = api.get("/api/v1/practice/next").json()["item"]
    answer = right(db, item["id"])
    first = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": answer}).json()
    second = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": wrong(db, item["id"])})
    assert second.status_code == 200
    assert second.json()["duplicate"] is True
    assert second.json()["correct"] is first["correct"] is True  # graded once, against the first answer
    assert count(db, Attempt) == 1


def test_invalid_answer_is_refused_without_an_attempt(student_api, db):
    api = student_api()
    item = api.get("/api/v1/practice/next").json()["item"]
    r = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": ""})
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_answer"
    assert count(db, Attempt) == 0
    bad = api.post("/api/v1/practice/answer", {"answer": "1"})
    assert bad.status_code == 400


def test_odd_ids_are_not_found_not_server_errors(student_api, db):
    """Ids the database cannot hold (10**30, 1e300, 5,000 digits) or that are not ids (true, a list) answer 404."""
    api = student_api()
    item = api.get("/api/v1/practice/next").json()["item"]
    for odd in (10**30, 1e300, -1, 0, True, 1.0, "9" * 5000, [item["id"]], {"id": item["id"]}):
        r = api.post("/api/v1/practice/answer", {"item_id": odd, "answer": right(db, item["id"])})
        assert r.status_code == 404, (odd, r.status_code, r.text[:200])
    for odd in ("99999999999999999999999", "-5", "abc", "1.0"):
        assert api.get(f"/api/v1/practice/next?review={odd}").status_code == 404
    assert count(db, Attempt) == 0
    ok = api.post("/api/v1/practice/answer", {"item_id": str(item["id"]), "answer": right(db, item["id"])})
    assert ok.status_code == 200  # a string of digits is still an id


def test_tenancy_another_students_item_is_not_found(student_api, db):
    ada = student_api("student-1")
    alan = student_api("student-2")
    item = ada.get("/api/v1/practice/next").json()["item"]
    r = alan.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": right(db, item["id"])})
    assert r.status_code == 404
    assert count(db, Attempt) == 0
    # each student has an own sequence (enrolment)
    alan.get("/api/v1/practice/next")
    assert count(db, PracticeEnrolment) == 2


def test_no_token_no_access_and_instructor_is_not_a_learner(student_api, tool_server, http):
    assert http.get(tool_server.url + "/api/v1/practice/next", timeout=10).status_code == 401
    teacher = student_api(role="instructor")
    assert teacher.get("/api/v1/practice/next").status_code == 403


def test_test_user_attempts_are_flagged_and_not_graded(student_api, db):
    from lti_tool.lti import claims as c

    roles = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner", c.TEST_USER]
    api = student_api("student-3", claims={c.ROLES: roles})
    item = api.get("/api/v1/practice/next").json()["item"]
    r = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": right(db, item["id"])})
    assert r.json()["correct"] is True
    with db.session() as s:
        attempt = s.scalars(select(Attempt)).one()
        assert attempt.is_test_user is True
        assert s.get(ServedItem, item["id"]).is_test_user is True
    assert count(db, ScoreOutbox) == 0
