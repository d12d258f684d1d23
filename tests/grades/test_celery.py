"""A real Celery worker on Redis delivers a score recorded in the web app (skipped when Redis is down).

The worker and the web app share a Redis database claimed for this test session (``redis_url``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lti_tool import jobs
from lti_tool.jobs.runtime import CeleryRuntime

from ..conftest import TEST_SECRET
from .conftest import record


@pytest.mark.slow
def test_celery_worker_delivers_a_score(database_url, db, gsettings, lms, course, tmp_path, redis_url):
    settings = gsettings.model_copy(update={"redis_url": redis_url, "jobs_backend": "celery"})
    runtime = CeleryRuntime(settings)
    env = dict(os.environ)
    env.update({"ADAPTIVE_LTI_ENV": "test", "ADAPTIVE_LTI_DATABASE_URL": database_url,
                "ADAPTIVE_LTI_SECRET_KEY": TEST_SECRET, "ADAPTIVE_LTI_INSTANCE_PATH": str(tmp_path / "w"),
                "ADAPTIVE_LTI_REDIS_URL": redis_url, "ADAPTIVE_LTI_JOBS_SWEEP_SECONDS": "0",
                "ADAPTIVE_LTI_LOG_LEVEL": "WARNING"})
    cli = str(Path(sys.executable).parent / "adaptive-lti")
    worker = subprocess.Popen([cli, "worker", "--concurrency", "1", "--no-beat", "--queues", "grades"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    previous = jobs.current_runtime()
    jobs.set_runtime(runtime)
    try:
        record(db, course, "s1", 6)  # dispatched to Celery after the commit
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not lms.gradebook("C1", "li-1"):
            time.sleep(0.2)
        assert lms.gradebook("C1", "li-1") == {"s1": 6}
    finally:
        jobs.set_runtime(previous)
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
        runtime.celery.close()
