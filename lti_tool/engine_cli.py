"""``adaptive-lti engine``: the web app's knowledge-tracing engines, one per item bank (retrain on the tool's
attempts, show the decision). torch is imported only inside the commands, so ``adaptive-lti --help`` stays fast."""

from __future__ import annotations

import json
from typing import Any

import click


@click.group("engine")
def engine() -> None:
    """The engines' models: champion/challenger training per item bank on this tool's own attempts."""


def resolve_bank(db: Any, ref: str) -> tuple[int, str]:
    """The (id, slug) of the bank ``ref`` names: a bank id, or a slug that only one bank has (slugs are unique per
    registration, so the same slug in two registrations needs the id)."""
    from sqlalchemy import select

    from lti_tool.models.items import ItemBank

    with db.session() as session:
        if ref.isdigit():
            bank = session.get(ItemBank, int(ref))
            if bank is None:
                raise click.ClickException(f"no item bank with id {ref}")
            return bank.id, bank.slug
        banks = session.scalars(select(ItemBank).where(ItemBank.slug == ref).order_by(ItemBank.id)).all()
        if not banks:
            raise click.ClickException(f"no item bank {ref!r} (see `adaptive-lti items list`)")
        if len(banks) > 1:
            owners = ", ".join(
                f"id {b.id} ({'global' if b.registration_id is None else f'registration {b.registration_id}'})"
                for b in banks)
            raise click.ClickException(f"several item banks are called {ref!r}: {owners}; pass the id")
        return banks[0].id, banks[0].slug


def _echo_report(record: dict[str, Any]) -> None:
    name = f"Bank {record.get('bank', '?')} (id {record.get('bank_id', '?')})"
    if "error" in record:
        click.echo(f"{name}: failed: {record['error']}")
        return
    if "skipped" in record:
        click.echo(f"{name}: skipped: {record['skipped']}.")
        return
    click.echo(f"{name}: champion {record['champion']} ({record['reason']})")
    click.echo(f"  Data: {record['n_students']} students, {record['n_responses']} answers; "
               f"registry {record['registry']}")
    for model, m in sorted(record.get("candidates", {}).items()):
        click.echo(f"  {model}: held-out AUC {m.get('auc', float('nan')):.4f}")


@engine.command("retrain")
@click.option("--bank", "bank_ref", metavar="SLUG_OR_ID", default=None,
              help="Train this item bank only (default: every bank that has answers, one after another)")
@click.option("--wait", is_flag=True, help="Train now in this process and print the decision (else: enqueue it)")
@click.option("--models", default="dkt,akt,ensemble", show_default=True, help="Challengers of the baseline")
@click.option("--epochs", default=5, type=click.IntRange(1), show_default=True)
@click.option("--min-students", type=click.IntRange(1), default=None,
              help="Below this the baseline serves (default: library's)")
@click.option("--min-responses", type=click.IntRange(1), default=None,
              help="Below this the baseline serves (default: library's)")
@click.option("--threads", default=2, type=click.IntRange(1), show_default=True, help="torch CPU threads")
@click.option("--json", "as_json", is_flag=True, help="Print the decision records as JSON")
@click.pass_context
def retrain_cmd(  # noqa: PLR0917 - click passes options as arguments
    click_ctx: click.Context, bank_ref: str | None, wait: bool, models: str, epochs: int,
    min_students: int | None, min_responses: int | None, threads: int, as_json: bool,
) -> None:
    """Select each item bank's model on its held-out students (the baseline while its data is thin), in the
    bank's own registry. Serving processes pick a new champion up within a minute."""
    from lti_tool import jobs
    from lti_tool.cli import Ctx

    obj = click_ctx.ensure_object(Ctx)
    options: dict[str, Any] = {"models": [m.strip() for m in models.split(",") if m.strip()],
                               "epochs": epochs, "threads": threads}
    if min_students is not None:
        options["min_students"] = min_students
    if min_responses is not None:
        options["min_responses"] = min_responses
    if bank_ref is not None:
        options["bank_id"], slug = resolve_bank(obj.db, bank_ref.strip())
    if not wait:
        if not jobs.connect_queue(obj.settings, obj.db):
            raise click.ClickException("no job queue (ADAPTIVE_LTI_REDIS_URL unset): use --wait to train here")
        jobs.enqueue("training.select", **options)
        which = f"bank {slug} (id {options['bank_id']})" if bank_ref is not None else "every bank with answers"
        click.echo(f"Queued training.select for {which} on the 'training' queue.")
        return
    from lti_tool.jobs.training import retrain

    try:
        result = retrain(obj.db, obj.settings, **options)
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        from adaptive.models.base import json_safe

        click.echo(json.dumps(json_safe(result), indent=1, default=float, allow_nan=False))
        return
    reports = result.get("banks", [result])
    if not reports:
        click.echo("No item bank has answers yet: every bank is served by the baseline.")
    for record in reports:
        _echo_report(record)
