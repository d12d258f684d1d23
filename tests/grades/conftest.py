"""Fixtures for grades and roster: a fake LMS over real HTTP and a course that points its services at it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from sqlalchemy.exc import OperationalError

from lti_tool.devlms.services import (
    SCOPE_LINEITEM,
    SCOPE_RESULT_RO,
    SCOPE_SCORE,
    LmsServices,
)
from lti_tool.models import Context, Deployment, Membership, Registration, ResourceLink, ScoreOutbox, User
from lti_tool.services import keys, tokens

from ..conftest import TEST_SECRET, make_settings

AGS_ALL = [SCOPE_LINEITEM, SCOPE_RESULT_RO, SCOPE_SCORE]


@pytest.fixture
def gsettings(database_url, tmp_path):
    """Fast backoff and short timeouts so fault tests take seconds."""
    tokens.clear_memory_cache()
    return make_settings(database_url, tmp_path, grade_backoff_base_seconds=0.02, grade_backoff_max_seconds=0.1,
                         http_timeout_seconds=1.0, grade_lease_seconds=5.0, grade_max_attempts=30,
                         jobs_sweep_seconds=0.2)


@pytest.fixture(params=["generic"])
def lms(request):
    svc = LmsServices(flavor=request.param)
    with svc.serve():
        yield svc


@dataclass
class Course:
    registration_id: int
    context_id: int
    link_id: int
    users: dict[str, int]  # sub -> user id
    lms_context: str
    lms_lineitem: str | None


def make_course(db, lms: LmsServices, *, subs=("s1", "s2", "s3"), scopes=tuple(AGS_ALL), nrps=True,
                lineitem: str | None = "li-1", client_id="tool-1", issuer=None, product_family=None,
                lms_context="C1", test_users=()) -> Course:
    with db.session() as s:
        key = keys.ensure_active_key(s, TEST_SECRET)
        lms.tool_jwks = [key.public_jwk]
        reg = s.query(Registration).filter_by(issuer=issuer or lms.url, client_id=client_id).one_or_none()
        if reg is None:
            reg = Registration(issuer=issuer or lms.url, client_id=client_id, auth_login_url=lms.url + "/auth",
                               auth_token_url=lms.token_url, jwks_url=lms.url + "/jwks",
                               product_family=product_family)
            s.add(reg)
            s.flush()
        dep = Deployment(registration_id=reg.id, deployment_id=f"dep-{lms_context}")
        s.add(dep)
        s.flush()
        services = {"ags": {"scope": list(scopes), "lineitems": lms.lineitems_url(lms_context)}}
        if lineitem:
            services["ags"]["lineitem"] = lms.lineitem_url(lms_context, lineitem)
        if nrps:
            services["nrps"] = {"context_memberships_url": lms.memberships_url(lms_context),
                                "service_versions": ["2.0"]}
        ctx = Context(deployment_id=dep.id, context_id=lms_context, title="Algebra", services=services)
        s.add(ctx)
        s.flush()
        link = ResourceLink(context_id=ctx.id, resource_link_id=f"rl-{lms_context}", title="Practice",
                            lineitem_url=lms.lineitem_url(lms_context, lineitem) if lineitem else None)
        s.add(link)
        users = {}
        for sub in subs:
            u = s.query(User).filter_by(registration_id=reg.id, sub=sub).one_or_none()
            if u is None:
                u = User(registration_id=reg.id, sub=sub, is_test_user=sub in test_users)
                s.add(u)
                s.flush()
            s.add(Membership(context_id=ctx.id, user_id=u.id, is_learner=True, roles=[]))
            users[sub] = u.id
        s.flush()
        return Course(reg.id, ctx.id, link.id, users, lms_context, lineitem)


@pytest.fixture
def course(db, lms):
    return make_course(db, lms)


def record(db, course: Course, sub: str, score: float, maximum: float = 10.0, **kw):
    from lti_tool.services import grades

    with db.session() as s:
        row = grades.record_score(s, resource_link_id=course.link_id, user_id=course.users[sub],
                                  score_given=score, score_maximum=maximum, **kw)
        return None if row is None else row.id


def drain(db, settings, *, timeout: float = 15.0, worker_id=None) -> None:
    """Run delivery until nothing is pending (or fail after ``timeout``)."""
    from lti_tool.services import grades

    deadline = time.monotonic() + timeout
    worker_id = worker_id or grades.new_worker_id()
    while True:
        grades.deliver_due(db, settings, worker_id=worker_id)
        try:
            with db.session() as s:
                left = s.query(ScoreOutbox).filter(ScoreOutbox.status == "pending").count()
        except OperationalError:  # the fault tests cut connections: a worker loop just goes on
            left = -1
        if left == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{left} scores still pending after {timeout}s")
        time.sleep(0.02)


def statuses(db) -> dict[int, str]:
    with db.session() as s:
        return {r.id: r.status for r in s.query(ScoreOutbox).order_by(ScoreOutbox.id)}
