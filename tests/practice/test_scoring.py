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
