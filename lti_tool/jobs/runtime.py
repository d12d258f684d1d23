"""Where jobs run: in-process (a background thread, the embedded default) or on Celery workers (Redis)."""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from typing import Any, Protocol

from lti_tool.logs import get_logger

log = get_logger(__name__)


class Runtime(Protocol):
    def dispatch(self, name: str, kwargs: dict[str, Any]) -> None: ...

    def run_pending(self, max_jobs: int = 10_000) -> int: ...

    def ensure_started(self) -> None: ...

    def stop(self) -> None: ...


class InlineRuntime:
    """Runs jobs in this process. With ``autostart`` a daemon thread runs them as they come and dispatches the
    sweep every ``jobs_sweep_seconds``; without it they wait until :meth:`run_pending` (tests, the inline worker).
    Identical pending jobs are coalesced (two "deliver line item 5" requests are one delivery)."""

    def __init__(self, db: Any, settings: Any, *, autostart: bool, worker_id: str | None = None) -> None:
        from lti_tool.services.grades import new_worker_id

        self.db = db
        self.settings = settings
        self.autostart = autostart
        self.worker_id = worker_id or new_worker_id()
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._keys: set[str] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False

    # -- queueing
    def dispatch(self, name: str, kwargs: dict[str, Any]) -> None:
        key = name + json.dumps(kwargs, sort_keys=True)
        with self._cond:
            if key not in self._keys:
                self._keys.add(key)
                self._queue.append((name, kwargs))
            self._cond.notify()
        if self.autostart:
            self.ensure_started()

    def _pop(self) -> tuple[str, dict[str, Any]] | None:
        with self._cond:
            if not self._queue:
                return None
            name, kwargs = self._queue.popleft()
            self._keys.discard(name + json.dumps(kwargs, sort_keys=True))
            return name, kwargs

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        with self._cond:
            return list(self._queue)

    def run_pending(self, max_jobs: int = 10_000) -> int:
        from lti_tool.jobs import JobContext, run_job

        ran = 0
        ctx = JobContext(self.db, self.settings, self.worker_id)
        while ran < max_jobs:
            item = self._pop()
            if item is None:
                break
            ran += 1
            try:
                run_job(item[0], item[1], ctx)
            except Exception:  # noqa: S112 - logged by run_job; the database keeps the state, the sweep retries
                continue
        return ran

    # -- the background thread
    def ensure_started(self) -> None:
        if not self.autostart:
            return
        pid = os.getpid()
        if self._thread is not None and self._thread.is_alive() and self._pid == pid:
            return
        with self._cond:
            if self._thread is not None and self._thread.is_alive() and self._pid == pid:
                return
            self._pid = pid
            self._stopping = False
            self._thread = threading.Thread(target=self._loop, name="adaptive-lti-jobs", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        sweep_every = float(self.settings.jobs_sweep_seconds)
        self.dispatch_sweep()
        while True:
            with self._cond:
                if self._stopping:
                    return
                if not self._queue:
                    got = self._cond.wait(timeout=sweep_every if sweep_every > 0 else None)
                    if self._stopping:
                        return
                    if not got and not self._queue and sweep_every > 0:
                        self._queue.append(("jobs.sweep", {}))
            try:
                self.run_pending(max_jobs=100)
            except Exception:  # never let the thread die
                log.exception("inline_jobs_loop_error")

    def dispatch_sweep(self) -> None:
        if float(self.settings.jobs_sweep_seconds) > 0:
            with self._cond:
                self._queue.append(("jobs.sweep", {}))
                self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)


class CeleryRuntime:
    """Sends each job as a Celery message to its queue; ``adaptive-lti worker`` runs them."""

    def __init__(self, settings: Any) -> None:
        from lti_tool.jobs.celery_app import make_celery

        self.settings = settings
        self.celery = make_celery(settings)

    def dispatch(self, name: str, kwargs: dict[str, Any]) -> None:
        from lti_tool.jobs import spec

        try:
            self.celery.send_task(name, kwargs=kwargs, queue=spec(name).queue, retry=False)
        except Exception:  # broker down: the sweep re-enqueues from the database when it is back
            log.warning("job_broker_unavailable", job=name)

    def run_pending(self, max_jobs: int = 10_000) -> int:
        return 0

    def ensure_started(self) -> None:
        return None

    def stop(self) -> None:
        return None


def make_runtime(settings: Any, db: Any) -> Runtime:
    if settings.resolved_jobs_backend == "celery":
        return CeleryRuntime(settings)
    return InlineRuntime(db, settings, autostart=settings.env != "test")
