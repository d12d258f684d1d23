"""Grade passback through the outbox, asserted on what the fake LMS received."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from lti_tool.models import ScoreOutbox
from lti_tool.services import grades

from .conftest import drain, make_course, record, statuses


def test_service_url_goes_into_the_path_before_the_query():
    assert grades.service_url("https://m.example/mod/lti/services.php/2/lineitems/2/lineitem?type_id=1",
                              "scores") == "https://m.example/mod/lti/services.php/2/lineitems/2/lineitem/scores?type_id=1"
    assert grades.service_url("https://c.example/api/lti/courses/1/line_items/7/", "results") == \
        "https://c.example/api/lti/courses/1/line_items/7/results"


def test_link_header_quoted_unquoted_and_canvas_line_keep_case():
    canvas = ('<https://c.example/api/lti/courses/1/names_and_roles?page=1&per_page=50>; rel="current",'
              '<https://c.example/api/lti/courses/1/names_and_roles?page=2&per_page=50&Cursor=AbC>; rel="next",'
              '<https://c.example/api/lti/courses/1/names_and_roles?page=1&per_page=50>; rel="first",'
              '<https://c.example/api/lti/courses/1/names_and_roles?page=3&per_page=50>; rel="last"')
    assert grades.next_link(canvas).endswith("page=2&per_page=50&Cursor=AbC")
    assert grades.next_link("<https://m.example/x?Page=2>; rel=next") == "https://m.example/x?Page=2"
    assert grades.next_link('<https://m.example/x?a=1,2>; rel="prev", <https://m.example/y>; REL="next"') == \
        "https://m.example/y"
    assert grades.next_link(None) is None


@pytest.mark.parametrize("lms", ["moodle"], indirect=True)
def test_moodle_scores_reach_the_lms_at_the_path_before_the_query(db, gsettings, lms, course):
    record(db, course, "s1", 7)
    record(db, course, "s2", 9.5, comment="well done")
    drain(db, gsettings)
    received = lms.requests_of("scores")
    assert [r.path for r in received] == ["/ags/contexts/C1/lineitems/li-1/lineitem/scores"] * 2
    assert all(r.query == "type_id=1" for r in received)
    assert all(r.headers["Content-Type"] == "application/vnd.ims.lis.v1.score+json" for r in received)
    assert all(r.headers["User-Agent"].startswith("adaptive-lti/") for r in received)
    assert lms.gradebook("C1", "li-1") == {"s1": 7, "s2": 9.5}
    body = lms.scores_for(user_id="s2")[0]
    assert body["scoreMaximum"] == 10
    assert body["comment"] == "well done"
    assert body["activityProgress"] == "Completed"
    assert body["gradingProgress"] == "FullyGraded"
    assert "https://canvas.instructure.com/lti/submission" not in body
    # One token for both posts (cached), obtained from a text/html answer, with only the score scope.
    tokens = lms.requests_of("token")
    assert len(tokens) == 1
    assert tokens[0].body["scope"] == "https://purl.imsglobal.org/spec/lti-ags/scope/score"
    assert set(statuses(db).values()) == {"delivered"}


@pytest.mark.parametrize("lms", ["canvas"], indirect=True)
def test_canvas_gets_submission_extension_and_test_student_is_final(db, gsettings, lms):
    course = make_course(db, lms, product_family="canvas", subs=("s1", "teststudent"))
    lms.reject_user("teststudent")  # Canvas 422
    record(db, course, "s1", 5)
    bad = record(db, course, "teststudent", 5)
    drain(db, gsettings)
    body = lms.scores_for(user_id="s1")[0]
    ext = body["https://canvas.instructure.com/lti/submission"]
    assert ext["new_submission"] is True
    assert dt.datetime.fromisoformat(ext["submitted_at"].replace("Z", "+00:00")) == \
        dt.datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert len(lms.requests_of("scores")) == 2  # the 422 was not retried
    with db.session() as s:
        row = s.get(ScoreOutbox, bad)
        assert row.status == "rejected"
        assert row.last_status_code == 422
        assert "Test Student" in row.last_error


def test_test_user_and_missing_score_scope_write_nothing(db, gsettings, lms):
    course = make_course(db, lms, subs=("s1", "preview"), test_users=("preview",))
    assert record(db, course, "preview", 3) is None
    other = make_course(db, lms, lms_context="C2", scopes=("https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",))
    assert record(db, other, "s1", 3) is None
    assert statuses(db) == {}


def test_newer_scores_supersede_undelivered_ones(db, gsettings, lms, course):
    first = record(db, course, "s1", 1)
    record(db, course, "s1", 2)
    last = record(db, course, "s1", 3)
    drain(db, gsettings)
    assert [b["scoreGiven"] for b in lms.scores_for(user_id="s1")] == [3]
    st = statuses(db)
    assert st[first] == "superseded"
    assert st[last] == "delivered"


def test_lms_down_then_back_every_score_arrives_last_one_wins(db, gsettings, lms, course):
    record(db, course, "s1", 1)
    drain(db, gsettings)
    lms.down(503, retry_after=0)
    for i in range(6):
        for sub in ("s1", "s2", "s3"):
            record(db, course, sub, i * 1.5 + (sub == "s2"))
        for _ in range(3):
            grades.deliver_due(db, gsettings)
            time.sleep(0.03)
    assert lms.gradebook("C1", "li-1") == {"s1": 1}
    assert any(r.status == 503 for r in lms.requests_of("scores"))
    lms.up()
    drain(db, gsettings)
    assert lms.gradebook("C1", "li-1") == {"s1": 7.5, "s2": 8.5, "s3": 7.5}
    for sub, want in (("s1", 7.5), ("s2", 8.5), ("s3", 7.5)):
        assert lms.scores_for(user_id=sub)[-1]["scoreGiven"] == want
    assert "pending" not in statuses(db).values()


def test_retry_after_is_honoured(db, gsettings, lms, course):
    lms.fail("scores", 503, times=1, retry_after=1)
    record(db, course, "s1", 4)
    grades.deliver_due(db, gsettings)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not lms.gradebook("C1", "li-1"):
        grades.deliver_due(db, gsettings)
        time.sleep(0.05)
    posts = lms.requests_of("scores")
    assert [p.status for p in posts] == [503, 200]
    assert posts[1].at - posts[0].at >= 0.95


@pytest.mark.parametrize("fault", ["429", "500", "timeout", "drop", "token503"])
def test_transient_faults_are_retried_until_delivered(db, gsettings, lms, course, fault):
    if fault == "429":
        lms.fail("scores", 429, times=2, retry_after=0)
    elif fault == "500":
        lms.fail("scores", 500, times=2)
    elif fault == "timeout":
        lms.delay("scores", 1.5, times=1)  # the client gives up after 1s; the LMS still records it later
    elif fault == "drop":
        lms.drop("scores", times=2)
    else:
        lms.fail("token", 503, times=2)
    record(db, course, "s1", 6)
    drain(db, gsettings)
    assert lms.gradebook("C1", "li-1") == {"s1": 6}
    with db.session() as s:
        row = s.query(ScoreOutbox).one()
        assert row.status == "delivered"
        assert row.attempts >= 2


def test_after_max_attempts_failed_then_instructor_retry_delivers(db, gsettings, lms, course):
    settings = gsettings.model_copy(update={"grade_max_attempts": 3})
    lms.fail("scores", 500, times=None)
    rid = record(db, course, "s1", 8)
    deadline = time.monotonic() + 5
    while statuses(db)[rid] == "pending" and time.monotonic() < deadline:
        grades.deliver_due(db, settings)
        time.sleep(0.05)
    assert statuses(db)[rid] == "failed"
    assert len(lms.requests_of("scores")) == 3
    with db.session() as s:
        assert grades.outbox_counts(s)["failed"] == 1
        assert [r[0].id for r in grades.list_scores(s, course.context_id, ["failed"])] == [rid]
        # another course cannot retry it
        assert grades.retry_scores(s, course.context_id + 999) == []
    lms.up()
    with db.session() as s:
        assert grades.retry_scores(s, course.context_id) == [rid]
    drain(db, settings)
    assert lms.gradebook("C1", "li-1") == {"s1": 8}


@pytest.mark.parametrize("lms", ["moodle"], indirect=True)
def test_moodle_409_same_second_is_resent_with_fresh_timestamp(db, gsettings, lms, course):
    now = dt.datetime.now(dt.UTC).replace(microsecond=100_000)
    record(db, course, "s1", 3, timestamp=now)
    drain(db, gsettings)
    record(db, course, "s1", 9, timestamp=now + dt.timedelta(milliseconds=500))  # same second
    drain(db, gsettings)
    posts = lms.requests_of("scores")
    assert [p.status for p in posts] == [200, 409, 200]
    assert lms.gradebook("C1", "li-1") == {"s1": 9}
    assert posts[2].body["timestamp"] > posts[1].body["timestamp"]


@pytest.mark.parametrize("lms", ["canvas"], indirect=True)
def test_canvas_redelivery_of_a_score_it_already_has_counts_as_delivered(db, gsettings, lms):
    course = make_course(db, lms, product_family="canvas")
    rid = record(db, course, "s1", 5)
    drain(db, gsettings)
    with db.session() as s:  # as if the worker died after the POST but before marking it
        s.get(ScoreOutbox, rid).status = "pending"
    drain(db, gsettings)
    assert [p.status for p in lms.requests_of("scores")] == [200, 400]
    assert statuses(db)[rid] == "delivered"


def test_expired_token_is_refreshed_once(db, gsettings, lms, course):
    record(db, course, "s1", 1)
    drain(db, gsettings)
    lms.expire_tokens()
    record(db, course, "s1", 2)
    drain(db, gsettings)
    assert [p.status for p in lms.requests_of("scores")] == [200, 401, 200]
    assert len(lms.requests_of("token")) == 2


def test_tokens_are_never_shared_between_registrations_on_one_issuer(db, gsettings, lms):
    a = make_course(db, lms, client_id="school-a", issuer="https://canvas.instructure.com", lms_context="A")
    b = make_course(db, lms, client_id="school-b", issuer="https://canvas.instructure.com", lms_context="B")
    record(db, a, "s1", 1)
    record(db, b, "s1", 2)
    drain(db, gsettings)
    assert len(lms.requests_of("token")) == 2
    assert {t["client_id"] for t in lms.tokens.values()} == {"school-a", "school-b"}
    assert lms.gradebook("A", "li-1") == {"s1": 1}
    assert lms.gradebook("B", "li-1") == {"s1": 2}


def test_line_item_is_created_when_the_platform_made_none(db, gsettings, lms):
    course = make_course(db, lms, lineitem=None)
    record(db, course, "s1", 4)
    drain(db, gsettings)
    created = [r for r in lms.requests_of("lineitems") if r.method == "POST"]
    assert len(created) == 1
    assert created[0].body["resourceId"] == "rl-C1"
    assert created[0].body["resourceLinkId"] == "rl-C1"
    (li,) = lms.lineitems["C1"]
    assert lms.gradebook("C1", li) == {"s1": 4}
    # a second course activity with the same resource finds it instead of creating another
    with db.session() as s:
        from lti_tool.models import LineItem

        item = s.query(LineItem).one()
        item.url = None
    record(db, course, "s1", 5)
    drain(db, gsettings)
    assert len([r for r in lms.requests_of("lineitems") if r.method == "POST"]) == 1
    assert lms.gradebook("C1", li) == {"s1": 5}


def test_results_read_back_shows_instructor_overrides(db, gsettings, lms, course):
    record(db, course, "s1", 4)
    record(db, course, "s2", 6)
    drain(db, gsettings)
    lms.override("C1", "li-1", "s2", 9)
    with db.session() as s:
        from lti_tool.models import LineItem

        li = s.query(LineItem).one().id
    assert grades.read_results(db, gsettings, li) == 1
    with db.session() as s:
        rows = grades.overridden_results(s, course.context_id)
        assert [(u.sub, r.result_score, r.our_score) for r, u, _ in rows] == [("s2", 9, 6)]
