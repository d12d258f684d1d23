"""Shared fixtures.

Database tests run on SQLite and, when ``ADAPTIVE_LTI_TEST_DATABASE_URL`` is set, on PostgreSQL too: the
``database_url`` fixture is parametrised over both. Each PostgreSQL test session migrates its own schema (so two
runs on one server never meet) and drops it afterwards. After every test all rows are deleted.

Tests that need Redis take the ``redis_url`` fixture: a Redis database claimed for this test session alone, so
two runs on one server never share a queue either.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, text
from werkzeug.serving import make_server

from lti_tool import migrate
from lti_tool.db import Database, normalize_url
from lti_tool.models import Base
from lti_tool.settings import Settings

PG_URL = os.environ.get("ADAPTIVE_LTI_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("ADAPTIVE_LTI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_CLAIM_KEY = "adaptive-lti-test:claimed-by"
REDIS_CLAIM_SECONDS = 3600  # a crashed session's claim lapses after this
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def _backends() -> list:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=[pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason="ADAPTIVE_LTI_TEST_DATABASE_URL unset")],
        ),
    ]


@pytest.fixture(scope="session", params=_backends())
def database_url(request, tmp_path_factory) -> Iterator[str]:
    """A migrated database (at head) for this test session, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        migrate.upgrade(url)
        yield url
        return
    base = normalize_url(PG_URL or "")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, pool_pre_ping=True)  # survives a server restart (the fault tests do one)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def redis_candidates(base: str) -> list[str]:
    """The URLs of the databases a test session may claim: the one ``base`` names first, then 15 down to 1.

    Database 0, the application's default, is never used. A ``unix://`` URL is used as given.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    if parts.scheme not in ("redis", "rediss"):
        return [base]
    first = int(parts.path.strip("/") or 0)
    order = ([first] if first else []) + [n for n in range(15, 0, -1) if n != first]
    return [parts._replace(path=f"/{n}").geturl() for n in order]


def claim_redis(base: str, token: str) -> str | None:
    """Claim an unclaimed database on the Redis server at ``base`` and empty it; None when Redis is down.

    The claim is a key set only if absent (SET NX), so two sessions never take the same database; emptying it and
    setting the claim again is one transaction, so nothing slips in between.
    """
    import redis

    for url in redis_candidates(base):
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            if not client.set(REDIS_CLAIM_KEY, token, nx=True, ex=REDIS_CLAIM_SECONDS):
                continue
            with client.pipeline(transaction=True) as pipe:
                pipe.flushdb()
                pipe.set(REDIS_CLAIM_KEY, token, ex=REDIS_CLAIM_SECONDS)
                pipe.execute()
            return url
        except (redis.ConnectionError, redis.TimeoutError):
            return None
        except redis.ResponseError:  # e.g. a server configured with fewer databases than this index
            continue
        finally:
            client.close()
    raise RuntimeError(f"every Redis database on {base} is claimed by another test session")


def release_redis(url: str, token: str) -> None:
    """Empty a claimed database and drop the claim, if it is still this session's."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        if client.get(REDIS_CLAIM_KEY) == token.encode():
            client.flushdb()
    except redis.RedisError:
        pass
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis database for this test session alone, emptied before and after (the test skips if Redis is down)."""
    token = uuid.uuid4().hex
    url = claim_redis(REDIS_URL, token)
    if url is None:
        pytest.skip("Redis is not reachable")
    try:
        yield url
    finally:
        release_redis(url, token)


@pytest.fixture
def db(database_url) -> Iterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        with database.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(delete(table))
        database.dispose()


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return make_settings(database_url, tmp_path)


def make_settings(database_url: str, tmp_path: Path, **overrides) -> Settings:
    values = {
        "env": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "base_url": "http://127.0.0.1",
        "instance_path": tmp_path / "instance",
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def app(settings, db):
    from lti_tool.app import create_app

    application = create_app(settings, database=db)
    application.testing = True
    return application


@pytest.fixture
def client(app):
    return app.test_client()


class LiveServer:
    """A WSGI app served over real HTTP on loopback in a thread."""

    def __init__(self, wsgi_app, host: str = "127.0.0.1") -> None:
        self.server = make_server(host, 0, wsgi_app, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def live_app(database_url, db, tmp_path) -> Iterator[tuple[str, object]]:
    """The tool over real HTTP: yields (base_url, app); BASE_URL matches the served address."""
    from lti_tool.app import create_app

    # Bind first to learn the port, then build the app with a BASE_URL that matches it.
    server = make_server("127.0.0.1", 0, lambda e, s: [], threaded=True)
    port = server.server_port
    server.server_close()
    application = create_app(make_settings(database_url, tmp_path, base_url=f"http://127.0.0.1:{port}"), database=db)
    srv = make_server("127.0.0.1", port, application, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", application
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)
