"""HTTP endpoints of the LTI side: login, launch, deep linking, JWKS, Canvas config, dynamic registration."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, make_response, redirect, render_template, request
from flask_babel import gettext, refresh
from werkzeug.wrappers import Response as WerkzeugResponse

from lti_tool.app import get_settings
from lti_tool.db import get_session
from lti_tool.logs import get_logger
from lti_tool.lti import claims as c
from lti_tool.lti import deep_linking, tool_config
from lti_tool.lti.errors import LtiError
from lti_tool.lti.launch import token_locale, validate_launch
from lti_tool.lti.login import begin_login, cookie_name
from lti_tool.lti.session import current_session, require_session
from lti_tool.services import keys
from lti_tool.signals import launch_validated

bp = Blueprint("lti", __name__)
log = get_logger(__name__)


def error_page(exc: LtiError) -> Response:
    html = render_template("lti/error.html", title=gettext(exc.title), detail=exc.detail, admin_hint=exc.admin_hint,
                           status=exc.status, request_id=g.get("request_id"))
    response = make_response(html, exc.status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _cookie_kwargs() -> dict:
    settings = get_settings()
    if settings.https:
        return {"secure": True, "samesite": "None", "partitioned": True, "httponly": True, "path": "/lti/"}
    return {"secure": False, "samesite": "Lax", "httponly": True, "path": "/lti/"}


@bp.route("/lti/login", methods=["GET", "POST"])
def login() -> WerkzeugResponse:
    params = dict(request.args.items())
    params.update(request.form.items())
    # Canvas sends deployment_id where the spec says lti_deployment_id; both are only hints here.
    if "lti_deployment_id" not in params and params.get("deployment_id"):
        params["lti_deployment_id"] = params["deployment_id"]
    session = get_session()
    settings = get_settings()
    try:
        result = begin_login(session, settings, params)
        session.commit()
    except LtiError as exc:
        session.rollback()
        log.info("login_refused", reason=exc.detail[:120])
        return error_page(exc)
    if result.storage_target:
        response: WerkzeugResponse = make_response(render_template(
            "lti/login_storage.html", redirect_url=result.redirect_url, storage={
                "target": result.storage_target, "origin": result.platform_origin,
                "state": result.state, "nonce": result.nonce,
            }))
    else:
        response = redirect(result.redirect_url, code=302)
        response.set_cookie(cookie_name(result.state), "1", max_age=settings.login_state_ttl_seconds,
                            **_cookie_kwargs())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/lti/launch")
def launch() -> Response:
    session = get_session()
    settings = get_settings()
    try:
        validated = validate_launch(session, settings, request.form, request.cookies)
        launch_validated.send(current_app._get_current_object(),  # type: ignore[attr-defined]
                              session=session, launch=validated)
        session.commit()
    except LtiError as exc:
        session.rollback()
        log.info("launch_refused", status=exc.status, reason=exc.detail[:160])
        g.launch_locale_hint = token_locale(request.form.get("id_token", ""))
        refresh()
        response = error_page(exc)
        _delete_state_cookie(response)
        return response
    g.storage_check = validated.storage_check
    g.validated_launch = validated  # the page shows its rows and carries its token: no second lookup or signature
    if validated.claims[c.MESSAGE_TYPE] == c.DEEP_LINKING_REQUEST:
        response = deep_linking.render_picker(session, validated.lti_session)
    else:
        from lti_tool.views.landing import render_landing

        response = render_landing(session, validated.lti_session)
    _delete_state_cookie(response)
    return response


def _delete_state_cookie(response: Response) -> None:
    state = request.form.get("state", "")
    name = cookie_name(state)
    if state and name in request.cookies:
        kwargs = _cookie_kwargs()
        response.delete_cookie(name, path=kwargs["path"], secure=kwargs["secure"], samesite=kwargs["samesite"],
                               httponly=True, partitioned=kwargs.get("partitioned", False))


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(keys.jwks(get_session()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.post("/lti/deep_link")
@require_session(instructor=True)
def deep_link_submit() -> Response:
    """The instructor's choice in the picker -> signed LtiDeepLinkingResponse auto-POSTed to the platform."""
    lti_session = current_session()
    session = get_session()
    try:
        return_url, token, _ = deep_linking.build_response(
            session, get_settings(), lti_session, request.form.get("activity") or None, dict(request.form.items())
        )
        session.commit()
    except LtiError as exc:
        session.rollback()
        return error_page(exc)
    log.info("deep_link_response", registration_id=lti_session.registration_id)
    return deep_linking.render_autopost(return_url, token)


@bp.get("/lti/api/session")
@require_session()
def session_info() -> Response:
    """Who the Bearer token says the caller is (pages use it to check their token; handy for debugging)."""
    s = current_session()
    return jsonify(user_id=s.user_id, context_id=s.context_id, resource_link_id=s.resource_link_id,
                   roles=list(s.roles), is_instructor=s.is_instructor, is_learner=s.is_learner,
                   is_test_user=s.is_test_user, message_type=s.message_type)


@bp.get("/lti/config.json")
def canvas_config() -> Response:
    response = jsonify(tool_config.canvas_config(get_settings()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/lti/register")
def dynamic_register() -> Response:
    """LTI Dynamic Registration 1.0: opened by Moodle or Canvas in a window or iframe."""
    from lti_tool.lti import dynamic_registration

    session = get_session()
    try:
        reg = dynamic_registration.register(session, get_settings(), request.args.get("openid_configuration", ""),
                                            request.args.get("registration_token"))
        session.commit()
    except LtiError as exc:
        session.rollback()
        return error_page(exc)
    return make_response(render_template("lti/registered.html", registration=reg))
