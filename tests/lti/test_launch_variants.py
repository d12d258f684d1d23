"""Launches that must be accepted (as instructor and as student), roles, TestUser, Canvas quirks."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from lti_tool.devlms.platform import INSTRUCTOR, REMOVE, STUDENT
from lti_tool.lti import claims as c
from lti_tool.lti.session import verify_token
from lti_tool.models import Membership, User

from ..conftest import TEST_SECRET

M = c.MEMBERSHIP
INST = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
NO_PII = {"name": REMOVE, "given_name": REMOVE, "family_name": REMOVE, "email": REMOVE}

VARIANTS = {
    "several-roles": {
        INSTRUCTOR: {c.ROLES: [M + "Instructor", M + "Mentor", INST + "Administrator"]},
        STUDENT: {c.ROLES: [M + "Learner", INST + "Student", "http://purl.imsglobal.org/vocab/lis/v2/system/person#User"]},
    },
    "short-role-names": {INSTRUCTOR: {c.ROLES: ["Instructor"]}, STUDENT: {c.ROLES: ["Learner"]}},
    "unknown-role": {
        INSTRUCTOR: {c.ROLES: [M + "Instructor", "http://example.com/roles#Wizard"]},
        STUDENT: {c.ROLES: [M + "Learner", "http://example.com/roles#Wizard"]},
    },
    "email-only": {r: {"name": REMOVE, "given_name": REMOVE, "family_name": REMOVE} for r in (INSTRUCTOR, STUDENT)},
    "names-only": {r: {"email": REMOVE} for r in (INSTRUCTOR, STUDENT)},
    "no-personal-data": {r: dict(NO_PII) for r in (INSTRUCTOR, STUDENT)},
    "no-course-context": {r: {c.CONTEXT: REMOVE} for r in (INSTRUCTOR, STUDENT)},
    "aud-array-with-azp": {r: {"aud": None} for r in (INSTRUCTOR, STUDENT)},  # filled in below
}


@pytest.mark.parametrize("role", [INSTRUCTOR, STUDENT])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_accepted_variant(platform, db, variant, role):
    overrides = dict(VARIANTS[variant][role])
    if variant == "aud-array-with-azp":
        overrides = {"aud": [platform.client_id, "https://other.example"], "azp": platform.client_id}
    result = platform.launch(role, claims=overrides)
    assert result.status == 200, result.html
    assert result.token
    page = html.unescape(result.html)
    session = verify_token(result.token, secret=TEST_SECRET)
    assert session.is_instructor == (role == INSTRUCTOR)
    assert session.is_learner == (role == STUDENT)
    assert ("instructor-home" if role == INSTRUCTOR else "student-home") in page
    assert "Signed in as" in page
    if variant == "no-course-context":
        assert session.context_id is None
        assert "(no course)" in page
    else:
        assert "Mathematics 101 (demo)" in page
    with db.session() as s:
        user = s.scalars(select(User)).one()
        if variant == "no-personal-data":
            assert user.name is None
            assert user.email is None
            assert f"User {user.sub[:8]}" in page
        if variant == "email-only":
            assert user.email in page


@pytest.mark.parametrize("role", [INSTRUCTOR, STUDENT])
def test_empty_roles_array_is_accepted_without_course_rights(platform, role):
    result = platform.launch(role, claims={c.ROLES: []})
    assert result.status == 200, result.html
    session = verify_token(result.token, secret=TEST_SECRET)
    assert not session.is_instructor
    assert not session.is_learner
    assert "Guest (no course role)" in result.html


def test_institution_roles_grant_no_course_rights(platform, db):
    """Canvas sends institution roles on every launch; only membership (context) roles count."""
    result = platform.launch(STUDENT, claims={c.ROLES: [M + "Learner", INST + "Instructor", INST + "Administrator"]})
    assert result.status == 200
    session = verify_token(result.token, secret=TEST_SECRET)
    assert not session.is_instructor
    assert session.is_learner
    assert "student-home" in result.html
    with db.session() as s:
        m = s.scalars(select(Membership)).one()
        assert not m.is_instructor


def test_teaching_assistant_sub_role_is_instructor(platform):
    result = platform.launch(INSTRUCTOR, claims={
        c.ROLES: ["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"]})
    assert verify_token(result.token, secret=TEST_SECRET).is_instructor


@pytest.mark.parametrize("role", [INSTRUCTOR, STUDENT])
def test_test_user_is_flagged(platform, db, role):
    roles = [M + ("Instructor" if role == INSTRUCTOR else "Learner"), c.TEST_USER]
    result = platform.launch(role, claims={c.ROLES: roles})
    assert result.status == 200
    assert "Test student: not graded" in result.html
    assert verify_token(result.token, secret=TEST_SECRET).is_test_user
    with db.session() as s:
        assert s.scalars(select(User)).one().is_test_user


def test_canvas_login_post_with_deployment_id_and_extra_params(platform, http):
    """Canvas POSTs the login with deployment_id (not lti_deployment_id), canvas_region, canvas_environment."""
    result = platform.launch(STUDENT, http=http, login_method="POST")
    assert result.status == 200, result.html
    spec_hint = platform.new_spec(platform.specs[next(iter(platform.specs))])
    params = platform.login_params(spec_hint, lti_deployment_id=None, deployment_id=platform.deployment_id,
                                   canvas_region="us-east-1", canvas_environment="prod")
    resp = http.post(platform.tool_url + "/lti/login", data=params, allow_redirects=False)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith(platform.auth_login_url)


def test_login_without_client_id_when_issuer_is_unique(platform, http):
    params = platform.login_params("hint", client_id=None)
    resp = http.get(platform.tool_url + "/lti/login", params=params, allow_redirects=False)
    assert resp.status_code == 302
    assert f"client_id={platform.client_id}" in resp.headers["Location"]


def test_second_launch_updates_rows_instead_of_duplicating(platform, db):
    assert platform.launch(STUDENT).status == 200
    assert platform.launch(STUDENT, name="Ada King").status == 200
    with db.session() as s:
        user = s.scalars(select(User)).one()
        assert user.name == "Ada King"
        assert len(s.scalars(select(Membership)).all()) == 1
