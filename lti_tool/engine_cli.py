"""``adaptive-lti engine``: the web app's knowledge-tracing engine (retrain on the tool's attempts, show the
decision). torch is imported only inside the commands, so ``adaptive-lti --help`` stays fast."""

from __future__ import annotations

import json

import click


@click.group("engine")
def engine() -> None:
    """The engine's model: champion/challenger training on this tool's own attempts."""


@engine.command("retrain")
@click.option("--wait", is_flag=True, help="Train now in this process and print the decision (else: enqueue it)")
@click.option("--models", default="dkt,akt", show_default=True, help="Challengers of the baseline")
@click.option("--epochs", default=5, type=int, show_default=True)
@click.option("--min-students", type=int, default=None, help="Below this the baseline serves (default: library's)")
@click.option("--min-responses", type=int, default=None, help="Below this the baseline serves (default: library's)")
@click.option("--threads", default=2, type=int, show_default=True, help="torch CPU threads")
@click.option("--json", "as_json", is_flag=True, help="Print the decision record as JSON")
@click.pass_context
def retrain_cmd(  # noqa: PLR0917 - click passes options as arguments
    click_ctx: click.Context, wait: bool, models: str, epochs: int, min_students: int | None,
    min_responses: int | None, threads: int, as_json: bool,
) -> None:
    """Select the engine's model on held-out students (the baseline while data is thin). Serving processes pick
    the new champion up within a minute."""
    from lti_tool import jobs
    from lti_tool.cli import Ctx

    obj = click_ctx.ensure_object(Ctx)
    options: dict[str, object] = {"models": [m.strip() for m in models.split(",") if m.strip()],
                                  "epochs": epochs, "threads": threads}
    if min_students is not None:
        options["min_students"] = min_students
    if min_responses is not None:
        options["min_responses"] = min_responses
    if not wait:
        from lti_tool.jobs.runtime import make_runtime

        settings = obj.settings
        if settings.resolved_jobs_backend != "celery":
            raise click.ClickException("no job queue (ADAPTIVE_LTI_REDIS_URL unset): use --wait to train here")
        jobs.set_runtime(make_runtime(settings, obj.db))
        jobs.enqueue("training.select", **options)
        click.echo("Queued training.select on the 'training' queue.")
        return
    from lti_tool.jobs.training import retrain

    try:
        record = retrain(obj.db, obj.settings, **options)  # type: ignore[arg-type]
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(record, indent=1, default=float))
        return
    if "skipped" in record:
        click.echo(f"Skipped: {record['skipped']}.")
        return
    click.echo(f"Champion: {record['champion']} ({record['reason']})")
    click.echo(f"Data: {record['n_students']} students, {record['n_responses']} answers; registry {record['registry']}")
    for name, m in sorted(record.get("candidates", {}).items()):
        click.echo(f"  {name}: held-out AUC {m.get('auc', float('nan')):.4f}")
