"""Numeric items whose answer is a percent number (option ``percent``) and the correct answer shown to a student
who answered wrong (rounded decimals for tolerance items, fractions for exact ones)."""

from __future__ import annotations

import zipfile
from types import SimpleNamespace

import pytest

from lti_tool.services import answers as A
from lti_tool.services import items as svc
from lti_tool.services.item_formats import csv as csv_format
from lti_tool.services.item_formats import gift, qti
from lti_tool.services.item_formats.common import ItemImportError
from lti_tool.services.practice import _feedback


def item(type_, answer, *, params=None, stem=None):
    return SimpleNamespace(id=1, key="k", type=type_, stem=stem or {"en": "Q"}, choices=None, answer=answer,
                           params=params, feedback=None, hints=None)


def numeric(answer, **kw):
    return A.make_variant(item("numeric", answer, **kw), 0)


def sample_item(key):
    data = svc.validate_bank(csv_format.read(svc.SAMPLE_DIR))
    return next(i for i in data.items if i.key == key)


def variant_with(it, **params):
    """The sample item's variant whose drawn parameters include ``params``."""
    for seed in range(5000):
        v = A.make_variant(svc._ItemView(it), seed)
        if all(v.params.get(k) == value for k, value in params.items()):
            return v
    raise AssertionError(f"no seed draws {params}")


CSV_HEAD = "key,type,skills,stem_en,answer,tolerance,options,params\n"
CSV_ROWS = (
    "conv,numeric,pct,Write 1/2 as a percent.,50,,percent,\n"
    "what,numeric,pct,[[a]] of [[n]] as a percent?,=100*a/n,0.2%,percent,a=3..27; n in 30,40,60,80\n"
    "frac,numeric,pct,Write 75% as a decimal.,0.75,,,\n"
    "txt,short_text,pct,Ratio?,3:2 | 6:4,,ignore_spaces,\n"
)


def percent_bank():
    return svc.validate_bank(csv_format.read_items_csv(CSV_HEAD + CSV_ROWS.replace(",a=3..27; n in 30,40,60,80",
                                                                                   ',"a=3..27; n in 30,40,60,80"')))


# ------------------------------------------------------------------------------------- percent option
def test_parse_number_percent_sign():
    assert A.parse_number("75%") == A.Fraction(3, 4)
    assert A.parse_number("75%", percent=True) == 75
    assert A.parse_number("75", percent=True) == 75
    assert A.parse_number("12.5 %", percent=True) == A.Fraction(25, 2)
    assert A.parse_number("%", percent=True) is None


def test_check_answer_with_the_percent_option():
    v = numeric({"value": 50, "percent": True})
    for typed in ("50%", "50", " 50 % ", "５０％", "100/2"):
        assert A.check_answer(v, typed).correct, typed
    assert not A.check_answer(v, "0.5").correct
    assert not A.check_answer(v, "5000%").correct
    assert A.check_answer(v, "fifty%").feedback_key == "invalid"


def test_check_answer_without_the_percent_option_keeps_percent_as_hundredths():
    fifty = numeric({"value": 50})
    assert not A.check_answer(fifty, "50%").correct  # 50% is 0.5 here
    assert A.check_answer(fifty, "50").correct
    quarter = numeric({"value": "3/4"})
    assert A.check_answer(quarter, "75%").correct
    assert A.check_answer(quarter, "0.75").correct


def test_percent_option_with_a_tolerance():
    v = numeric({"value": "130/3", "tolerance": 0.002, "tolerance_mode": "relative", "percent": True})
    assert A.check_answer(v, "43.3%").correct
    assert A.check_answer(v, "43.3").correct
    assert not A.check_answer(v, "0.433").correct


def test_validation_keeps_the_percent_option_only_when_set():
    data = percent_bank()
    by_key = {i.key: i for i in data.items}
    assert by_key["conv"].answer["percent"] is True
    assert by_key["what"].answer["percent"] is True
    assert "percent" not in by_key["frac"].answer  # unset: the stored answer (and the content hash) is unchanged


def test_validation_rejects_a_percent_option_that_is_not_a_boolean():
    data = percent_bank()
    data.items[0].answer["percent"] = "yes"
    with pytest.raises(ItemImportError) as err:
        svc.validate_bank(data)
    assert "percent must be true or false" in str(err.value)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("t,short_text,s,Q,a,,percent,", "option(s) percent do not apply to a short_text item"),
        ("n,numeric,s,Q,5,,ignore_spaces,", "option(s) ignore_spaces do not apply to a numeric item"),
        ("m,mc_single,s,Q,a,,percent,", "do not apply to a mc_single item"),
        ("n,numeric,s,Q,5,,percentage,", "unknown option(s) percentage"),
    ],
)
def test_csv_options_must_fit_the_item_type(row, message):
    head = "key,type,skills,stem_en,answer,tolerance,options,params,choices_en\n"
    if row.startswith("m,"):
        row += ",a=x | b=y"
    with pytest.raises(ItemImportError) as err:
        svc.validate_bank(csv_format.read_items_csv(head + row + "\n"))
    assert message in str(err.value)
    assert "line 2" in str(err.value)


def test_csv_round_trip_keeps_the_percent_option():
    data = percent_bank()
    text = csv_format.items_csv(data)
    rows = {line.split(",", 1)[0]: line for line in text.splitlines()[1:]}
    assert ",percent," in rows["conv"]
    assert ",percent," in rows["what"]
    assert "percent" not in rows["frac"]
    again = svc.validate_bank(csv_format.read_items_csv(text))
    assert again.canonical() == data.canonical()


def test_gift_export_reimports_the_percent_option():
    data = percent_bank()
    text = gift.dumps(data)
    meta = next(line for line in text.splitlines() if line.startswith(gift.META_ITEM) and '"key": "conv"' in line)
    assert '"percent": true' in meta
    again = svc.validate_bank(gift.parse(text))
    assert again.canonical() == data.canonical()
    by_key = {i.key: i for i in again.items}
    assert by_key["conv"].answer["percent"] is True
    assert by_key["what"].answer["percent"] is True  # parametric: travels with the template
    assert "percent" not in by_key["frac"].answer


def test_qti_export_reimports_the_percent_option(tmp_path):
    data = percent_bank()
    path = tmp_path / "bank.zip"
    qti.write(data, path)
    with zipfile.ZipFile(path) as zf:
        sidecar = zf.read(qti.SIDECAR).decode()
    assert '"percent": true' in sidecar
    again = svc.validate_bank(svc.read_bank(path))
    assert again.canonical() == data.canonical()
    by_key = {i.key: i for i in again.items}
    assert by_key["conv"].answer["percent"] is True
    assert by_key["what"].answer["percent"] is True
    assert "percent" not in by_key["frac"].answer


def test_sample_bank_percent_items():
    data = svc.validate_bank(csv_format.read(svc.SAMPLE_DIR))
    percent_skill = {i.key: i for i in data.items if "percent" in i.skills and i.type == "numeric"}
    flagged = {k for k, i in percent_skill.items() if i.answer.get("percent")}
    assert flagged == {"pct-convert", "pct-what"}  # pct-of and pct-discount answer in numbers and coins


def test_sample_pct_convert_accepts_50_percent_for_one_half():
    v = variant_with(sample_item("pct-convert"), a=1, b=2)
    assert r"\frac{1}{2}" in v.stem["en"]
    for typed in ("50%", "50", "50 %"):
        assert A.check_answer(v, typed).correct, typed
    assert not A.check_answer(v, "0.5").correct
    shown = A.correct_answer(v)
    assert shown == "50%"
    assert A.check_answer(v, shown).correct


# ---------------------------------------------------------------------------------- shown correct answer
def test_rounded_item_shows_a_rounded_decimal():
    v = numeric({"value": "130/3", "tolerance": 0.002, "tolerance_mode": "relative"})
    assert A.correct_answer(v) == "43.3"
    assert A.check_answer(v, "43.3").correct


def test_sample_pct_what_shows_43_point_3_percent():
    v = variant_with(sample_item("pct-what"), a=26, n=60)
    assert v.answer_spec["exact"] == "130/3"
    shown = A.correct_answer(v)
    assert shown == "43.3%"
    for typed in (shown, "43.3", "43.33"):
        assert A.check_answer(v, typed).correct, typed
    check = A.check_answer(v, "40")
    assert _feedback(v, check, "en")["correct_answer"] == "43.3%"  # what the practice page shows


def test_exact_fraction_item_still_shows_the_fraction():
    assert A.correct_answer(numeric({"value": "3/4"})) == "3/4"
    simplify = A.make_variant(item("numeric", {"formula": "a/b"}, params={"vars": {"a": {"choices": [6]},
                                                                                  "b": {"choices": [8]}}}), 0)
    assert A.correct_answer(simplify) == "3/4"
    assert A.check_answer(simplify, "3/4").correct
    assert A.correct_answer(numeric({"value": "1/3"})) == "1/3"  # exact: 0.3 would be wrong


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ({"value": 0.92, "tolerance": 0.005}, "0.92"),  # an exact short decimal is shown as it is
        ({"value": "15/2", "tolerance": 0.002, "tolerance_mode": "relative"}, "7.5"),
        ({"value": "1/3", "tolerance": 0.01}, "0.33"),
        ({"value": "2/3", "tolerance": 0.01}, "0.67"),
        ({"value": "-2/3", "tolerance": 0.001}, "-0.667"),
        ({"value": "1/3", "tolerance": 0.5}, "0"),
        ({"value": "1/7", "tolerance": 1e-12}, "1/7"),  # no decimal of ten places is close enough: exact
        ({"value": 12, "tolerance": 1}, "12"),
    ],
)
def test_shown_decimal_is_within_the_tolerance_and_accepted(answer, shown):
    v = numeric({"tolerance_mode": "absolute", **answer})
    assert A.correct_answer(v) == shown
    assert A.check_answer(v, shown).correct


def test_rounding_formula_shows_a_decimal():
    v = A.make_variant(item("numeric", {"formula": "round(100*a/n, 1)"},
                            params={"vars": {"a": {"choices": [26]}, "n": {"choices": [60]}}}), 0)
    assert A.correct_answer(v) == "43.3"
    assert A.check_answer(v, "43.3").correct
    assert not A.check_answer(v, "43.33").correct  # exact item: the rounded value is the answer
