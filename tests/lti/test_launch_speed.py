"""What the launch does to stay cheap keeps it correct: repeat launches found with one query still update what
changed, parsed platform keys are cached by key material (never by kid alone), login housekeeping runs at most
once a minute but still purges."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from lti_tool.devlms.platform import INSTRUCTOR, STUDENT, RsaKey
from lti_tool.lti import claims as c
from lti_tool.lti import launch as launch_module
from lti_tool.lti import login as login_module
from lti_tool.lti.session import verify_token
from lti_tool.models import Context, LaunchRecord, LoginState, Membership, ResourceLink, UsedNonce, User

from ..conftest import TEST_SECRET


def test_repeat_launch_updates_what_changed(platform, db):
    first = platform.launch(STUDENT)
    assert first.status == 200
    again = platform.launch(STUDENT, claims={
        "email": "ada@new.example",
        c.ROLES: [c.MEMBERSHIP + "Instructor"],
        c.CONTEXT: {"id": platform.course.id, "title": "Maths 101, spring", "label": "M101"},
        c.RESOURCE_LINK: {"id": "rl-practice-1", "title": "Fractions, renamed"},
        c.CUSTOM: {"activity": "adaptive-practice", "goal": "practice"},
    })
    assert again.status == 200, again.html
    assert verify_token(again.token, secret=TEST_SECRET).is_instructor
    with db.session() as s:
        user = s.scalars(select(User)).one()
        assert user.email == "ada@new.example"
        context = s.scalars(select(Context)).one()
        assert (context.title, context.label) == ("Maths 101, spring", "M101")
        membership = s.scalars(select(Membership)).one()
        assert membership.is_instructor
        assert not membership.is_learner
        assert membership.roles == [c.MEMBERSHIP + "Instructor"]
        link = s.scalars(select(ResourceLink)).one()
        assert link.title == "Fractions, renamed"
        assert link.custom == {"activity": "adaptive-practice", "goal": "practice"}


def test_known_user_in_a_new_course_and_link_gets_new_rows(platform, db):
    assert platform.launch(STUDENT).status == 200
    other = platform.launch(STUDENT, claims={c.CONTEXT: {"id": "course-202", "title": "Physics"},
                                             c.RESOURCE_LINK: {"id": "rl-new", "title": "Forces"}})
    assert other.status == 200, other.html
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 1
        assert s.scalar(select(func.count()).select_from(Context)) == 2
        assert s.scalar(select(func.count()).select_from(Membership)) == 2
        assert {r.resource_link_id for r in s.scalars(select(ResourceLink))} == {"rl-practice-1", "rl-new"}


def test_instructor_then_student_of_the_same_course_share_the_context(platform, db):
    assert platform.launch(INSTRUCTOR).status == 200
    assert platform.launch(STUDENT).status == 200
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Context)) == 1
        assert s.scalar(select(func.count()).select_from(Membership)) == 2


def test_parsed_keys_are_cached_by_key_material_not_kid():
    a, b = RsaKey.generate(kid="same"), RsaKey.generate(kid="same")
    parsed_a = launch_module._rsa_public_key(a.public_jwk["n"], a.public_jwk["e"])
    assert launch_module._rsa_public_key(a.public_jwk["n"], a.public_jwk["e"]) is parsed_a
    parsed_b = launch_module._rsa_public_key(b.public_jwk["n"], b.public_jwk["e"])
    assert parsed_b.public_numbers() != parsed_a.public_numbers()


def test_key_replaced_under_the_same_kid_is_used(platform, db):
    assert platform.launch(STUDENT).status == 200  # the old key is parsed and cached
    replacement = RsaKey.generate(kid=platform.active_kid)
    platform.keys = [replacement]
    with db.session() as s:  # the platform's key set is fetched again (as after its cache time)
        from lti_tool.models import Registration

        s.scalars(select(Registration)).one().jwks_fetched_at = None
    result = platform.launch(STUDENT)  # signed with the replacement key, same kid
    assert result.status == 200, result.html


@pytest.mark.parametrize("bad", [{"n": 12345}, {"n": "!!not-base64!!"}, {"e": None}])
def test_malformed_platform_key_is_refused(platform, db, bad):
    platform.keys = [RsaKey(kid=platform.active_kid, private_pem=platform.key().private_pem,
                            public_jwk={**platform.key().public_jwk, **bad})]
    result = platform.launch(STUDENT)
    assert result.status == 400
    assert "malformed" in result.html


def test_login_housekeeping_runs_at_most_once_a_minute_and_purges(platform, db, monkeypatch):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert platform.launch(STUDENT).status == 200
    with db.session() as s:
        registration_id = s.scalars(select(User.registration_id)).one()
        s.add(LoginState(state="kold", nonce="n", registration_id=registration_id, target_link_uri="x",
                         created_at=past, expires_at=past))
        for row in s.scalars(select(UsedNonce)):
            row.expires_at = past
        for row in s.scalars(select(LaunchRecord)):
            row.expires_at = past
    monkeypatch.setattr(login_module, "_housekeeping", {"last": 0.0})
    monkeypatch.setattr(login_module.time, "monotonic", lambda: 30.0)  # within the minute: not due
    assert platform.launch(STUDENT).status == 200
    with db.session() as s:
        assert s.get(LoginState, "kold") is not None
    monkeypatch.setattr(login_module.time, "monotonic", lambda: 61.0)  # due: purged on this login
    assert platform.launch(STUDENT).status == 200
    with db.session() as s:
        assert s.get(LoginState, "kold") is None
        assert s.scalar(select(func.count()).select_from(UsedNonce)) == 2  # the expired one is gone
        assert s.scalar(select(func.count()).select_from(LaunchRecord)) == 2
