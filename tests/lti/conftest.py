"""Fixtures that play the LMS over real HTTP on loopback (lti_tool.devlms.platform).

``tool_server``: the tool over real HTTP, one per test module and backend (rows are deleted after each test by
the ``db`` fixture), so the suite does not start and stop servers for every test.
``platform``: a Platform on its own port, registered in the tool's database for the current test.
``launch(role="student", **claim_overrides)``: a full browser-like launch; returns a LaunchResult
(``.token``, ``.html``, ``.response``). Other test packages can reuse these fixtures with
``from tests.lti.conftest import *`` or use ``lti_tool.devlms.platform`` directly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from lti_tool.db import Database
from lti_tool.devlms.platform import Platform, RsaKey, demo_course
from lti_tool.models import (
    Context,
    Deployment,
    LaunchRecord,
    LoginState,
    Membership,
    ResourceLink,
    UsedNonce,
    User,
)

from ..conftest import make_settings


@pytest.fixture(scope="session")
def rsa_keys() -> list[RsaKey]:
    """RSA keys generated once per test session (generation is the slow part)."""
    return [RsaKey.generate(kid=f"platform-key-{i}") for i in range(3)]


@dataclass
class ToolServer:
    url: str
    app: Flask
    database: Database


@pytest.fixture(scope="module")
def tool_server(database_url, tmp_path_factory) -> Iterator[ToolServer]:
    from lti_tool.app import create_app

    database = Database(database_url)
    server = make_server("127.0.0.1", 0, lambda e, s: [], threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    application = create_app(make_settings(database_url, tmp_path_factory.mktemp("tool"), base_url=url),
                             database=database)
    server.app = application
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield ToolServer(url, application, database)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        database.dispose()


@pytest.fixture(scope="module")
def _platform_server(tool_server, rsa_keys) -> Iterator[Platform]:
    plat = Platform(tool_url=tool_server.url, keys=[rsa_keys[0]])
    with plat.serve():
        yield plat


@pytest.fixture
def platform(_platform_server, tool_server, db, rsa_keys) -> Platform:
    """The platform, reset and registered afresh for this test (``db`` deletes all rows afterwards)."""
    plat = _platform_server
    plat.keys = [rsa_keys[0]]
    plat.active_kid = rsa_keys[0].kid
    plat.specs.clear()
    plat.jwks_fetches = 0
    plat.jwks_user_agents.clear()
    plat.deep_link_responses.clear()
    plat.course = demo_course()
    with db.session() as s:
        plat.register_in(s)
    return plat


@pytest.fixture
def launch(platform):
    return platform.launch


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


STORED = (User, Context, Membership, ResourceLink, UsedNonce, LaunchRecord, Deployment)


def count_rows(db) -> dict[str, int]:
    with db.session() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) for m in (*STORED, LoginState)}
