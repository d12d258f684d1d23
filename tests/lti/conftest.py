"""Fixtures that play the LMS over real HTTP on loopback (lti_tool.devlms.platform).

``platform``: a Platform served on its own port, registered in the tool's database, pointed at ``live_app``.
``launch(role="student", **claim_overrides)``: a full browser-like launch; returns a LaunchResult
(``.token``, ``.html``, ``.response``). Other test packages can import these fixtures with
``from tests.lti.conftest import *`` or use ``lti_tool.devlms.platform`` directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import func, select

from lti_tool.devlms.platform import Platform, RsaKey
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


@pytest.fixture(scope="session")
def rsa_keys() -> list[RsaKey]:
    """RSA keys generated once per test session (generation is the slow part)."""
    return [RsaKey.generate(kid=f"platform-key-{i}") for i in range(3)]


@pytest.fixture
def platform(live_app, db, rsa_keys) -> Iterator[Platform]:
    base_url, _app = live_app
    plat = Platform(tool_url=base_url, keys=[rsa_keys[0]])
    with plat.serve():
        with db.session() as s:
            plat.register_in(s)
        yield plat


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
