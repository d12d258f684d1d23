"""Alembic environment: runs from ``adaptive-lti db upgrade`` (or plain ``alembic``, see alembic.ini).

On PostgreSQL an advisory lock keeps replicas that start together from migrating at once, and lock/statement
timeouts keep a migration from hanging behind a long transaction.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from lti_tool.db import make_engine
from lti_tool.models import Base

config = context.config
target_metadata = Base.metadata
MIGRATION_LOCK_ID = 0x4144_4C54  # "ADLT"


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from lti_tool.settings import load_settings

        url = load_settings().resolved_database_url
    return url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


def _run(connection) -> None:
    is_pg = connection.dialect.name == "postgresql"
    if is_pg:
        connection.execute(text("SET lock_timeout = '30s'"))
        connection.execute(text("SET statement_timeout = '10min'"))
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if is_pg:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
