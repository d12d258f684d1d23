"""One HTTP client for the LTI Advantage services (token endpoint, NRPS, AGS).

Every request has the configured timeout and a User-Agent (some Moodle servers answer 403 without one). Failures
are classified once, here, so callers decide retry or give up from :attr:`LtiHttpError.kind`:

``transient``  5xx, 408, timeouts, refused or dropped connections: retry with backoff.
``rate_limited`` 429: retry, honouring ``Retry-After``.
``auth``       401: the access token was refused; drop it from the cache and retry once with a new one.
``conflict``   409 (Moodle: a second score in the same second).
``client``     any other 4xx: the request will never succeed as it is.

Bearer tokens and client assertions are never logged; neither are response bodies (they can hold names).
"""

from __future__ import annotations

import datetime as dt
import email.utils
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import requests

from lti_tool.logs import get_logger

log = get_logger(__name__)

TRANSIENT = "transient"
RATE_LIMITED = "rate_limited"
AUTH = "auth"
CONFLICT = "conflict"
CLIENT = "client"
RETRYABLE = (TRANSIENT, RATE_LIMITED)


def _user_agent() -> str:
    try:
        version = metadata.version("adaptive-lti")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        version = "0"
    return f"adaptive-lti/{version} (LTI 1.3 tool; +https://www.1edtech.org/standards/lti)"


USER_AGENT = _user_agent()


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; ``None`` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass
class LtiHttpError(Exception):
    kind: str
    status: int | None
    message: str
    retry_after: float | None = None
    body: str = ""

    def __str__(self) -> str:
        status = f"HTTP {self.status}" if self.status else "no response"
        return f"{status}: {self.message}"

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


def classify(status: int) -> str:
    if status == 429:
        return RATE_LIMITED
    if status >= 500 or status == 408:
        return TRANSIENT
    if status == 401:
        return AUTH
    if status == 409:
        return CONFLICT
    return CLIENT


def error_from_response(response: requests.Response) -> LtiHttpError:
    body = (response.text or "")[:500]
    return LtiHttpError(
        kind=classify(response.status_code),
        status=response.status_code,
        message=f"{response.request.method if response.request else ''} {_safe_url(response.url)} "
        f"answered {response.status_code} {response.reason or ''}".strip(),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        body=body,
    )


def _safe_url(url: str | None) -> str:
    return (url or "").split("?", 1)[0]


class LtiHttp:
    """A small requests wrapper; one per worker (or per job run). Close it when done."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    @classmethod
    def from_settings(cls, settings: Any) -> LtiHttp:
        return cls(timeout=float(settings.http_timeout_seconds))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> LtiHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        accept: str | None = None,
        content_type: str | None = None,
        json_body: Any = None,
        data: Any = None,
        params: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send one request; return the response if 2xx, else raise :class:`LtiHttpError`."""
        headers: dict[str, str] = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if accept:
            headers["Accept"] = accept
        body: Any = data
        if json_body is not None:
            import json

            body = json.dumps(json_body)
            headers["Content-Type"] = content_type or "application/json"
        elif content_type:
            headers["Content-Type"] = content_type
        try:
            response = self.session.request(
                method, url, headers=headers, data=body, params=params, timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise LtiHttpError(TRANSIENT, None, f"{method} {_safe_url(url)} timed out") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise LtiHttpError(TRANSIENT, None, f"{method} {_safe_url(url)}: connection failed") from exc
        except requests.RequestException as exc:
            raise LtiHttpError(CLIENT, None, f"{method} {_safe_url(url)}: {type(exc).__name__}") from exc
        if 200 <= response.status_code < 300:
            return response
        error = error_from_response(response)
        log.info("lti_http_error", method=method, url=_safe_url(url), status=response.status_code,
                 kind=error.kind)
        raise error
