"""The bank service on SQLite and PostgreSQL: sample bank, tenancy, re-import, all-or-nothing validation."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func, select

from lti_tool import migrate
from lti_tool.models import Item, ItemBank, Skill, SkillPrerequisite
from lti_tool.services import answers as A
from lti_tool.services import items as svc
from lti_tool.services.item_formats import csv as csv_format
from lti_tool.services.item_formats.common import ItemImportError


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_sample_bank_loads_and_is_idempotent(db):
    with db.session() as session:
        bank = svc.load_sample_bank(session)
        bank_id, version = bank.id, bank.version
    with db.session() as session:
        again = svc.load_sample_bank(session)
        assert (again.id, again.version) == (bank_id, version)
        assert bank.is_global
        assert bank.slug == "fractions"
        assert bank.display_title("zh-Hans") == "分数与比例推理"
        assert bank.display_title("en-GB") == "Fractions and proportional reasoning"
        items = svc.bank_items(session, bank_id)
        skills = svc.bank_skills(session, bank_id)
        assert len(items) >= 60
        assert len(skills) >= 8
        assert {"mc_single", "mc_multi", "numeric", "short_text"} <= {i.type for i in items}
        assert sum(i.is_parametric for i in items) >= 10
        assert all(i.stem.get("en") and i.stem.get("zh_CN") for i in items)
        assert all(i.hints and set(i.hints) == {"en", "zh_CN"} for i in items)
        assert all(i.feedback and set(i.feedback) == {"en", "zh_CN"} for i in items)
        assert all(i.difficulty is not None and i.skills for i in items)
        assert any(r"\(" in i.stem["en"] for i in items)  # some TeX
        pre = svc.prerequisites(session, bank_id)
        assert pre["frac_simplify"] == ["frac_equivalent"]
        assert sorted(pre["proportion"]) == ["frac_multiply", "ratio"]
        assert pre["frac_meaning"] == []
        # every skill has items
        assert {s.key for s in skills} == {k for i in items for k in i.skill_keys}


def test_every_sample_item_checks_its_own_answers(db):
    with db.session() as session:
        bank = svc.load_sample_bank(session)
        items = svc.bank_items(session, bank.id)
    for item in items:
        for seed in range(60 if item.is_parametric else 1):
            v = A.make_variant(item, seed)
            assert v.item_id == item.id
            for texts in (v.stem, *(c["text"] for c in v.choices or [])):
                assert "[[" not in "".join(texts.values()), item.key
            assert "[[" not in str(v.feedback) + str(v.hints), item.key
            good = A.check_answer(v, A.correct_answer(v))
            assert (good.correct, good.feedback_key) == (True, "correct"), (item.key, seed)
            bad = A.check_answer(v, A.wrong_answer(v))
            assert (bad.correct, bad.feedback_key) == (False, "incorrect"), (item.key, seed, A.wrong_answer(v))
            if item.type == "numeric":
                assert A.check_answer(v, "not a number").feedback_key == "invalid"


def test_tenancy_global_and_own_banks(db, make_registration):
    reg_a, reg_b = make_registration(), make_registration()
    data = csv_format.read_items_csv(
        "key,type,skills,stem_en,answer\nq1,numeric,s1,What is 1+1?,2\n", "own.csv")
    with db.session() as session:
        glob = svc.load_sample_bank(session)
        own = svc.save_bank(session, data, registration_id=reg_a, slug="mine").bank
        # registration A may also shadow the global slug with its own bank
        shadow = svc.save_bank(session, csv_format.read_items_csv(
            "key,type,skills,stem_en,answer\nq1,numeric,s1,2+2?,4\n"), registration_id=reg_a, slug="fractions").bank
    with db.session() as session:
        assert {b.slug for b in svc.list_banks(session, reg_a)} == {"fractions", "mine"}
        assert svc.get_bank(session, "fractions", reg_a).id == shadow.id
        assert svc.get_bank(session, "fractions", reg_b).id == glob.id
        assert svc.get_bank(session, "fractions", None).id == glob.id
        assert svc.get_bank(session, "mine", reg_b) is None
        assert [b.slug for b in svc.list_banks(session, reg_b)] == ["fractions"]
        assert svc.get_bank_by_id(session, own.id, reg_b) is None
        assert svc.get_bank_by_id(session, own.id, reg_a).id == own.id
        assert svc.get_bank_by_id(session, glob.id, reg_b).id == glob.id
        item = svc.bank_items(session, own.id)[0]
        assert svc.get_item(session, item.id, own.id).id == item.id
        assert svc.get_item(session, item.id, glob.id) is None


def test_reimport_updates_in_place_and_retires_missing_items(db):
    v1 = ("key,type,skills,stem_en,answer,difficulty\n"
          "q1,numeric,s1,1+1?,2,0.1\nq2,numeric,s1,2+2?,4,0.2\n")
    v2 = ("key,type,skills,stem_en,answer,difficulty\n"
          "q1,numeric,s1,1+1 = ?,2,0.1\nq3,numeric,s2,3+3?,6,0.3\n")
    with db.session() as session:
        first = svc.save_bank(session, csv_format.read_items_csv(v1), registration_id=None, slug="demo")
        ids = {i.key: i.id for i in svc.bank_items(session, first.bank.id)}
    with db.session() as session:
        same = svc.save_bank(session, csv_format.read_items_csv(v1), registration_id=None, slug="demo")
        assert not same.changed
        assert same.bank.version == 1
        second = svc.save_bank(session, csv_format.read_items_csv(v2), registration_id=None, slug="demo")
        assert (second.added, second.updated, second.retired, second.bank.version) == (1, 1, 1, 2)
    with db.session() as session:
        active = {i.key: i for i in svc.bank_items(session, first.bank.id)}
        everything = {i.key: i for i in svc.bank_items(session, first.bank.id, active_only=False)}
        assert set(active) == {"q1", "q3"}
        assert active["q1"].id == ids["q1"]
        assert active["q1"].stem == {"en": "1+1 = ?"}
        assert everything["q2"].status == "retired"
        assert everything["q2"].id == ids["q2"]
        assert {s.key for s in svc.bank_skills(session, first.bank.id)} == {"s1", "s2"}


def test_prerequisite_cycle_is_reported_and_nothing_is_written(db, tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(svc.SAMPLE_DIR, pkg)
    text = (pkg / "bank.json").read_text(encoding="utf-8")
    # make the first skill depend on the last one: meaning -> ... -> percent -> meaning
    text = text.replace('"prerequisites": []', '"prerequisites": ["percent"]', 1)
    (pkg / "bank.json").write_text(text, encoding="utf-8")
    with db.session() as session, pytest.raises(ItemImportError) as err:
        svc.import_bank(session, pkg, registration_id=None, slug="broken")
    message = str(err.value)
    assert "cycle" in message
    assert "frac_meaning" in message
    assert "percent" in message
    assert "bank.json, line" in message
    with db.session() as session:
        assert _count(session, ItemBank) == 0
        assert _count(session, Item) == 0
        assert _count(session, Skill) == 0


def test_malformed_rows_report_line_numbers_and_write_nothing(db, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "key,type,skills,stem_en,choices_en,answer,difficulty\n"
        "ok1,numeric,s1,1+1?,,2,0.5\n"
        "bad-type,essay,s1,Tell me,,x,\n"
        "mc1,mc_single,s1,Pick,a=1 | b=2,c,\n"
        '"multi\nline",numeric,s1,"a stem\nover two lines",,abc,\n'
        "ok2,numeric,s1,2+2?,,4,7\n"
        "ok1,numeric,s1,dup,,2,\n",
        encoding="utf-8",
    )
    with db.session() as session, pytest.raises(ItemImportError) as err:
        svc.import_bank(session, path, registration_id=None)
    lines: dict[int, str] = {}
    for p in err.value.problems:
        lines[p.location.line] = lines.get(p.location.line, "") + " / " + p.message
    assert "unknown type 'essay'" in lines[3]
    assert "not one of the choices" in lines[4]
    assert "bad item key" in lines[5]
    assert "not a number" in lines[5]
    assert "between 0" in lines[8]  # the row before spans lines 5-7
    assert "used twice" in lines[9]
    assert "line 2" in lines[9]
    assert "bad.csv, line 3" in str(err.value)
    with db.session() as session:
        assert _count(session, ItemBank) == 0
        assert _count(session, Item) == 0


def test_html_is_sanitised_on_import(db):
    data = csv_format.read_items_csv(
        "key,type,skills,stem_en,choices_en,answer,hints_en\n"
        'x1,mc_single,s1,"<p onclick=""steal()"">Pick <script>alert(1)</script><b>one</b></p>",'
        '"a=<img src=x onerror=alert(1)>one | b=<a href=""javascript:alert(1)"">two</a>",a,'
        '"<iframe src=""https://evil""></iframe>Think \\(x<y\\)"\n')
    with db.session() as session:
        bank = svc.save_bank(session, data, registration_id=None, slug="xss").bank
        item = svc.bank_items(session, bank.id)[0]
    blob = str(item.stem) + str(item.choices) + str(item.hints)
    for bad in ("script", "onclick", "onerror", "javascript:", "iframe", "alert"):
        assert bad not in blob
    assert item.stem["en"] == "<p>Pick <b>one</b></p>"
    assert item.hints["en"] == [r"Think \(x&lt;y\)"]


def test_localize_and_locale_normalisation():
    text = {"en": "Hello", "zh_CN": "你好"}
    for loc in ("zh-Hans", "zh-CN", "zh_CN", "zh_cn", "zh", "zh-Hans-CN"):
        assert svc.localize(text, loc) == "你好"
    for loc in ("en", "en-US", "fr-FR", None, ""):
        assert svc.localize(text, loc) == "Hello"
    assert svc.localize({"zh_CN": "只有中文"}, "en") == "只有中文"
    assert svc.localize(None, "en") == ""
    assert svc.localize("plain", "zh") == "plain"
    assert svc.localize({"en": ["a"], "zh-CN": ["b"]}, "zh-Hans") == ["b"]


def test_migration_upgrades_and_downgrades(database_url, db):
    """0003 (its own branch off 0001) downgrades cleanly and upgrades again. Branches that depend on it (the
    practice tables) go down with it, so downgrade to 0001."""
    from sqlalchemy import inspect

    migrate.downgrade(database_url, "0001")
    insp = inspect(db.engine)
    assert "items" not in insp.get_table_names()
    assert "registrations" in insp.get_table_names()
    migrate.upgrade(database_url)
    db.engine.dispose()
    insp = inspect(db.engine)
    assert {"item_banks", "skills", "skill_prerequisites", "items", "item_skills"} <= set(insp.get_table_names())
    with db.session() as session:
        svc.load_sample_bank(session)
        assert _count(session, SkillPrerequisite) >= 10
