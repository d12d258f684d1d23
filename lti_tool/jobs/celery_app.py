"""The Celery application (broker: ``ADAPTIVE_LTI_REDIS_URL``), built from settings, never at import time.

Each registered job becomes a Celery task of the same name routed to its queue. Tasks are acknowledged late and
re-queued if a worker dies, and prefetch is one, so a killed worker loses no message; even so the database is the
truth and the beat schedule's sweep finds anything a lost message left behind.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery

_context_lock = threading.Lock()
_worker: dict[str, Any] = {}


def make_celery(settings: Any) -> Celery:
    from lti_tool import jobs

    if not settings.redis_url:
        raise RuntimeError("the celery job backend needs ADAPTIVE_LTI_REDIS_URL")
    app = Celery("adaptive_lti", broker=settings.redis_url, set_as_current=False)
    specs = jobs.load_jobs()
    app.conf.update(
        task_default_queue="grades",
        task_routes={name: {"queue": s.queue} for name, s in specs.items()},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        timezone="UTC",
        beat_schedule={},
    )
    if float(settings.jobs_sweep_seconds) > 0:
        app.conf.beat_schedule["adaptive-lti-sweep"] = {
            "task": "jobs.sweep", "schedule": float(settings.jobs_sweep_seconds), "options": {"queue": "grades"},
        }
    for name in specs:
        app.task(name=name, bind=False, ignore_result=True)(_task_body(name, settings))
    return app


def _task_body(name: str, settings: Any) -> Any:
    def body(**kwargs: Any) -> None:
        from lti_tool import jobs

        jobs.run_job(name, kwargs, worker_context(settings))

    body.__name__ = name.replace(".", "_")
    return body


def worker_context(settings: Any) -> Any:
    """One database per worker process (created after the fork), shared by the process's task threads."""
    with _context_lock:
        if "ctx" not in _worker:
            from lti_tool import jobs
            from lti_tool.db import Database
            from lti_tool.jobs.runtime import CeleryRuntime
            from lti_tool.services.grades import new_worker_id

            _worker["ctx"] = jobs.JobContext(Database.from_settings(settings), settings, new_worker_id())
            if jobs.current_runtime() is None:
                jobs.set_runtime(CeleryRuntime(settings))
        return _worker["ctx"]
