"""NRPS roster sync against the fake LMS: paging, Link header styles, rlid, differences, leavers."""

from __future__ import annotations

import pytest

from lti_tool.models import Membership, RosterSync, User
from lti_tool.services import roster

from .conftest import make_course

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
TEACHER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def members(n: int, start: int = 0) -> list[dict]:
    return [{"user_id": f"U{i:03d}", "roles": [LEARNER], "name": f"Student {i}", "email": f"s{i}@x.example"}
            for i in range(start, start + n)]


def roster_of(db, context_id) -> dict[str, str]:
    with db.session() as s:
        rows = s.query(Membership, User).join(User, User.id == Membership.user_id).filter(
            Membership.context_id == context_id).all()
        return {u.sub: m.status for m, u in rows}


@pytest.mark.parametrize("lms", ["canvas", "generic"], indirect=True)
@pytest.mark.parametrize("quoted", [True, False])
def test_full_sync_follows_every_page_and_marks_leavers_inactive(db, gsettings, lms, quoted):
    lms.page_size = 4
    lms.link_quoted = quoted
    course = make_course(db, lms, subs=())
    lms.set_members("C1", [*members(10), {"user_id": "T1", "roles": [TEACHER], "name": "Teacher"}])
    report = roster.sync_roster(db, gsettings, course.context_id)
    assert report.status == "ok"
    assert report.pages == 3
    assert report.added == 11
    got = roster_of(db, course.context_id)
    assert len(got) == 11
    assert set(got.values()) == {"active"}
    with db.session() as s:
        teacher = s.query(Membership).join(User).filter(User.sub == "T1").one()
        assert teacher.is_instructor
        assert not teacher.is_learner
        assert s.query(User).filter_by(sub="U003").one().email == "s3@x.example"
    # Three students leave, one joins; the scheduled (full) sync marks leavers inactive, keeping their rows.
    lms.set_members("C1", [*members(7), *members(1, start=50), {"user_id": "T1", "roles": [TEACHER]}])
    with db.session() as s:
        s.get(RosterSync, course.context_id).differences_url = None  # force a full listing
    report = roster.sync_roster(db, gsettings, course.context_id)
    got = roster_of(db, course.context_id)
    assert report.added == 1
    assert report.inactivated == 3
    assert {k for k, v in got.items() if v == "inactive"} == {"U007", "U008", "U009"}
    assert got["U050"] == "active"
    # NRPS pages are fetched with the URL exactly as given (mixed-case cursor) and the NRPS scope only.
    pages = lms.requests_of("nrps")
    assert all(r.status == 200 for r in pages)
    assert {r.body["scope"] for r in lms.requests_of("token")} == {roster.SCOPE_NRPS}


def test_differences_link_is_used_for_the_next_sync(db, gsettings, lms):
    course = make_course(db, lms, subs=())
    lms.set_members("C1", members(5))
    roster.sync_roster(db, gsettings, course.context_id)
    lms.set_members("C1", members(4))  # U004 removed -> "Deleted" in the differences
    report = roster.sync_roster(db, gsettings, course.context_id)
    last = lms.requests_of("nrps")[-1]
    assert "since=" in last.query
    assert report.members == 0
    assert report.inactivated == 1
    assert roster_of(db, course.context_id)["U004"] == "inactive"


def test_launch_sync_uses_rlid_and_does_not_inactivate_others(db, gsettings, lms):
    course = make_course(db, lms, subs=())
    lms.set_members("C1", [*members(3), {"user_id": "G1", "roles": [LEARNER], "resource_links": ["other"]}])
    roster.sync_roster(db, gsettings, course.context_id)
    assert len(roster_of(db, course.context_id)) == 4
    roster.sync_roster(db, gsettings, course.context_id, resource_link_id=course.link_id)
    assert "rlid=rl-C1" in lms.requests_of("nrps")[-1].query
    assert roster_of(db, course.context_id)["G1"] == "active"


def test_course_without_nrps_gets_a_clear_status_not_an_error(db, gsettings, lms):
    course = make_course(db, lms, subs=(), nrps=False)
    report = roster.sync_roster(db, gsettings, course.context_id)
    assert report.status == "unavailable"
    assert lms.requests_of("nrps") == []
    with db.session() as s:
        from lti_tool.models import Context

        st = roster.status(s, s.get(Context, course.context_id))
    assert st["status"] == "unavailable"
    assert "Names and Role Provisioning" in st["message"]


def test_nrps_failure_is_recorded_for_the_instructor(db, gsettings, lms):
    course = make_course(db, lms, subs=())
    lms.set_members("C1", members(3))
    lms.fail("nrps", 500, times=None)
    report = roster.sync_roster(db, gsettings, course.context_id)
    assert report.status == "error"
    with db.session() as s:
        row = s.get(RosterSync, course.context_id)
        assert row.status == "error"
        assert row.locked_until is None
        # the technical cause only; the instructor page frames it in the launch's language
        assert "500" in row.message
        assert not row.message.startswith("Roster sync failed")
    lms.up()
    assert roster.sync_roster(db, gsettings, course.context_id).status == "ok"


def test_sweep_finds_courses_due_for_a_scheduled_sync(db, gsettings, lms):
    course = make_course(db, lms, subs=())
    make_course(db, lms, subs=(), nrps=False, lms_context="C2")
    lms.set_members("C1", members(2))
    with db.session() as s:
        assert roster.due_contexts(s, gsettings) == [course.context_id]
    roster.sync_roster(db, gsettings, course.context_id)
    with db.session() as s:
        assert roster.due_contexts(s, gsettings) == []
