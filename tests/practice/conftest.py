"""Practice fixtures: the LMS simulator and the tool over real HTTP (from tests/lti), the sample bank loaded, and
a resource link whose activity is the sample bank."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import pytest
import requests

from lti_tool.devlms.platform import Platform
from lti_tool.devlms.services import LmsServices
from lti_tool.services import items, keys, tokens
from tests.conftest import TEST_SECRET
from tests.lti.conftest import (  # noqa: F401 - fixtures
    http,
    launch,
    platform,
    rsa_keys,
    tool_server,
)

LINK = "rl-practice-1"


@pytest.fixture(scope="module")
def _lms_services() -> LmsServices:
    return LmsServices()


@pytest.fixture(scope="module")
def _platform_server(tool_server, rsa_keys, _lms_services):  # noqa: F811 - replaces tests/lti's
    """The LMS simulator on one port with its AGS/NRPS services (the launch claims point at them), as in
    `adaptive-lti dev`: scores the tool delivers are recorded by ``lms``."""
    plat = Platform(tool_url=tool_server.url, keys=[rsa_keys[0]])
    web = plat.wsgi_app()
    web.register_blueprint(_lms_services.blueprint())
    with plat.serve(web):
        _lms_services.url = plat.url
        yield plat


@pytest.fixture
def lms(platform, _lms_services, db) -> LmsServices:  # noqa: F811
    """The fake LMS services, emptied for this test, trusting this test's tool key."""
    tokens.clear_memory_cache()
    _lms_services.reset()
    with db.session() as s:
        _lms_services.tool_jwks = [keys.ensure_active_key(s, TEST_SECRET).public_jwk]
    return _lms_services


def run_jobs(tool_server) -> int:  # noqa: F811
    """Run the jobs the tool queued (grade delivery, line item creation): ADAPTIVE_LTI_ENV=test keeps them."""
    return tool_server.app.extensions["jobs"].run_pending()


@pytest.fixture
def engines_reset(tool_server):  # noqa: F811
    """No registry and no loaded engine before and after the test: the tool server lives for the whole module, and
    on SQLite a bank created by the next test may get the same id (and so the same registry folder)."""
    from lti_tool.services.engine import registry_root

    def reset() -> None:
        shutil.rmtree(registry_root(tool_server.app.config["SETTINGS"]), ignore_errors=True)
        tool_server.app.extensions.pop("practice_engines", None)

    reset()
    yield
    reset()


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
