"""Errors a launch can end with: an HTTP status and a message written for the school's admin.

Messages never include tokens, keys or secrets: only what is wrong and what to do. The titles (the page's
heading) are translated when the page is rendered; the details are written for an admin and stay in English.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark ``message`` for extraction (pybabel finds ``N_``); it is translated where it is shown."""
    return message


class LtiError(Exception):
    status = 400
    title = N_("This LTI launch was refused")

    def __init__(self, detail: str, *, status: int | None = None, title: str | None = None,
                 admin_hint: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.admin_hint = admin_hint


class LoginError(LtiError):
    title = N_("LTI login refused")


class LaunchError(LtiError):
    title = N_("LTI launch refused")


class RegistrationRefused(LtiError):
    status = 403
    title = N_("This platform is not (yet) allowed")
