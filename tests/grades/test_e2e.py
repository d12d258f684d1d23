"""End to end over real HTTP: LMS launches -> roster sync and line item -> a score reaches the LMS gradebook,
and the instructor sees it all (JSON API with the session token, the course page panels, /metrics)."""

from __future__ import annotations

import requests

from lti_tool.devlms.platform import INSTRUCTOR, STUDENT, Platform
from lti_tool.devlms.services import LmsServices
from lti_tool.models import LineItem, Membership, ResourceLink, ScoreOutbox, User
from lti_tool.services import grades, keys, tokens

from ..conftest import TEST_SECRET


def test_launch_roster_score_panels_metrics(live_app, db):
    base_url, app = live_app
    tokens.clear_memory_cache()
    runtime = app.extensions["jobs"]
    platform = Platform(tool_url=base_url)
    lms = LmsServices()
    web = platform.wsgi_app()
    web.register_blueprint(lms.blueprint())
    with platform.serve(web):
        lms.url = platform.url
        with db.session() as s:
            platform.register_in(s)
            lms.tool_jwks = [keys.ensure_active_key(s, TEST_SECRET).public_jwk]
        course = platform.course
        lms.set_members(course.id, [{"user_id": m.sub, "roles": m.roles, "name": m.name} for m in course.members])

        teacher = platform.launch(INSTRUCTOR)
        assert teacher.response.status_code == 200, teacher.html[:500]
        assert "Class list" in teacher.html
        assert "Grades sent to the LMS" in teacher.html
        assert lms.requests_of("nrps") == []  # the launch did not wait for the roster
        runtime.run_pending()
        nrps = lms.requests_of("nrps")
        assert nrps
        assert "rlid=" in nrps[0].query
        with db.session() as s:
            subs = {u.sub for _, u in s.query(Membership, User).join(User, User.id == Membership.user_id)}
            assert {m.sub for m in course.members} <= subs
            item = s.query(LineItem).one()
            assert item.url == platform.lineitem_url(course.id, "rl-practice-1")

        student = platform.launch(STUDENT)
        assert student.response.status_code == 200
        with db.session() as s:
            link = s.query(ResourceLink).one()
            ada = s.query(User).filter_by(sub="student-1").one()
            row = grades.record_score(s, resource_link_id=link.id, user_id=ada.id, score_given=7,
                                      score_maximum=10)
            assert row is not None
        runtime.run_pending()
        assert lms.gradebook(course.id, "rl-practice-1") == {"student-1": 7}

        # A refused score shows up for the instructor, who retries it after the LMS admin fixes it.
        lms.reject_user("student-2", 400, "User is not gradable")
        with db.session() as s:
            alan = s.query(User).filter_by(sub="student-2").one()
            grades.record_score(s, resource_link_id=link.id, user_id=alan.id, score_given=4, score_maximum=10)
        runtime.run_pending()
        auth = {"Authorization": f"Bearer {teacher.token}"}
        listed = requests.get(f"{base_url}/api/v1/grades/scores", headers=auth, timeout=10).json()
        assert [(p["user"], p["status"], p["last_status_code"]) for p in listed["scores"]] == \
            [("Alan Turing", "rejected", 400)]
        assert "not gradable" in listed["scores"][0]["last_error"]
        assert requests.get(f"{base_url}/api/v1/grades/scores",
                            headers={"Authorization": f"Bearer {student.token}"}, timeout=10).status_code == 403
        assert requests.get(f"{base_url}/api/v1/grades/scores", timeout=10).status_code == 401
        page = platform.launch(INSTRUCTOR).html
        assert "User is not gradable" in page
        assert 'class="retry-score"' in page

        lms.rejected_users.clear()
        with db.session() as s:
            other_id = s.query(ScoreOutbox).filter_by(status="delivered").one().id
        retry = requests.post(f"{base_url}/api/v1/grades/scores/retry", headers=auth,
                              json={"ids": [listed["scores"][0]["id"], other_id, 99999]}, timeout=10).json()
        assert retry["retried"] == [listed["scores"][0]["id"]]  # delivered and unknown ids are not touched
        for odd in ([10**30], [True], [0]):  # not ids the database can hold: refused, not a server error
            assert requests.post(f"{base_url}/api/v1/grades/scores/retry", headers=auth, json={"ids": odd},
                                 timeout=10).status_code == 400
        runtime.run_pending()
        assert lms.gradebook(course.id, "rl-practice-1") == {"student-1": 7, "student-2": 4}

        # The instructor changes Ada's grade in the LMS: read back and shown.
        lms.override(course.id, "rl-practice-1", "student-1", 9)
        assert requests.post(f"{base_url}/api/v1/grades/overrides/refresh", headers=auth,
                             timeout=10).status_code == 202
        runtime.run_pending()
        overrides = requests.get(f"{base_url}/api/v1/grades/overrides", headers=auth, timeout=10).json()
        assert [(o["user"], o["lms_score"], o["our_score"]) for o in overrides["overrides"]] == \
            [("Ada Lovelace", 9, 7)]
        status = requests.get(f"{base_url}/api/v1/roster/status", headers=auth, timeout=10).json()
        assert status["status"] == "ok"
        assert status["active_members"] >= 4

        metrics = requests.get(f"{base_url}/metrics", timeout=10)
        assert metrics.headers["Content-Type"].startswith("text/plain")
        assert 'adaptive_lti_score_outbox{status="delivered"} 2' in metrics.text
        assert "adaptive_lti_score_outbox_failed 0" in metrics.text
