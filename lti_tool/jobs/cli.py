"""``adaptive-lti worker``: runs background jobs (grade delivery, roster sync, training)."""

from __future__ import annotations

import signal
import threading
import time

import click


@click.command("worker")
@click.option("--queues", default="grades,roster,training", show_default=True, help="Celery queues to consume")
@click.option("--concurrency", default=2, type=int, show_default=True, help="Celery worker processes")
@click.option("--beat/--no-beat", default=True, show_default=True,
              help="Also run the periodic sweep schedule (run it in exactly one worker)")
@click.option("--inline", is_flag=True,
              help="No Redis: loop over the database (sweep, deliver, sync) in this process")
@click.option("--once", is_flag=True, help="With --inline: one sweep, run what it found, exit (for cron)")
@click.pass_context
def worker(click_ctx: click.Context, **opts: object) -> None:
    """Run background jobs: a Celery worker on Redis, or (--inline, or without ADAPTIVE_LTI_REDIS_URL) a loop
    over the database that runs the same jobs."""
    from lti_tool.cli import Ctx

    queues, concurrency, beat = str(opts["queues"]), int(opts["concurrency"]), bool(opts["beat"])  # type: ignore[call-overload]
    inline, once = bool(opts["inline"]), bool(opts["once"])
    obj = click_ctx.ensure_object(Ctx)
    settings = obj.settings
    if inline or once or settings.resolved_jobs_backend != "celery":
        _run_inline(obj, once)
        return
    from lti_tool.jobs.celery_app import make_celery

    app = make_celery(settings)
    argv = ["worker", "--queues", queues, "--concurrency", str(concurrency), "--loglevel",
            settings.log_level.upper(), "--hostname", "adaptive-lti@%h"]
    if beat:
        argv.append("--beat")
    click.echo(f"Celery worker on queues {queues} (broker from ADAPTIVE_LTI_REDIS_URL).")
    app.worker_main(argv)


def _run_inline(obj, once: bool) -> None:
    from lti_tool import jobs
    from lti_tool.jobs.runtime import InlineRuntime

    settings = obj.settings
    runtime = InlineRuntime(obj.db, settings, autostart=False)
    jobs.set_runtime(runtime)
    stop = threading.Event()

    def _stop(signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    every = max(0.05, float(settings.jobs_sweep_seconds) or 30.0)
    click.echo(f"Inline worker {runtime.worker_id}: sweeping every {every:g}s.", err=True)
    while not stop.is_set():
        runtime.dispatch("jobs.sweep", {})
        runtime.run_pending()
        if once:
            break
        stop.wait(every)
    time.sleep(0)
