"""Admin pages (/admin): platform registrations (approve, disable, deployment policy) and the URLs for the LMS.

Protected by ADAPTIVE_LTI_ADMIN_TOKEN, sent as ``Authorization: Bearer <token>`` or entered on /admin/login,
which sets a ``SameSite=Strict`` cookie (admin pages are used top-level, never inside an LMS iframe; Strict also
keeps other sites from posting the approve/disable forms, and a POST whose Origin names another host is
refused). In production the pages stay off without a token; in development without a token they are open (the
server listens on loopback).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from lti_tool.app import get_settings
from lti_tool.db import get_session
from lti_tool.logs import get_logger
from lti_tool.lti.tool_config import tool_urls
from lti_tool.models import Registration
from lti_tool.models.lti import ACTIVE, DISABLED
from lti_tool.services import registrations

bp = Blueprint("admin", __name__, url_prefix="/admin")
log = get_logger(__name__)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


@bp.before_request
def _same_origin_posts() -> None:
    """Forms are posted from these pages only. SameSite=Strict keeps other *sites* from sending the cookie, but a
    sibling host of the same site (the LMS at moodle.school.edu, the tool at lti.school.edu) is the same site; and
    in development the pages are open without any cookie. Browsers send Origin (or at least Referer) on every
    cross-origin POST, so one that names another origin is refused; clients without either (curl, scripts with
    the bearer token) are not browsers riding a cookie."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    claimed = request.headers.get("Origin") or _origin_of(request.headers.get("Referer", "")) or None
    if claimed is None:
        return
    ours = {_origin_of(request.host_url), _origin_of(get_settings().base_url)}
    if claimed.lower() not in ours:
        log.warning("admin_cross_origin_post_refused", path=request.path)
        abort(403)
COOKIE = "adaptive_lti_admin"
COOKIE_TTL = 8 * 3600


def _admin_token() -> str | None:
    token = get_settings().admin_token
    return token.get_secret_value() if token is not None else None


def _cookie_value(expires: int, token: str) -> str:
    mac = hmac.new(get_settings().secret().encode(), f"admin:{expires}:{token}".encode(), hashlib.sha256)
    return f"{expires}.{mac.hexdigest()}"


def _authorized() -> bool:
    token = _admin_token()
    if token is None:
        return not get_settings().is_production
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
        return True
    cookie = request.cookies.get(COOKIE, "")
    expires, _, _ = cookie.partition(".")
    if expires.isdigit() and int(expires) > time.time():
        return hmac.compare_digest(cookie.encode(), _cookie_value(int(expires), token).encode())
    return False


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _admin_token() is None and get_settings().is_production:
            abort(404)
        if not _authorized():
            if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
                return redirect(url_for("admin.login", next=request.path))
            return make_response(render_template("admin/login.html", error="Admin token required."), 401)
        return view(*args, **kwargs)

    return wrapper


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    token = _admin_token()
    if token is None:
        if get_settings().is_production:
            abort(404)
        return redirect(url_for("admin.registrations_page"))
    if request.method == "GET":
        return make_response(render_template("admin/login.html", error=None))
    given = request.form.get("token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        log.info("admin_login_failed")
        return make_response(render_template("admin/login.html", error="Wrong token."), 401)
    target = request.args.get("next", "")
    if not target.startswith("/admin") or target.startswith("//"):
        target = url_for("admin.registrations_page")
    response = redirect(target)
    expires = int(time.time()) + COOKIE_TTL
    response.set_cookie(COOKIE, _cookie_value(expires, token), max_age=COOKIE_TTL, path="/admin",
                        secure=get_settings().https, httponly=True, samesite="Strict")
    return response


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    response = redirect(url_for("admin.login"))
    response.delete_cookie(COOKIE, path="/admin", secure=get_settings().https, httponly=True, samesite="Strict")
    return response


@bp.get("/")
@admin_required
def registrations_page() -> ResponseReturnValue:
    regs = registrations.list_all(get_session())
    return make_response(render_template("admin/registrations.html", registrations=regs,
                                         open_dev=_admin_token() is None))


def _registration(reg_id: int) -> Registration:
    reg = registrations.get_by_id(get_session(), reg_id)
    if reg is None:
        abort(404)
    return reg


@bp.post("/registrations/<int:reg_id>/status")
@admin_required
def set_status(reg_id: int) -> ResponseReturnValue:
    reg = _registration(reg_id)
    action = request.form.get("action")
    if action in ("approve", "enable"):
        reg.status = ACTIVE
    elif action == "disable":
        reg.status = DISABLED
    else:
        abort(400)
    get_session().commit()
    log.info("admin_registration_status", registration_id=reg.id, status=reg.status)
    return redirect(url_for("admin.registrations_page"), code=303)


@bp.post("/registrations/<int:reg_id>/policy")
@admin_required
def set_policy(reg_id: int) -> ResponseReturnValue:
    reg = _registration(reg_id)
    try:
        registrations.set_policy(get_session(), reg, request.form.get("policy", ""))
    except registrations.RegistrationError:
        abort(400)
    get_session().commit()
    return redirect(url_for("admin.registrations_page"), code=303)


@bp.post("/registrations/<int:reg_id>/deployments")
@admin_required
def add_deployment(reg_id: int) -> ResponseReturnValue:
    reg = _registration(reg_id)
    deployment_id = request.form.get("deployment_id", "").strip()
    if not deployment_id:
        abort(400)
    registrations.add_deployment(get_session(), reg, deployment_id[:255])
    get_session().commit()
    return redirect(url_for("admin.registrations_page"), code=303)


@bp.get("/urls")
@admin_required
def urls_page() -> ResponseReturnValue:
    return make_response(render_template("admin/urls.html", urls=tool_urls(get_settings())))
