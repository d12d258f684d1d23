"""Application factory: ``create_app(settings=None)``; nothing happens at import time."""

from __future__ import annotations

import re
import uuid

import structlog
from flask import Flask, g, jsonify, request

from lti_tool import logs
from lti_tool.db import Database
from lti_tool.settings import Settings, load_settings

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # anything else (a 16 KiB header, markup) is replaced


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    settings = settings or load_settings()
    settings.check()
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()), instance_relative_config=False)
    app.config.update(
        SECRET_KEY=settings.secret(),
        SETTINGS=settings,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        SESSION_COOKIE_SECURE=settings.https,
        SESSION_COOKIE_SAMESITE="None" if settings.https else "Lax",
        PREFERRED_URL_SCHEME="https" if settings.https else "http",
    )
    logs.configure(settings.log_level, settings.json_logs)

    db = database or Database.from_settings(settings)
    db.init_app(app)

    @app.before_request
    def _bind_request_id() -> None:
        given = request.headers.get("X-Request-Id", "")  # a proxy's id ties our log lines to its own
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)

    @app.get("/healthz")
    def healthz():  # liveness + database reachability
        from sqlalchemy import text

        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return jsonify(status="ok")

    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    """Each subsystem registers itself here (one line each)."""
    # --- blueprints (keep one import + register per line) ---
    from lti_tool.i18n import init_app as i18n_init_app
    i18n_init_app(app)
    from lti_tool.views.practice_api import bp as practice_api_bp
    app.register_blueprint(practice_api_bp)
    from lti_tool.services.practice import init_app as practice_init_app
    practice_init_app(app)
    from lti_tool.views.mastery_panel import init_app as mastery_panel_init_app
    mastery_panel_init_app(app)
    from lti_tool.views.engine_panel import init_app as engine_panel_init_app
    engine_panel_init_app(app)
    from lti_tool.services.items import init_app as items_init_app
    items_init_app(app)
    from lti_tool.jobs import init_app as jobs_init_app
    jobs_init_app(app)
    from lti_tool.views.grades_api import bp as grades_api_bp
    app.register_blueprint(grades_api_bp)
    from lti_tool.views.metrics import bp as metrics_bp
    app.register_blueprint(metrics_bp)
    from lti_tool.lti.views import bp as lti_bp
    app.register_blueprint(lti_bp)
    from lti_tool.views.admin import bp as admin_bp
    app.register_blueprint(admin_bp)


def get_settings(app: Flask | None = None) -> Settings:
    from flask import current_app

    return (app or current_app).config["SETTINGS"]
