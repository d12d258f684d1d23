"""``adaptive-lti items``: import, export, list, validate item banks and load the sample bank."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lti_tool.cli import Ctx, pass_ctx

FORMAT = click.Choice(["csv", "gift", "qti"])


@click.group("items")
def items() -> None:
    """Item banks: import/export CSV, Moodle GIFT and QTI 2.1; the shipped sample bank."""


def _registration_id(session, registration: tuple[str, str] | None) -> int | None:
    if not registration:
        return None
    from lti_tool.services import registrations

    try:
        return registrations.resolve(session, *registration).id
    except registrations.RegistrationError as exc:
        raise click.ClickException(str(exc)) from exc


def _fail(exc) -> click.ClickException:
    return click.ClickException(str(exc))


@items.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=FORMAT, help="Default: from the file name (.csv/.zip/folder, .gift/.txt, .xml)")
@click.option("--bank", "slug", help="Bank slug (default: from the file, else the file name)")
@click.option("--title", help="Bank title (default: from the file)")
@click.option("--registration", nargs=2, metavar="ISSUER CLIENT_ID",
              help="Make the bank private to this platform registration (default: global, every LMS sees it)")
@click.option("--check", is_flag=True, help="Validate only (dry run): report every problem, write nothing")
@pass_ctx
def items_import(obj: Ctx, path: Path, *, fmt: str | None, slug: str | None, title: str | None,
                 registration: tuple[str, str] | None, check: bool) -> None:
    """Import (or update) a bank from PATH. All or nothing: any problem, with its file and line, writes nothing."""
    from lti_tool.services import items as svc

    try:
        data = svc.read_bank(path, fmt)
        if check:
            svc.validate_bank(data)
            click.echo(f"OK: {len(data.items)} item(s), {len(data.skills)} skill(s); nothing written (--check).")
            return
        with obj.db.session() as session:
            reg_id = _registration_id(session, registration)
            if not (slug or data.slug):
                slug = svc._slug_from_path(path)
            bar = None

            def progress(done: int, total: int) -> None:
                nonlocal bar
                if total < 200:
                    return
                if bar is None:
                    bar = click.progressbar(length=total, label="Writing items", file=click.get_text_stream("stderr"))
                    bar.__enter__()
                bar.update(done - bar.pos)

            try:
                result = svc.save_bank(session, data, registration_id=reg_id, slug=slug, title=title,
                                       progress=progress)
            finally:
                if bar is not None:
                    bar.__exit__(None, None, None)
            bank = result.bank
            owner = "global" if bank.registration_id is None else f"registration {bank.registration_id}"
            if not result.changed:
                click.echo(f"Bank {bank.slug!r} ({owner}) unchanged (version {bank.version}).")
            else:
                verb = "Created" if result.created else "Updated"
                click.echo(f"{verb} bank {bank.slug!r} ({owner}), version {bank.version}: {result.added} added, "
                           f"{result.updated} updated, {result.retired} retired.")
    except svc.ItemImportError as exc:
        raise _fail(exc) from exc


@items.command("validate")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=FORMAT)
def items_validate(path: Path, fmt: str | None) -> None:
    """Check a bank file without a database (same checks as import)."""
    from lti_tool.services import items as svc

    try:
        data = svc.validate_bank(svc.read_bank(path, fmt))
    except svc.ItemImportError as exc:
        raise _fail(exc) from exc
    click.echo(f"OK: {len(data.items)} item(s), {len(data.skills)} skill(s), languages {', '.join(data.languages)}.")


@items.command("export")
@click.option("--bank", "slug", required=True)
@click.option("--format", "fmt", type=FORMAT, default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="csv: a folder, .zip or .csv; gift: a file; qti: a folder or .zip (default: SLUG.zip / SLUG.gift)")
@click.option("--registration", nargs=2, metavar="ISSUER CLIENT_ID", help="Export that registration's bank")
@click.option("--active-only", is_flag=True, help="Leave out retired items")
@pass_ctx
def items_export(obj: Ctx, *, slug: str, fmt: str, output: Path | None, registration: tuple[str, str] | None,
                 active_only: bool) -> None:
    """Export a bank; importing the export gives the same bank back."""
    from lti_tool.services import items as svc

    with obj.db.session() as session:
        reg_id = _registration_id(session, registration)
        bank = svc.get_bank(session, slug, reg_id)
        if bank is None:
            raise click.ClickException(f"no bank {slug!r}")
        data = svc.bank_to_data(session, bank, include_retired=not active_only)
    output = output or Path(f"{slug}.gift" if fmt == "gift" else f"{slug}.zip")
    svc.write_bank(data, output, fmt)
    click.echo(f"Exported {len(data.items)} item(s) of {slug!r} to {output} ({fmt}).")


@items.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def items_list(obj: Ctx, as_json: bool) -> None:
    """List every bank (global and per registration)."""
    from lti_tool.services import items as svc

    rows = []
    with obj.db.session() as session:
        for bank in svc.list_all_banks(session):
            active = svc.bank_items(session, bank.id)
            rows.append({
                "id": bank.id, "slug": bank.slug, "title": bank.title, "registration_id": bank.registration_id,
                "version": bank.version, "languages": bank.languages, "items": len(active),
                "skills": len(svc.bank_skills(session, bank.id)),
                "parametric": sum(1 for i in active if i.is_parametric),
            })
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("No item banks. Try `adaptive-lti items load-sample`.")
    for r in rows:
        owner = "global" if r["registration_id"] is None else f"registration {r['registration_id']}"
        click.echo(f"{r['slug']:<24} v{r['version']:<3} {r['items']:>4} items {r['skills']:>3} skills  "
                   f"{','.join(r['languages']):<10} {owner:<16} {r['title']}")


@items.command("load-sample")
@pass_ctx
def items_load_sample(obj: Ctx) -> None:
    """Load (or update) the shipped fractions bank; does nothing when it is already current."""
    from lti_tool.services import items as svc

    with obj.db.session() as session:
        bank = svc.load_sample_bank(session)
        n = len(svc.bank_items(session, bank.id))
        click.echo(f"Sample bank {bank.slug!r} version {bank.version}: {n} items.")
