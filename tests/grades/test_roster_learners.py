"""Roster sync gives new learner members their learner state in the course's adaptive activities, and the
instructor's class mastery lists every active learner member (not the ones who left, whose rows are kept)."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import select

from lti_tool.lti.session import LtiSession
from lti_tool.models import Deployment, Membership, PracticeEnrolment, ResourceLink, RosterSync, User
from lti_tool.services import items, practice, roster
from lti_tool.services.engine import get_engine

from .conftest import make_course
from .test_roster import LEARNER, TEACHER, members


def _enrolled(db, link_id: int) -> set[str]:
    with db.session() as s:
        return set(s.scalars(select(User.sub).join(PracticeEnrolment, PracticeEnrolment.user_id == User.id)
                             .where(PracticeEnrolment.resource_link_id == link_id)))


def _class(db, app, course, teacher_sub: str = "T1") -> dict:
    with db.session() as s:
        teacher = s.scalars(select(User).where(User.registration_id == course.registration_id,
                                               User.sub == teacher_sub)).one()
        ctx_dep = s.scalars(select(Deployment.id).where(Deployment.registration_id == course.registration_id)).one()
        who = LtiSession(launch_id="l", registration_id=course.registration_id, deployment_id=ctx_dep,
                         user_id=teacher.id, context_id=course.context_id, resource_link_id=course.link_id,
                         roles=(TEACHER,), is_instructor=True, is_learner=False, is_test_user=False, locale="en",
                         message_type="LtiResourceLinkRequest")
        return practice.class_mastery(s, who, lambda bank: get_engine(bank, app), app.config["SETTINGS"])


def test_sync_enrols_new_learners_and_the_class_lists_active_ones(db, gsettings, lms, app):
    # `app` connects practice to the roster signal (create_app -> practice.init_app).
    course = make_course(db, lms, subs=())
    with db.session() as s:
        bank = items.load_sample_bank(s)
        bank_ref = SimpleNamespace(id=bank.id, slug=bank.slug)
        s.get(ResourceLink, course.link_id).custom = {"item_bank": bank.slug, "goal_skills": "0"}
        plain = ResourceLink(context_id=course.context_id, resource_link_id="rl-plain", title="Reading",
                             custom={"item_bank": "no-such-bank"})
        s.add(plain)
        s.flush()
        plain_id = plain.id
    lms.set_members("C1", [*members(3), {"user_id": "T1", "roles": [TEACHER], "name": "Teacher"},
                           {"user_id": "X1", "roles": [LEARNER], "name": "Dropped", "status": "Inactive"}])
    report = roster.sync_roster(db, gsettings, course.context_id)
    assert report.status == "ok"

    assert _enrolled(db, course.link_id) == {"U000", "U001", "U002"}  # not the teacher, not the inactive one
    assert _enrolled(db, plain_id) == set()  # a link without an item bank is no adaptive activity
    with db.session() as s:
        goal = {tuple(e.goal_skills) for e in s.scalars(select(PracticeEnrolment))}
        assert len(goal) == 1
        assert len(next(iter(goal))) > 0

    cls = _class(db, app, course)
    students = {st["name"]: st for st in cls["students"]}
    assert set(students) == {"Student 0", "Student 1", "Student 2"}
    prior = get_engine(bank_ref, app).prior_mastery([k["key"] for k in cls["skills"]])
    for st in students.values():
        assert st["items_answered"] == 0
        assert st["mastery"] == {k: round(v[0], 4) for k, v in prior.items()}

    # Student 2 leaves, Student 9 joins: the leaver is inactive, unlisted, and keeps their rows.
    lms.set_members("C1", [*members(2), *members(1, start=9), {"user_id": "T1", "roles": [TEACHER]}])
    with db.session() as s:
        s.get(RosterSync, course.context_id).differences_url = None  # a full listing
    report = roster.sync_roster(db, gsettings, course.context_id)
    assert (report.added, report.inactivated) == (1, 1)
    assert _enrolled(db, course.link_id) == {"U000", "U001", "U002", "U009"}
    with db.session() as s:
        left = s.scalars(select(Membership).join(User).where(User.sub == "U002")).one()
        assert left.status == "inactive"
    assert {st["name"] for st in _class(db, app, course)["students"]} == {"Student 0", "Student 1", "Student 9"}

    # Back again: active and listed, still one enrolment.
    lms.set_members("C1", [*members(3), *members(1, start=9), {"user_id": "T1", "roles": [TEACHER]}])
    with db.session() as s:
        s.get(RosterSync, course.context_id).differences_url = None
    roster.sync_roster(db, gsettings, course.context_id)
    with db.session() as s:
        assert s.query(PracticeEnrolment).count() == 4
    assert len(_class(db, app, course)["students"]) == 4
