"""Shared fixtures.

Database tests run on SQLite and, when ``ADAPTIVE_LTI_TEST_DATABASE_URL`` is set, on PostgreSQL too: the
``database_url`` fixture is parametrised over both. Each PostgreSQL test session migrates its own schema (so two
runs on one server never meet) and drops it afterwards. After every test all rows are deleted.
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
