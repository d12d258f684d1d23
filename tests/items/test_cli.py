"""``adaptive-lti items`` end to end through the real CLI entry point (click runner, real database)."""

from __future__ import annotations

import json
import zipfile

import pytest
from click.testing import CliRunner

from lti_tool.cli import main
from lti_tool.services import items as svc
from lti_tool.services.item_formats import csv as csv_format


@pytest.fixture
def run(database_url, tmp_path, monkeypatch, db):
    monkeypatch.setenv("ADAPTIVE_LTI_DATABASE_URL", database_url)
    monkeypatch.setenv("ADAPTIVE_LTI_SECRET_KEY", "x" * 48)
    monkeypatch.setenv("ADAPTIVE_LTI_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("ADAPTIVE_LTI_ENV", "test")
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_load_list_export_reimport(run, tmp_path, make_registration):
    out = run("items", "load-sample").output
    assert "Sample bank 'fractions' version 1" in out
    listing = json.loads(run("items", "list", "--json").output)
    assert listing[0]["slug"] == "fractions"
    assert listing[0]["items"] >= 60
    assert listing[0]["registration_id"] is None
    for fmt, name in (("csv", "b.zip"), ("gift", "b.gift"), ("qti", "b-qti.zip")):
        target = tmp_path / name
        assert "Exported" in run("items", "export", "--bank", "fractions", "--format", fmt, "-o", str(target)).output
        assert "OK:" in run("items", "validate", str(target), "--format", fmt).output
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert {"bank.json", "items.csv"} <= set(zf.namelist())
    # the same content imported again as the global bank changes nothing
    assert "unchanged" in run("items", "import", str(tmp_path / "b.gift"), "--bank", "fractions").output
    # imported as a registration's private copy
    make_registration()
    from lti_tool.db import Database
    from lti_tool.models import Registration

    db = Database(__import__("os").environ["ADAPTIVE_LTI_DATABASE_URL"])
    with db.session() as session:
        reg = session.query(Registration).first()
        issuer, client_id = reg.issuer, reg.client_id
    db.dispose()
    out = run("items", "import", str(tmp_path / "b-qti.zip"), "--bank", "ours", "--title", "Our copy",
              "--registration", issuer, client_id).output
    assert "Created bank 'ours'" in out
    text = run("items", "list").output
    assert "Our copy" in text
    assert "registration" in text


def test_import_errors_exit_non_zero_and_write_nothing(run, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("key,type,skills,stem_en,answer\nq1,numeric,s1,What?,abc\n", encoding="utf-8")
    result = run("items", "import", str(bad), ok=False)
    assert result.exit_code == 1
    assert "bad.csv, line 2" in result.output
    assert "not a number" in result.output
    assert "No item banks" in run("items", "list").output
    check = run("items", "import", str(bad), "--check", ok=False)
    assert check.exit_code == 1


def test_check_is_a_dry_run(run, tmp_path):
    data = svc.validate_bank(csv_format.read(svc.SAMPLE_DIR))
    target = tmp_path / "pkg"
    csv_format.write(data, target)
    assert "nothing written" in run("items", "import", str(target), "--check").output
    assert "No item banks" in run("items", "list").output


def test_csv_package_round_trip(tmp_path):
    data = svc.validate_bank(csv_format.read(svc.SAMPLE_DIR))
    for target in (tmp_path / "folder", tmp_path / "bank.zip"):
        csv_format.write(data, target)
        assert svc.validate_bank(csv_format.read(target)).canonical() == data.canonical()
