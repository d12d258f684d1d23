"""Accepted launches: the full browser flow against the tool over real HTTP."""

from __future__ import annotations

from sqlalchemy import select

from lti_tool.devlms.platform import INSTRUCTOR, STUDENT
from lti_tool.lti.session import verify_token
from lti_tool.models import Context, Membership, ResourceLink, User

from ..conftest import TEST_SECRET


def test_student_launch_lands_on_student_page(launch, db):
    result = launch(STUDENT)
    assert result.status == 200, result.html
    assert result.token
    assert "Ada Lovelace" in result.html
    assert "Mathematics 101 (demo)" in result.html
    assert 'class="role-name">Student<' in result.html
    assert "student-home" in result.html
    s = verify_token(result.token, secret=TEST_SECRET)
    assert s.is_learner
    assert not s.is_instructor
    assert not s.is_test_user
    with db.session() as session:
        user = session.scalars(select(User)).one()
        assert user.sub == "student-1"
        assert user.email == "ada@example.edu"
        ctx = session.scalars(select(Context)).one()
        assert ctx.services["ags"]["lineitems"].endswith("/lineitems")
        assert ctx.services["nrps"]["context_memberships_url"].endswith("/memberships")
        link = session.scalars(select(ResourceLink)).one()
        assert link.lineitem_url
        assert link.custom == {"activity": "adaptive-practice"}
        m = session.scalars(select(Membership)).one()
        assert m.is_learner
        assert not m.is_instructor


def test_instructor_launch_lands_on_course_page(launch):
    result = launch(INSTRUCTOR)
    assert result.status == 200, result.html
    assert "instructor-home" in result.html
    assert "Grace Hopper" in result.html
    assert 'class="role-name">Instructor<' in result.html
    assert verify_token(result.token, secret=TEST_SECRET).is_instructor
