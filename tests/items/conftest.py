"""Fixtures for the item bank tests."""

from __future__ import annotations

import itertools

import pytest

from lti_tool.services import registrations

# The LMS simulator fixtures (real HTTP, signed JWTs) for the deep-linking test.
from tests.lti.conftest import _platform_server, http, platform, rsa_keys, tool_server  # noqa: F401

_counter = itertools.count(1)


@pytest.fixture
def make_registration(db):
    """Create a platform registration; returns its id."""

    def make(name: str | None = None) -> int:
        n = next(_counter)
        issuer = f"https://lms{n}.example.edu"
        with db.session() as session:
            reg = registrations.add(
                session, issuer=issuer, client_id=f"client-{n}", auth_login_url=f"{issuer}/auth",
                auth_token_url=f"{issuer}/token", jwks_url=f"{issuer}/jwks", deployment_ids=["d1"],
                name=name or f"LMS {n}",
            )
            return reg.id

    return make
