"""Moodle GIFT import/export."""

from __future__ import annotations

import pytest

from lti_tool.services import answers as A
from lti_tool.services import items as svc
from lti_tool.services.item_formats import csv as csv_format
from lti_tool.services.item_formats import gift
from lti_tool.services.item_formats.common import ItemImportError

MOODLE = r"""// A quiz as a teacher would write it for Moodle.
$CATEGORY: $course$/top/Fractions/Simplifying

::Simplest form:: Which fraction is in lowest terms? {
    ~6/8#Both are even.
    =7/10#Yes, 7 and 10 share no factor.
    ~9/12#Both divide by 3.
}

// a comment between questions
::Halves::[html]<p>Select <b>every</b> fraction equal to 1/2.</p> {
    ~%50%2/4
    ~%50%5/10
    ~%-100%2/3
####Double the numerator.
}

$CATEGORY: $course$/top/Fractions/Numbers
::Pi:: What is \(\pi\) to two decimals? {#3.14:0.005#Well done.}
::Range:: A number between 1 and 5 {#1..5}
::Multi numeric:: 2 + 2 = ? {#=4:0#Right =%50%4.5:0.5#Close}

::Short:: The top number of a fraction is the {=numerator =Numerator# Yes} .
::TF:: A fraction with equal top and bottom equals 1.{T#No, it is 1.#Yes.}
::Escapes:: Type the ratio 3\:2 \{with braces\} and an equals \= sign {=3\:2}

Plain question without name {=yes}
"""


PLAIN_LINE = MOODLE.splitlines().index("Plain question without name {=yes}") + 1


def test_reads_a_moodle_file():
    data = gift.parse(MOODLE, "quiz.gift")
    svc.validate_bank(data)
    items = {i.key: i for i in data.items}
    assert list(items) == ["Simplest-form", "Halves", "Pi", "Range", "Multi-numeric", "Short", "TF", "Escapes",
                           f"q{PLAIN_LINE}"]
    mc = items["Simplest-form"]
    assert (mc.type, mc.answer, mc.skills) == ("mc_single", {"correct": ["b"]}, ["simplifying"])
    assert mc.feedback == {"en": {"correct": "Yes, 7 and 10 share no factor."}}
    assert mc.choices[0]["feedback"] == {"en": "Both are even."}
    multi = items["Halves"]
    assert (multi.type, multi.answer["correct"]) == ("mc_multi", ["a", "b"])
    assert multi.stem == {"en": "<p>Select <b>every</b> fraction equal to 1/2.</p>"}
    assert multi.feedback == {"en": {"incorrect": "Double the numerator."}}
    assert items["Pi"].answer == {"value": 3.14, "tolerance": 0.005, "tolerance_mode": "absolute"}
    assert items["Pi"].skills == ["numbers"]
    assert items["Range"].answer["value"] == 3
    assert items["Range"].answer["tolerance"] == 2
    assert items["Multi-numeric"].answer["value"] == 4
    assert items["Short"].answer["accepted"] == ["numerator", "Numerator"]
    assert items["Short"].stem["en"].endswith("is the _____ .")
    tf = items["TF"]
    assert (tf.type, tf.answer["correct"]) == ("mc_single", ["true"])
    assert tf.feedback["en"] == {"incorrect": "No, it is 1.", "correct": "Yes."}
    esc = items["Escapes"]
    assert "3:2 {with braces} and an equals = sign" in esc.stem["en"]
    assert esc.answer["accepted"] == ["3:2"]
    assert {s.key for s in data.skills} == {"simplifying", "numbers"}
    v = A.make_variant(svc._ItemView(multi), 0)
    assert A.check_answer(v, ["a", "b"]).correct


def test_multilang_spans_become_locales():
    text = ('::ml:: <span lang="en" class="multilang">Half of 4?</span><span lang="zh_cn" class="multilang">'
            '4 的一半？</span> {=2}')
    item = gift.parse(text).items[0]
    assert item.stem == {"en": "Half of 4?", "zh_CN": "4 的一半？"}


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("::a:: ok {=1}\n\n::b:: Write an essay {}\n", 3, "essay"),
        ("::a:: Match {=a -> b =c -> d}\n", 1, "matching"),
        ("\n\n::a:: Never closed {=1\n", 3, "not closed"),
        ("::a:: No answers here\n", 1, "no answer block"),
        ("::a:: {~x ~y}\n", 1, "without a correct answer"),
        ("::a:: {#abc}\n", 1, "not a number"),
    ],
)
def test_malformed_questions_report_their_line(source, line, message):
    with pytest.raises(ItemImportError) as err:
        gift.parse(source, "bad.gift")
    problem = err.value.first
    assert problem.location.line == line
    assert message in problem.message
    assert f"bad.gift, line {line}" in str(err.value)


def test_sample_bank_round_trips_through_gift(tmp_path):
    data = svc.validate_bank(csv_format.read(svc.SAMPLE_DIR))
    path = tmp_path / "bank.gift"
    gift.write(data, path)
    again = svc.validate_bank(gift.read(path))
    assert again.canonical() == data.canonical()
    assert again.slug == "fractions"


def test_gift_round_trip_keeps_per_choice_feedback_and_relative_tolerance():
    data = csv_format.read_items_csv(
        "key,type,skills,stem_en,stem_zh,choices_en,choice_feedback_en,answer,tolerance,feedback_incorrect_en\n"
        'c1,mc_single,s1,Pick,选,"x=one | y=two | z=three",x=Too small,y,,Think again\n'
        "n1,numeric,s1,About 200?,约 200？,,,200,1%,Off by too much\n"
        "s1,short_text,s1,Ratio?,,,,3:2 | 6:4,,\n")
    svc.validate_bank(data)
    again = svc.validate_bank(gift.parse(gift.dumps(data)))
    assert again.canonical() == data.canonical()


def test_export_is_moodle_compatible_for_parametric_items():
    data = svc.validate_bank(csv_format.read(svc.SAMPLE_DIR))
    text = gift.dumps(data)
    block = text.split("::simplify-template::", 1)[1].split("\n}", 1)[0]
    assert "[[" not in block  # Moodle sees one concrete variant
    assert "Simplify" in block
