"""Instructor: the mastery panel and the personalized review assignment (a new line item; each student's own
weak skills)."""

from __future__ import annotations

from sqlalchemy import select

from lti_tool.models import LineItem, PracticeEnrolment, ReviewAssignment

from .test_api import right, wrong


def test_mastery_panel_and_personalized_review(student_api, platform, db):
    ada, alan = student_api("student-1"), student_api("student-2")
    for api, good in ((ada, True), (alan, False)):
        item = api.get("/api/v1/practice/next").json()["item"]
        for _ in range(4):
            ans = right(db, item["id"]) if good else wrong(db, item["id"])
            item = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": ans}).json()["next"]["item"]

    teacher = student_api(role="instructor")
    assert ada.get("/api/v1/practice/class").status_code == 403  # learners cannot see the class
    cls = teacher.get("/api/v1/practice/class").json()
    assert [s["items_answered"] for s in cls["students"]] == [4, 4]
    by_user = {s["name"]: s for s in cls["students"]}
    assert len(by_user["Ada Lovelace"]["weak_skills"]) == 3

    # the panel on the instructor's course page
    page = platform.launch("instructor")
    assert "Mastery by student" in page.html
    assert "Ada Lovelace" in page.html
    assert "Generate personalized review assignment" in page.html

    r = teacher.post("/api/v1/practice/reviews", {"skills_per_student": 2})
    assert r.status_code == 201, r.text
    review = r.json()["review"]
    assert review["n_students"] == 2
    with db.session() as s:
        line_item = s.get(LineItem, review["line_item_id"])
        assert line_item is not None
        assert line_item.resource_id == f"review-{review['id']}"
        assert line_item.canvas_launch_url.endswith(f"/lti/launch?review={review['id']}")
        enrolments = s.scalars(select(PracticeEnrolment).where(
            PracticeEnrolment.review_assignment_id == review["id"])).all()
        assert len(enrolments) == 2
        assert all(len(e.goal_skills) == 2 for e in enrolments)
        assert s.scalars(select(ReviewAssignment)).one().n_students == 2
    page = platform.launch("instructor")
    assert "(2 students)" in page.html
    assert """data-students='{"one": "{n} student", "other": "{n} students"}'""" in page.html  # for its script

    # the student sees the review and practises their own weak skills in it
    mine = ada.get("/api/v1/practice/reviews").json()["reviews"]
    assert len(mine) == 1
    nxt = ada.get(f"/api/v1/practice/next?review={mine[0]['id']}").json()
    assert nxt["activity"]["kind"] == "review"
    assert nxt["activity"]["title"] == mine[0]["title"]  # the review's own title, not the activity's
    assert nxt["item"]["explanation"]["params"]["skill_key"] in mine[0]["skills"] or \
        set(nxt["item"]["explanation"]["params"].get("unlocks_keys", [])) & set(mine[0]["skills"])
    # a review id that is not theirs is not found
    assert alan.get(f"/api/v1/practice/next?review={mine[0]['id'] + 999}").status_code == 404
