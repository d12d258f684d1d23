"""Personalized review assignments reach the LMS gradebook: their own line item is created through AGS, review work
is scored on THAT line item (never the activity's), and a Canvas launch from the review's own assignment lands on
the review. Black-box: real launches from the LMS simulator, the JSON API, the fake LMS records what it received."""

from __future__ import annotations

from sqlalchemy import select

from lti_tool.lti import claims as c
from lti_tool.models import LineItem, Registration, ResourceLink, ScoreOutbox
from lti_tool.services.grades import CANVAS_SUBMISSION_TYPE_EXT

from .conftest import LINK, run_jobs
from .test_api import right, wrong


def answer_n(api, db, n: int, *, good: bool = True, review: int | None = None) -> dict:
    path = "/api/v1/practice/next" + (f"?review={review}" if review else "")
    nxt = api.get(path).json()
    res: dict = {}
    for _ in range(n):
        item = nxt["item"]
        ans = right(db, item["id"]) if good else wrong(db, item["id"])
        r = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": ans})
        assert r.status_code == 200, r.text
        res = r.json()
        nxt = res["next"]
    return res


def lineitem_posts(lms) -> list:
    return [r for r in lms.requests_of("lineitems") if r.method == "POST"]


def test_review_scores_wait_for_the_review_line_item_then_land_on_it(student_api, platform, lms, tool_server, db):
    course = platform.course.id
    ada, alan = student_api("student-1"), student_api("student-2")
    answer_n(ada, db, 2)
    answer_n(alan, db, 2, good=False)
    run_jobs(tool_server)
    activity_scores = lms.scores_for(course, LINK)
    assert {s["userId"] for s in activity_scores} == {"student-1", "student-2"}

    teacher = student_api(role="instructor")
    r = teacher.post("/api/v1/practice/reviews", {"skills_per_student": 2, "title": "Review week 3"})
    assert r.status_code == 201, r.text
    review = r.json()["review"]
    with db.session() as s:
        assert s.get(LineItem, review["line_item_id"]).url is None  # the creation job has not run yet

    # The LMS refuses the line items service for a while: the review's scores wait for their column.
    lms.fail("lineitems", 503, times=None)
    res = answer_n(ada, db, 3, review=review["id"])
    assert res["next"]["activity"]["kind"] == "review"
    run_jobs(tool_server)
    with db.session() as s:
        rows = s.scalars(select(ScoreOutbox).where(ScoreOutbox.line_item_id == review["line_item_id"])
                          .order_by(ScoreOutbox.id)).all()
        assert [r.status for r in rows] == ["superseded", "superseded", "pending"]
        waiting = rows[-1]
        assert waiting.attempts == 0  # waiting for the line item never uses up the score's attempts
        assert "gradebook column" in waiting.last_error
        assert s.get(LineItem, review["line_item_id"]).url is None
    assert lms.scores_for(course, LINK) == activity_scores  # review work never lands on the activity's column

    lms.up()
    tool_server.app.extensions["jobs"].dispatch("grades.ensure_line_item", {"line_item_id": review["line_item_id"]})
    run_jobs(tool_server)

    created = [p for p in lineitem_posts(lms) if p.status == 201]
    assert len(created) == 1
    assert created[0].body["resourceId"] == f"review-{review['id']}"
    assert created[0].body["label"] == "Review week 3"
    with db.session() as s:
        url = s.get(LineItem, review["line_item_id"]).url
    li = url.rstrip("/").rsplit("/", 1)[1]
    got = lms.scores_for(course, li)
    assert [s["userId"] for s in got] == ["student-1"]
    assert got[0]["scoreGiven"] == res["score"]["given"]
    assert got[0]["scoreMaximum"] == 1.0
    assert got[0]["comment"] == res["score"]["comment"]
    assert got[0]["comment"] == f"{res['progress']['skills_mastered']} of 2 skills mastered"
    assert res["progress"]["skills_total"] == 2  # the review's goal: Ada's own two weakest skills
    # the line item was created before the score was posted to it
    score_post = next(r for r in lms.requests_of("scores") if f"/lineitems/{li}/" in r.path and r.status == 200)
    assert created[0].at <= score_post.at
    assert lms.scores_for(course, LINK) == activity_scores


def test_canvas_launch_from_the_review_assignment_lands_on_the_review(student_api, platform, lms, tool_server, db):
    course = platform.course.id
    with db.session() as s:
        s.scalars(select(Registration)).one().product_family = "canvas"
    ada = student_api("student-1")
    answer_n(ada, db, 2)
    teacher = student_api(role="instructor")
    review = teacher.post("/api/v1/practice/reviews", {"skills_per_student": 2}).json()["review"]
    run_jobs(tool_server)

    # Canvas gets a launchable assignment whose launch URL names the review
    (post,) = lineitem_posts(lms)
    launch_url = post.body[CANVAS_SUBMISSION_TYPE_EXT]["external_tool_url"]
    assert post.body[CANVAS_SUBMISSION_TYPE_EXT]["type"] == "external_tool"
    assert launch_url == f"{tool_server.url}/lti/launch?review={review['id']}"
    with db.session() as s:
        lineitem_url = s.get(LineItem, review["line_item_id"]).url
    assert lineitem_url

    # Canvas launches the assignment: its own resource link, the review's line item, target_link_uri = launch URL
    ags = {"scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                     "https://purl.imsglobal.org/spec/lti-ags/scope/score"],
           "lineitems": platform.lineitems_url(course), "lineitem": lineitem_url}
    canvas = {c.TARGET_LINK_URI: launch_url, c.RESOURCE_LINK: {"id": "canvas-assignment-42", "title": "Review 1"},
              c.CUSTOM: {}, c.AGS_ENDPOINT: ags}
    ada_review = student_api("student-1", claims=canvas)
    nxt = ada_review.get("/api/v1/practice/next").json()
    assert nxt["activity"]["kind"] == "review"
    mine = {r["id"]: r["skills"] for r in ada.get("/api/v1/practice/reviews").json()["reviews"]}
    assert nxt["progress"]["skills_total"] == len(mine[review["id"]]) == 2
    assert {m["skill"] for m in nxt["mastery"] if m["in_goal"]} == set(mine[review["id"]])
    with db.session() as s:
        link = s.scalars(select(ResourceLink).where(ResourceLink.resource_link_id == "canvas-assignment-42")).one()
        assert link.settings == {"review_assignment": review["id"]}
        assert s.get(LineItem, review["line_item_id"]).resource_link_id == link.id
        n_items = s.scalar(select(LineItem.id).order_by(LineItem.id.desc()).limit(1))
    res = answer_n(ada_review, db, 1)
    run_jobs(tool_server)
    li = lineitem_url.rstrip("/").rsplit("/", 1)[1]
    (score,) = lms.scores_for(course, li)
    assert score["userId"] == "student-1"
    assert score["comment"] == res["score"]["comment"]
    assert "https://canvas.instructure.com/lti/submission" in score

    # a later launch of that assignment needs nothing in the URL: the link stays the review's
    later = student_api("student-1", claims={**canvas, c.TARGET_LINK_URI: f"{tool_server.url}/lti/launch",
                                             c.AGS_ENDPOINT: {**ags, "lineitem": lineitem_url}})
    assert later.get("/api/v1/practice/next").json()["activity"]["kind"] == "review"
    # a student who joined after the review was generated gets their own review on first launch
    emmy = student_api("student-3", claims=canvas)
    first = emmy.get("/api/v1/practice/next").json()
    assert first["activity"]["kind"] == "review"
    assert first["progress"]["skills_total"] == 2
    with db.session() as s:  # no extra gradebook column was made for the Canvas link
        assert s.scalar(select(LineItem.id).order_by(LineItem.id.desc()).limit(1)) == n_items


def test_a_review_of_another_course_is_never_linked(student_api, platform, lms, tool_server, db):
    ada = student_api("student-1")
    answer_n(ada, db, 1)
    teacher = student_api(role="instructor")
    review = teacher.post("/api/v1/practice/reviews", {"skills_per_student": 2}).json()["review"]
    other = {c.CONTEXT: {"id": "course-202", "title": "Another course"},
             c.TARGET_LINK_URI: f"{tool_server.url}/lti/launch?review={review['id']}",
             c.RESOURCE_LINK: {"id": "other-assignment"}, c.CUSTOM: {"review_assignment": str(review["id"])}}
    intruder = student_api("student-1", claims=other)
    body = intruder.get("/api/v1/practice/next").json()
    assert body["activity"]["kind"] == "adaptive"
    assert intruder.get("/api/v1/practice/reviews").json()["reviews"] == []
    with db.session() as s:
        link = s.scalars(select(ResourceLink).where(ResourceLink.resource_link_id == "other-assignment")).one()
        assert not (link.settings or {}).get("review_assignment")
