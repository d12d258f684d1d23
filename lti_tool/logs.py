"""Structured logging (structlog): JSON in production, readable lines in development.

Secrets and student data never reach the log: a processor drops any field whose name says token, secret,
password, assertion, cookie or authorization, and views bind ids (issuer, deployment, request id), never names.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

SENSITIVE = ("token", "secret", "password", "assertion", "cookie", "authorization", "private", "jwt", "email")


def redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if any(word in key.lower() for word in SENSITIVE):
            event[key] = "[redacted]"
    return event


def configure(level: str = "INFO", json: bool = False) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*processors, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
