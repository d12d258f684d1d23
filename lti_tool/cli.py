"""``adaptive-lti``: the command line for school IT and developers.

Groups: db, platform, keys, serve (plus kt, worker, items ... registered by their subsystems).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING

import click

from lti_tool.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from lti_tool.services.registrations import RemovedBank


class Ctx:
    """Lazily built settings and database shared by the commands of one invocation."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._db = None

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings()
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
            from lti_tool import logs

            # Logs go to stderr so that command output (JSON, exports) stays clean on stdout.
            logs.configure(self._settings.log_level, self._settings.json_logs)
        return self._settings

    @property
    def db(self):
        if self._db is None:
            from lti_tool.db import Database

            self._db = Database.from_settings(self.settings)
        return self._db


pass_ctx = click.make_pass_decorator(Ctx, ensure=True)


class LazyGroup(click.Group):
    """A group whose heavy subcommands (those importing torch) load only when they are used."""

    lazy_subcommands: dict[str, str] = {"kt": "adaptive.cli:kt"}  # noqa: RUF012 - fixed table

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands and cmd_name not in self.commands:
            import importlib

            module, _, attr = self.lazy_subcommands[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="adaptive-lti")
@click.pass_context
def main(ctx: click.Context) -> None:
    """adaptive-lti: an LTI 1.3 adaptive-practice tool for Moodle and Canvas.

    Configuration comes from ADAPTIVE_LTI_* environment variables (see config/example.env).
    """
    obj = ctx.ensure_object(Ctx)
    ctx.call_on_close(obj.close)


# ---------------------------------------------------------------------------------------------- db
@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
@pass_ctx
def db_upgrade(obj: Ctx, revision: str) -> None:
    """Migrate the database to REVISION and make sure the tool has a signing key."""
    from lti_tool import migrate
    from lti_tool.services import keys

    settings = obj.settings
    if settings.resolved_database_url.startswith("sqlite:///"):
        settings.instance_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url, revision)
    if revision in ("head", "heads"):
        with obj.db.session() as session:
            key = keys.ensure_active_key(session, settings.secret())
            kid = key.kid
        click.echo(f"Database at head; active signing key {kid}.")


@db.command("downgrade")
@click.argument("revision")
@pass_ctx
def db_downgrade(obj: Ctx, revision: str) -> None:
    """Downgrade the schema to REVISION (e.g. base)."""
    from lti_tool import migrate

    migrate.downgrade(obj.settings.resolved_database_url, revision)


@db.command("check")
@pass_ctx
def db_check(obj: Ctx) -> None:
    """Fail if the models and the migrations disagree (alembic check)."""
    from alembic.util import CommandError

    from lti_tool import migrate

    try:
        migrate.check(obj.settings.resolved_database_url)
    except CommandError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("No drift between models and migrations.")


# ---------------------------------------------------------------------------------------- platform
@main.group()
def platform() -> None:
    """LMS platform registrations (issuer + client id) and their deployments."""


def _reg_dict(reg) -> dict:
    return {
        "id": reg.id,
        "name": reg.name,
        "issuer": reg.issuer,
        "client_id": reg.client_id,
        "status": reg.status,
        "auth_login_url": reg.auth_login_url,
        "auth_token_url": reg.auth_token_url,
        "jwks_url": reg.jwks_url,
        "unknown_deployment_policy": reg.unknown_deployment_policy,
        "source": reg.source,
        "product_family": reg.product_family,
        "deployment_ids": [d.deployment_id for d in reg.deployments],
    }


@platform.command("add")
@click.option("--issuer", required=True, help="The platform's issuer (iss), e.g. https://canvas.instructure.com")
@click.option("--client-id", required=True, help="The client id the platform gave this tool")
@click.option("--auth-login-url", required=True, help="Platform OIDC authorization endpoint")
@click.option("--auth-token-url", required=True, help="Platform OAuth2 token endpoint")
@click.option("--jwks-url", required=True, help="Platform public key set URL")
@click.option("--deployment-id", "deployment_ids", multiple=True, help="A deployment id (repeatable)")
@click.option("--name", default="", help="A name for admins (defaults to the issuer's host)")
@click.option("--auth-audience", default=None, help="Audience for token requests if not the token URL")
@click.option(
    "--unknown-deployments",
    type=click.Choice(["reject", "auto_add"]),
    default="reject",
    show_default=True,
    help="What to do with a launch from a deployment id not listed",
)
@pass_ctx
def platform_add(obj: Ctx, **opts) -> None:
    """Register an LMS platform (manual registration)."""
    from lti_tool.services import registrations

    policy = opts.pop("unknown_deployments")
    try:
        with obj.db.session() as session:
            reg = registrations.add(session, unknown_deployment_policy=policy, **opts)
            click.echo(f"Added registration {reg.id}: {reg.issuer} client {reg.client_id} "
                       f"({len(reg.deployments)} deployment(s)).")
    except registrations.RegistrationError as exc:
        raise click.ClickException(str(exc)) from exc


@platform.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
@pass_ctx
def platform_list(obj: Ctx, as_json: bool) -> None:
    """List registrations and their deployments."""
    from lti_tool.services import registrations

    with obj.db.session() as session:
        rows = [_reg_dict(r) for r in registrations.list_all(session)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No platforms registered. Add one with `adaptive-lti platform add` or dynamic registration.")
        return
    for r in rows:
        deps = ", ".join(r["deployment_ids"]) or "(none yet)"
        click.echo(f"[{r['id']}] {r['name']} ({r['status']})\n    issuer:      {r['issuer']}\n"
                   f"    client id:   {r['client_id']}\n    deployments: {deps}\n"
                   f"    unknown deployments: {r['unknown_deployment_policy']}")


def _resolve_opts(f):
    f = click.option("--client-id", required=True)(f)
    return click.option("--issuer", required=True)(f)


@platform.command("remove")
@_resolve_opts
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
@pass_ctx
def platform_remove(obj: Ctx, issuer: str, client_id: str, yes: bool) -> None:
    """Remove a registration and everything under it (courses, users, scores, its item banks and their trained
    engines). Shared (global) banks its students answered in lose the engines and calibrated difficulties fitted
    on those answers: the baseline serves them until they are retrained (queued when a job queue is set up)."""
    import shutil

    from lti_tool.services import registrations
    from lti_tool.services.engine import bank_registry, registry_root

    if not yes:
        click.confirm(f"Remove {issuer} / {client_id} and all its data?", abort=True)
    try:
        with obj.db.session() as session:
            removal = registrations.remove(session, issuer, client_id)
    except registrations.RegistrationError as exc:
        raise click.ClickException(str(exc)) from exc
    # after the commit: a failed delete keeps the engines; a later bank that gets a reused id (SQLite) and the
    # same slug must not find this one's models, trained on the removed school's students
    root = registry_root(obj.settings)
    removed = [path for path in (bank_registry(root, bank) for bank in removal.banks) if path.exists()]
    for path in removed:
        shutil.rmtree(path)
    click.echo(f"Removed (with {len(removal.banks)} item bank(s), {len(removed)} trained engine folder(s)).")
    if removal.shared_banks:
        _retrain_shared(obj, removal.shared_banks)


def _retrain_shared(obj: Ctx, banks: list[RemovedBank]) -> None:
    """The removed registration's students answered in these global banks: drop the engines fitted on their
    answers and have the banks retrained on what is left."""
    from lti_tool import jobs
    from lti_tool.jobs.training import discard_engine
    from lti_tool.services.engine import bank_registry, registry_root

    root = registry_root(obj.settings)
    queue = jobs.connect_queue(obj.settings, obj.db)
    for bank in banks:
        discarded = discard_engine(bank_registry(root, bank))
        name = f"Shared bank {bank.slug} (id {bank.id})"
        if discarded is None:
            click.echo(f"{name}: a training is running on answers that were just removed; run "
                       f"'adaptive-lti engine retrain --bank {bank.id} --wait' once it has finished.", err=True)
            continue
        what = "its trained engine was deleted, the baseline serves it" if discarded else "no trained engine"
        if queue:
            jobs.enqueue("training.select", bank_id=bank.id)
            click.echo(f"{name}: {what}; retraining queued on the remaining answers.")
        else:
            click.echo(f"{name}: {what}; retrain it on the remaining answers with "
                       f"'adaptive-lti engine retrain --bank {bank.id} --wait'.")


@platform.command("approve")
@_resolve_opts
@pass_ctx
def platform_approve(obj: Ctx, issuer: str, client_id: str) -> None:
    """Approve a pending (dynamically registered) platform so its launches are accepted."""
    from lti_tool.services import registrations

    try:
        with obj.db.session() as session:
            registrations.approve(session, issuer, client_id)
    except registrations.RegistrationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("Approved.")


@platform.command("add-deployment")
@_resolve_opts
@click.option("--deployment-id", required=True)
@pass_ctx
def platform_add_deployment(obj: Ctx, issuer: str, client_id: str, deployment_id: str) -> None:
    """Add a deployment id to a registration."""
    from lti_tool.services import registrations

    try:
        with obj.db.session() as session:
            reg = registrations.resolve(session, issuer, client_id)
            registrations.add_deployment(session, reg, deployment_id)
    except registrations.RegistrationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Deployment {deployment_id} added.")


@platform.command("set-policy")
@_resolve_opts
@click.argument("policy", type=click.Choice(["reject", "auto_add"]))
@pass_ctx
def platform_set_policy(obj: Ctx, issuer: str, client_id: str, policy: str) -> None:
    """Set what happens to launches from unknown deployment ids."""
    from lti_tool.services import registrations

    with obj.db.session() as session:
        try:
            reg = registrations.resolve(session, issuer, client_id)
            registrations.set_policy(session, reg, policy)
        except registrations.RegistrationError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"Unknown deployments: {policy}.")


# -------------------------------------------------------------------------------------------- keys
@main.group()
def keys() -> None:
    """The tool's RSA signing keys (published at /.well-known/jwks.json)."""


@keys.command("rotate")
@click.option("--keep-days", type=int, default=None, help="Keep the old public key published this many days")
@pass_ctx
def keys_rotate(obj: Ctx, keep_days: int | None) -> None:
    """Create a new signing key; the previous one stays in the JWKS until it expires."""
    from lti_tool.services import keys as key_service

    days = keep_days if keep_days is not None else obj.settings.key_retire_after_days
    with obj.db.session() as session:
        new, retired = key_service.rotate(session, obj.settings.secret(), dt.timedelta(days=days))
        click.echo(f"New active key {new.kid}; {len(retired)} previous key(s) published for {days} more day(s).")


@keys.command("list")
@pass_ctx
def keys_list(obj: Ctx) -> None:
    """List the tool's keys."""
    from lti_tool.services import keys as key_service

    with obj.db.session() as session:
        for k in key_service.published_keys(session):
            until = f" until {k.expires_at:%Y-%m-%d %H:%M}Z" if k.expires_at else ""
            click.echo(f"{k.kid}  {k.status}{until}")


# ------------------------------------------------------------------------------------------- serve
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@click.option("--workers", default=2, type=int, show_default=True, help="gunicorn workers (production)")
@click.option("--dev", is_flag=True, help="Flask's development server instead of gunicorn")
@pass_ctx
def serve(obj: Ctx, host: str, port: int, workers: int, dev: bool) -> None:
    """Serve the tool (gunicorn; --dev for Flask's reloader-free development server)."""
    settings = obj.settings
    if dev:
        from lti_tool.app import create_app

        create_app(settings).run(host=host, port=port, debug=False, use_reloader=False, threaded=True)
        return
    import os

    os.execvp(  # noqa: S606 - replace this process with gunicorn
        sys.executable,
        [sys.executable, "-m", "gunicorn", "--config", "python:lti_tool.gunicorn_conf",
         "--bind", f"{host}:{port}", "--workers", str(workers), "lti_tool.wsgi:app"],
    )


# ------------------------------------------------------------------------------------------ doctor
@main.command()
@pass_ctx
def doctor(obj: Ctx) -> None:
    """Check configuration, database, migrations, keys, Redis and registrations; exit 1 on a problem."""
    from sqlalchemy import text

    problems = 0

    def report(ok: bool, what: str, hint: str = "") -> None:
        nonlocal problems
        problems += 0 if ok else 1
        click.echo(f"[{'ok' if ok else 'FAIL'}] {what}" + (f"\n       {hint}" if hint and not ok else ""))

    settings = obj.settings
    report(True, f"configuration loaded (env={settings.env}, base URL {settings.base_url})")
    if not settings.https:
        click.echo("[warn] BASE_URL is plain http: LMSs launch over https only; fine for local development.")
    try:
        with obj.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        report(True, f"database reachable ({obj.db.engine.dialect.name})")
    except Exception as exc:
        report(False, "database reachable", f"{exc.__class__.__name__}: check ADAPTIVE_LTI_DATABASE_URL")
        raise SystemExit(1) from exc
    from alembic.runtime.migration import MigrationContext

    from lti_tool import migrate

    with obj.db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    heads = set(migrate.current_heads())
    report(current == heads, "database schema at the latest migration",
           f"run `adaptive-lti db upgrade` (database at {sorted(current) or 'empty'}, code at {sorted(heads)})")
    if current == heads:
        from lti_tool.services import keys as key_service
        from lti_tool.services import registrations

        with obj.db.session() as session:
            published = key_service.published_keys(session)
            report(any(k.status == "active" for k in published), "an active signing key exists",
                   "run `adaptive-lti db upgrade` or `adaptive-lti keys rotate`")
            try:
                key_service.signing_key(session, settings.secret())
                report(True, "the signing key decrypts with ADAPTIVE_LTI_SECRET_KEY")
            except Exception as exc:
                report(False, "the signing key decrypts with ADAPTIVE_LTI_SECRET_KEY", str(exc))
            regs = registrations.list_all(session)
            pending = [r for r in regs if r.status == "pending"]
            click.echo(f"[info] {len(regs)} platform registration(s), {len(pending)} pending approval")
            for r in pending:
                click.echo(f"       pending: {r.issuer} client {r.client_id} "
                           f"(approve: adaptive-lti platform approve --issuer {r.issuer} --client-id {r.client_id})")
    if settings.redis_url:
        try:
            import redis

            redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
            report(True, "Redis reachable")
        except Exception as exc:
            report(False, "Redis reachable", f"{exc.__class__.__name__}: check ADAPTIVE_LTI_REDIS_URL")
    else:
        click.echo("[info] no Redis configured: background jobs run in-process (embedded mode)")
    if problems:
        raise SystemExit(1)


def _register_subcommands() -> None:
    """Subsystems add their command groups here (one line each)."""
    # --- subcommands (keep one import + add_command per line) ---
    from lti_tool.items_cli import items
    main.add_command(items)
    from lti_tool.devlms.cli import dev
    main.add_command(dev)
    from lti_tool.jobs.cli import worker
    main.add_command(worker)
    from lti_tool.engine_cli import engine
    main.add_command(engine)
    # `kt` (the engine's commands) is loaded lazily by LazyGroup: importing torch costs seconds.


_register_subcommands()

