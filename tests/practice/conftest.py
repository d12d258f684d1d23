"""Practice fixtures: the LMS simulator and the tool over real HTTP (from tests/lti), the sample bank loaded, and
a resource link whose activity is the sample bank."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

from lti_tool.services import items
from tests.lti.conftest import (  # noqa: F401 - fixtures
    _platform_server,
    http,
    launch,
    platform,
    rsa_keys,
    tool_server,
)

LINK = "rl-practice-1"


@pytest.fixture
def bank(db):
    with db.session() as s:
        b = items.load_sample_bank(s)
        return {"id": b.id, "slug": b.slug}


@pytest.fixture
def activity(platform, bank):  # noqa: F811
    """The demo course's link is an adaptive activity on the sample bank (as deep linking would set it)."""
    platform.course.links[LINK] = {"title": "Fractions practice", "custom": {
        "item_bank": bank["slug"], "mastery_threshold": "0.8", "goal_skills": "0", "scoring": "mastery"}}
    return platform.course.links[LINK]


@dataclass
class Api:
    base: str
    token: str
    http: requests.Session

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.base + path, headers=self.headers(), timeout=30, **kw)

    def post(self, path: str, body) -> requests.Response:
        return self.http.post(self.base + path, json=body, headers=self.headers(), timeout=30)


@pytest.fixture
def student_api(platform, activity, tool_server):  # noqa: F811
    def make(sub: str = "student-1", role: str = "student", **claims) -> Api:
        result = platform.launch(role, **({"sub": sub} if role == "student" else {}), **claims)
        assert result.status == 200, result.html[:500]
        assert result.token
        s = requests.Session()
        return Api(tool_server.url, result.token, s)

    made: list[Api] = []

    def factory(*a, **kw) -> Api:
        api = make(*a, **kw)
        made.append(api)
        return api

    yield factory
    for api in made:
        api.http.close()
