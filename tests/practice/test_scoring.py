"""The score the LMS receives follows the activity's settings (deep linking's custom parameters, or the link's
stored settings): the share of the goal's skills mastered, or the share of answers correct, with a comment."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lti_tool.models import ResourceLink

from .conftest import LINK, run_jobs
from .test_api import right, wrong


def play(api, db, pattern: str) -> dict:
    """Answer one item per letter of ``pattern`` (r: right, w: wrong) until the goal is reached; returns the last
    answer's response."""
    item = api.get("/api/v1/practice/next").json()["item"]
    res: dict = {}
    for ch in pattern:
        if item is None:
            break
        ans = right(db, item["id"]) if ch == "r" else wrong(db, item["id"])
        res = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": ans}).json()
        item = res["next"]["item"]
    return res


def test_share_correct_scores_the_answers(student_api, platform, activity, lms, tool_server, db):
    activity["custom"].update(scoring="share_correct")
    api = student_api("student-1")
    res = play(api, db, "rwrr")
    assert res["score"]["scoring"] == "share_correct"
    run_jobs(tool_server)
    (score,) = lms.scores_for(platform.course.id, LINK, "student-1")  # the newest one supersedes the others
    assert score["scoreGiven"] == 0.75
    assert score["scoreMaximum"] == 1.0
    assert score["comment"] == "3 of 4 answers correct"
    assert score["activityProgress"] == "InProgress"
    assert score["gradingProgress"] == "FullyGraded"


def test_mastery_scores_the_goal_skills_mastered(student_api, platform, activity, lms, tool_server, db):
    activity["custom"].update(scoring="mastery", goal_skills="3", mastery_threshold="0.8")
    api = student_api("student-1")
    res = play(api, db, "r" * 7)
    progress = res["progress"]
    assert progress["skills_total"] == 3  # the goal: the bank's first three skills
    assert 1 <= progress["skills_mastered"] < 3  # the untrained engine needs about 4 right answers a skill
    run_jobs(tool_server)
    (score,) = lms.scores_for(platform.course.id, LINK, "student-1")
    assert score["scoreGiven"] == pytest.approx(progress["skills_mastered"] / 3)
    assert res["score"]["given"] == round(progress["skills_mastered"] / 3, 4)
    assert score["comment"] == f"{progress['skills_mastered']} of 3 skills mastered"
    assert score["activityProgress"] == "InProgress"

    res = play(api, db, "r" * 20)  # until the goal is reached
    assert res["progress"]["skills_mastered"] == 3
    run_jobs(tool_server)
    last = lms.scores_for(platform.course.id, LINK, "student-1")[-1]
    assert (last["scoreGiven"], last["comment"]) == (1.0, "3 of 3 skills mastered")
    assert last["activityProgress"] == "Completed"


def test_the_links_stored_settings_override_its_custom_parameters(student_api, platform, activity, lms, tool_server,
                                                                   db):
    activity["custom"].update(scoring="mastery")
    api = student_api("student-1")
    with db.session() as s:
        link = s.scalars(select(ResourceLink).where(ResourceLink.resource_link_id == LINK)).one()
        link.settings = {"scoring": "share_correct"}
    res = play(api, db, "wr")
    run_jobs(tool_server)
    (score,) = lms.scores_for(platform.course.id, LINK, "student-1")
    assert res["score"]["scoring"] == "share_correct"
    assert (score["scoreGiven"], score["comment"]) == (0.5, "1 of 2 answers correct")


def test_wrong_answers_on_one_skill_do_not_take_back_mastery_shown_on_others(student_api, activity, db):
    """The engine's ability term is shared by every skill, so wrong answers on one skill lower every estimate a
    little; a mastered skill (each keeps the highest estimate reached) stays mastered, and scored, until its own
    answers say otherwise."""
    from lti_tool.services.practice import credited, update_credit

    activity["custom"].update(scoring="mastery", goal_skills="0", mastery_threshold="0.8")
    api = student_api("student-1")
    item = api.get("/api/v1/practice/next").json()["item"]
    for _ in range(40):  # right answers until three skills are mastered (the goal, all eleven, is still open)
        res = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": right(db, item["id"])}).json()
        item = res["next"]["item"]
        before = {m["skill"] for m in res["mastery"] if m["mastered"]}
        if len(before) >= 3:
            break
    assert len(before) >= 3
    assert item is not None
    wronged: set[str] = set()
    for _ in range(6):  # six wrong answers on whatever comes next
        assert item is not None
        wronged |= {s["key"] for s in item["skills"]}
        res = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": wrong(db, item["id"])}).json()
        item = res["next"]["item"]
    after = {m["skill"] for m in res["mastery"] if m["mastered"]}
    assert before - wronged <= after  # untouched skills keep their mastery
    assert res["score"]["given"] >= round(len(before - wronged) / res["progress"]["skills_total"], 4)
    # the same view on a fresh request (the credit is stored with the learner)
    again = {m["skill"] for m in api.get("/api/v1/practice/mastery").json()["mastery"] if m["mastered"]}
    assert again == after

    # the rule itself: every skill keeps its highest estimate, except that a wrong answer sets its own skills'
    record = {"credit": {"a": 0.85, "b": 0.9}}
    now = {"a": (0.79, 0.1), "b": (0.88, 0.1), "c": (0.5, 0.2)}
    assert update_credit(record, now, ["b"], True) == {"a": 0.85, "b": 0.9, "c": 0.5}
    assert update_credit(record, now, ["a"], False) == {"a": 0.79, "b": 0.9, "c": 0.5}
    assert update_credit(record, now, ["c"], False) == {"a": 0.85, "b": 0.9, "c": 0.5}
    assert credited(now, record) == {"a": (0.85, 0.1), "b": (0.9, 0.1), "c": (0.5, 0.2)}


@pytest.mark.parametrize("scoring", ["mastery", "share_correct"])
def test_an_activity_whose_goal_is_already_mastered(student_api, platform, activity, lms, tool_server, db, scoring):
    """A second activity on the same bank whose goal the learner mastered in the first: done at once; with
    mastery scoring its full score goes to the LMS, with share_correct nothing does (and the page says nothing
    was sent)."""
    activity["custom"].update(scoring="mastery", goal_skills="2", mastery_threshold="0.8")
    first = student_api("student-1")
    res = play(first, db, "r" * 20)
    assert res["progress"]["skills_mastered"] == 2
    platform.course.links["rl-more"] = {"title": "More fractions", "custom": {
        "item_bank": activity["custom"]["item_bank"], "mastery_threshold": "0.8", "goal_skills": "2",
        "scoring": scoring}}
    result = platform.launch("student", sub="student-1", resource_link_id="rl-more")
    assert result.status == 200
    second = type(first)(first.base, result.token, first.http)
    body = second.get("/api/v1/practice/next").json()
    assert body["done"] is True
    assert body["progress"]["items_answered"] == 0
    assert body["progress"]["completed"] is True
    assert body["score"]["sent"] is (scoring == "mastery")
    run_jobs(tool_server)
    sent = lms.scores_for(platform.course.id, "rl-more", "student-1")
    if scoring == "mastery":
        assert [(s["scoreGiven"], s["activityProgress"]) for s in sent] == [(1.0, "Completed")]
    else:
        assert sent == []
    assert second.get("/api/v1/practice/next").json()["done"] is True  # and only once
    run_jobs(tool_server)
    assert len(lms.scores_for(platform.course.id, "rl-more", "student-1")) == len(sent)


def test_a_question_left_open_does_not_hold_back_a_goal_reached_meanwhile(student_api, platform, activity, lms,
                                                                          tool_server, db):
    activity["custom"].update(scoring="mastery", goal_skills="2", mastery_threshold="0.8")
    platform.course.links["rl-more"] = {"title": "More fractions", "custom": {
        "item_bank": activity["custom"]["item_bank"], "mastery_threshold": "0.8", "goal_skills": "2",
        "scoring": "mastery"}}
    first = student_api("student-1")
    result = platform.launch("student", sub="student-1", resource_link_id="rl-more")
    second = type(first)(first.base, result.token, first.http)
    assert second.get("/api/v1/practice/next").json()["item"] is not None  # served, left unanswered
    assert play(first, db, "r" * 20)["progress"]["skills_mastered"] == 2  # the goal, mastered in the first
    body = second.get("/api/v1/practice/next").json()
    assert body["done"] is True
    assert body["resumed"] is False
    assert body["score"]["sent"] is True
    run_jobs(tool_server)
    assert [(s["scoreGiven"], s["activityProgress"]) for s in lms.scores_for(platform.course.id, "rl-more",
                                                                            "student-1")] == [(1.0, "Completed")]


def test_no_answer_no_score_even_when_the_prior_clears_the_threshold(student_api, platform, activity, lms,
                                                                     tool_server, db):
    """A threshold at or under the untrained model's prior (0.5 < 0.7) makes every skill look mastered before the
    first answer; that is not a grade: nothing goes to the LMS until the student answers."""
    activity["custom"].update(scoring="mastery", goal_skills="0", mastery_threshold="0.5")
    api = student_api("student-1")
    body = api.get("/api/v1/practice/next").json()
    assert body["progress"]["items_answered"] == 0
    assert body["score"]["sent"] is False
    assert body["progress"]["completed"] is False
    assert body["item"] is not None  # a question to answer, not a dead end
    run_jobs(tool_server)
    assert lms.scores_for(platform.course.id, LINK, "student-1") == []
    # one answer, and the (trivial) goal is reached and graded
    res = api.post("/api/v1/practice/answer", {"item_id": body["item"]["id"], "answer": right(db, body["item"]["id"])})
    assert res.json()["next"]["progress"]["completed"] is True  # (spaced reviews may still be offered)
    run_jobs(tool_server)
    assert lms.scores_for(platform.course.id, LINK, "student-1")[-1]["activityProgress"] == "Completed"


def test_a_review_of_skills_already_mastered_is_practised_once_then_completes(student_api, activity, db):
    from sqlalchemy import select

    from lti_tool.models import PracticeEnrolment

    activity["custom"].update(scoring="mastery", goal_skills="2", mastery_threshold="0.8")
    ada = student_api("student-1")
    res = play(ada, db, "r" * 20)
    goal = [m["skill"] for m in res["mastery"] if m["in_goal"]]
    review = student_api(role="instructor").post("/api/v1/practice/reviews", {"skills_per_student": 2}).json()
    review_id = review["review"]["id"]
    with db.session() as s:  # what the review's "everything mastered: the least secure skills" branch gives
        s.scalars(select(PracticeEnrolment).where(PracticeEnrolment.review_assignment_id == review_id)
                  ).one().goal_skills = goal
        s.commit()
    nxt = ada.get(f"/api/v1/practice/next?review={review_id}").json()
    assert nxt["item"] is not None  # practised, not a dead end
    after = ada.post("/api/v1/practice/answer", {"item_id": nxt["item"]["id"],
                                                 "answer": right(db, nxt["item"]["id"])}).json()
    assert after["next"]["done"] is True
    assert after["next"]["progress"]["completed"] is True


def test_an_open_question_is_kept_while_a_review_is_due_after_the_goal(student_api, activity, db):
    """Goal mastered, a month later spaced reviews are due: reloading resumes the question on screen instead of
    serving a new one each time."""
    from sqlalchemy import func, select

    from lti_tool.models import LearnerState, ServedItem

    activity["custom"].update(scoring="mastery", goal_skills="2", mastery_threshold="0.8")
    api = student_api("student-1")
    assert play(api, db, "r" * 40)["next"]["item"] is None  # the goal
    with db.session() as s:
        for row in s.scalars(select(LearnerState)):
            row.record = {**row.record, "last_practiced": {k: v - 30 * 86400
                                                           for k, v in row.record["last_practiced"].items()}}
        s.commit()
    first = api.get("/api/v1/practice/next").json()
    assert first["item"] is not None  # a review is due
    with db.session() as s:
        served = s.scalar(select(func.count()).select_from(ServedItem))
    again = api.get("/api/v1/practice/next").json()
    assert again["resumed"] is True
    assert again["item"]["id"] == first["item"]["id"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ServedItem)) == served


def test_a_retraining_does_not_take_credited_mastery_back(student_api, activity, db, tool_server):
    """A new champion has a new fingerprint and so a new learner-state row: the credit carries over."""
    from sqlalchemy import update

    from lti_tool.models import LearnerState

    activity["custom"].update(scoring="mastery", goal_skills="0", mastery_threshold="0.8")
    api = student_api("student-1")
    play(api, db, "r" * 16 + "w" * 6)  # the wrong answers lower the model's estimates, not the credit
    before = {m["skill"] for m in api.get("/api/v1/practice/mastery").json()["mastery"] if m["mastered"]}
    assert before
    with db.session() as s:  # what a retraining does to the learner's row: another model's
        s.execute(update(LearnerState).values(model_fingerprint="previous-champion"))
        s.commit()
    tool_server.app.extensions.pop("practice_engines", None)
    after = {m["skill"] for m in api.get("/api/v1/practice/mastery").json()["mastery"] if m["mastered"]}
    assert after >= before


def test_an_odd_goal_from_the_lms_means_every_skill(student_api, activity):
    for odd in ("inf", "-inf", "nan", "lots"):
        activity["custom"].update(goal_skills=odd)
        body = student_api("student-1").get("/api/v1/practice/next")
        assert body.status_code == 200, (odd, body.text[:200])
        assert body.json()["progress"]["skills_total"] == 11
