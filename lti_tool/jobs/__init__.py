"""Background jobs: grade delivery, roster sync, training.

One registry of named jobs (``@job("grades.deliver", queue="grades")``), two ways to run them:

* **celery** (scale-out; ``ADAPTIVE_LTI_REDIS_URL`` set): :func:`enqueue` sends a Celery message to the job's queue
  (``grades``, ``roster``, ``training``); ``adaptive-lti worker`` runs the workers and the beat schedule (the sweep).
* **inline** (the embedded default, no Redis): a background thread in the web process runs the same jobs and the
  same periodic sweep. In ``ADAPTIVE_LTI_ENV=test`` the thread is not started: jobs wait in memory until a test
  calls :func:`run_pending`.

The database stays the source of truth either way (the score outbox, roster sync status): the sweep finds what
is due, so a lost message loses nothing. Job arguments must be JSON-able (ids, not ORM objects).
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lti_tool.logs import get_logger

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session

    from lti_tool.jobs.runtime import Runtime

log = get_logger(__name__)

QUEUES = ("grades", "roster", "training")
# Modules that define jobs; a subsystem with jobs appends its module here (one line).
JOB_MODULES = ["lti_tool.jobs.tasks", "lti_tool.jobs.training"]


@dataclass(frozen=True)
class JobSpec:
    name: str
    queue: str
    fn: Callable[..., Any]


@dataclass
class JobContext:
    """What a job gets besides its arguments: the database, the settings and this worker's id."""

    db: Any
    settings: Any
    worker_id: str


REGISTRY: dict[str, JobSpec] = {}


class _State:
    runtime: Runtime | None = None
    loaded = False
    signals_connected = False


_state = _State()


def job(name: str, queue: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(ctx: JobContext, **kwargs)`` as the job ``name`` on ``queue``."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; use one of {QUEUES}")

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY[name] = JobSpec(name, queue, fn)
        return fn

    return decorator


def load_jobs() -> dict[str, JobSpec]:
    if not _state.loaded:
        for module in JOB_MODULES:
            importlib.import_module(module)
        _state.loaded = True
    return REGISTRY


def spec(name: str) -> JobSpec:
    specs = load_jobs()
    if name not in specs:
        raise KeyError(f"unknown job {name!r}")
    return specs[name]


def run_job(name: str, kwargs: dict[str, Any], ctx: JobContext) -> Any:
    """Run one job now, in this thread; errors are logged and re-raised."""
    started = time.monotonic()
    try:
        result = spec(name).fn(ctx, **kwargs)
    except Exception:
        log.exception("job_failed", job=name, **_loggable(kwargs))
        raise
    log.debug("job_done", job=name, seconds=round(time.monotonic() - started, 3), **_loggable(kwargs))
    return result


def _loggable(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if isinstance(v, (int, float, bool)) or k.endswith("_id")}


# ------------------------------------------------------------------------------------------ enqueue
def current_runtime() -> Runtime | None:
    try:
        from flask import current_app, has_app_context

        if has_app_context():
            runtime = current_app.extensions.get("jobs")
            if runtime is not None:
                return runtime
    except ImportError:  # pragma: no cover
        pass
    return _state.runtime


def set_runtime(runtime: Runtime | None) -> None:
    """The runtime used outside a Flask app context (workers, CLI, tests)."""
    _state.runtime = runtime


def enqueue(name: str, **kwargs: Any) -> None:
    """Ask for job ``name`` to run soon with JSON-able ``kwargs`` (e.g. ``enqueue("roster.sync", context_id=5)``).

    Never raises for an unavailable broker: the job's state is in the database and the sweep will find it.
    """
    json.dumps(kwargs)  # fail fast on arguments a broker could not carry
    spec(name)
    runtime = current_runtime()
    if runtime is None:
        log.warning("job_not_enqueued_no_runtime", job=name)
        return
    runtime.dispatch(name, kwargs)


def connect_queue(settings: Any, db: Any) -> bool:
    """For a command-line process: when a job queue (Celery on Redis) is configured, send this process's
    :func:`enqueue` calls to it and return True; False without one (a CLI starts no inline worker thread)."""
    if settings.resolved_jobs_backend != "celery":
        return False
    from lti_tool.jobs.runtime import make_runtime

    set_runtime(make_runtime(settings, db))
    return True


def enqueue_after_commit(session: Session, name: str, **kwargs: Any) -> None:
    """Enqueue once ``session``'s transaction commits (dropped on rollback), so a job never sees uncommitted
    rows and a rolled-back attempt sends nothing."""
    json.dumps(kwargs)
    spec(name)
    runtime = current_runtime()
    pending: list[tuple[str, dict[str, Any], Runtime | None]] = session.info.setdefault("adaptive_lti_jobs", [])
    if (name, kwargs, runtime) not in pending:
        pending.append((name, kwargs, runtime))
    if not session.info.get("adaptive_lti_jobs_hooked"):
        from sqlalchemy import event

        event.listen(session, "after_commit", _dispatch_pending)
        event.listen(session, "after_rollback", _drop_pending)
        session.info["adaptive_lti_jobs_hooked"] = True


def _dispatch_pending(session: Session) -> None:
    pending = session.info.pop("adaptive_lti_jobs", [])
    for name, kwargs, runtime in pending:
        target = runtime or current_runtime()
        if target is None:
            log.warning("job_not_enqueued_no_runtime", job=name)
            continue
        try:
            target.dispatch(name, kwargs)
        except Exception:  # the sweep will find the work; never fail the request that committed
            log.exception("job_dispatch_failed", job=name)


def _drop_pending(session: Session) -> None:
    session.info.pop("adaptive_lti_jobs", None)


def run_pending(max_jobs: int = 10_000) -> int:
    """Run the jobs waiting in the inline runtime, in this thread (tests, ``worker --inline``)."""
    runtime = current_runtime()
    if runtime is None:
        return 0
    return runtime.run_pending(max_jobs)


# ------------------------------------------------------------------------------------------ the app
def init_app(app: Flask) -> None:
    """Pick the runtime from the settings, hook the launch signal, start the inline thread on first request."""
    from lti_tool.jobs.runtime import make_runtime

    settings = app.config["SETTINGS"]
    db = app.extensions["db"]
    runtime = make_runtime(settings, db)
    app.extensions["jobs"] = runtime
    set_runtime(runtime)
    _connect_signals()

    @app.before_request
    def _start_jobs() -> None:
        runtime.ensure_started()


def _connect_signals() -> None:
    if _state.signals_connected:
        return
    from lti_tool.jobs.hooks import on_launch_validated
    from lti_tool.signals import launch_validated

    launch_validated.connect(on_launch_validated, weak=False)
    _state.signals_connected = True
