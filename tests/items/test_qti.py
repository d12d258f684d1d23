"""QTI 2.1 import/export: items and content packages as Canvas/Moodle export them."""

from __future__ import annotations

import zipfile

import pytest

from lti_tool.services import answers as A
from lti_tool.services import items as svc
from lti_tool.services.item_formats import csv as csv_format
from lti_tool.services.item_formats import qti
from lti_tool.services.item_formats.common import ItemImportError

CHOICE = b"""<?xml version="1.0" encoding="UTF-8"?>
<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="choice1" title="Lowest terms"
    adaptive="false" timeDependent="false">
  <responseDeclaration identifier="RESPONSE" cardinality="single" baseType="identifier">
    <correctResponse><value>ChoiceB</value></correctResponse>
  </responseDeclaration>
  <outcomeDeclaration identifier="SCORE" cardinality="single" baseType="float"/>
  <itemBody>
    <p>Which fraction is in <em>lowest terms</em>?</p>
    <choiceInteraction responseIdentifier="RESPONSE" shuffle="true" maxChoices="1">
      <simpleChoice identifier="ChoiceA">6/8<feedbackInline outcomeIdentifier="FEEDBACK" identifier="ChoiceA"
          showHide="show">Both are even.</feedbackInline></simpleChoice>
      <simpleChoice identifier="ChoiceB">7/10</simpleChoice>
      <simpleChoice identifier="ChoiceC">9/12</simpleChoice>
    </choiceInteraction>
  </itemBody>
  <responseProcessing template="http://www.imsglobal.org/question/qti_v2p1/rptemplates/match_correct"/>
  <modalFeedback outcomeIdentifier="FEEDBACK" identifier="correct" showHide="show">Yes.</modalFeedback>
</assessmentItem>"""

MULTI = b"""<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="multi1" title="Halves"
    adaptive="false" timeDependent="false">
  <responseDeclaration identifier="RESPONSE" cardinality="multiple" baseType="identifier">
    <correctResponse><value>A</value><value>C</value></correctResponse>
  </responseDeclaration>
  <itemBody>
    <choiceInteraction responseIdentifier="RESPONSE" shuffle="false" maxChoices="0">
      <prompt>Select all fractions equal to 1/2.</prompt>
      <simpleChoice identifier="A">2/4</simpleChoice>
      <simpleChoice identifier="B">2/3</simpleChoice>
      <simpleChoice identifier="C">5/10</simpleChoice>
    </choiceInteraction>
  </itemBody>
</assessmentItem>"""

FLOAT = b"""<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="num1" title="Pi"
    adaptive="false" timeDependent="false">
  <responseDeclaration identifier="RESPONSE" cardinality="single" baseType="float">
    <correctResponse><value>3.14</value></correctResponse>
  </responseDeclaration>
  <itemBody><p>Pi to two decimals is <textEntryInteraction responseIdentifier="RESPONSE"/>.</p></itemBody>
  <responseProcessing>
    <responseCondition><responseIf>
      <equal toleranceMode="relative" tolerance="1 1">
        <variable identifier="RESPONSE"/><correct identifier="RESPONSE"/>
      </equal>
      <setOutcomeValue identifier="SCORE"><baseValue baseType="float">1</baseValue></setOutcomeValue>
    </responseIf></responseCondition>
  </responseProcessing>
  <modalFeedback outcomeIdentifier="FEEDBACK" identifier="incorrect" showHide="show">Remember 22/7.</modalFeedback>
</assessmentItem>"""

STRING = b"""<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="text1" title="Numerator"
    adaptive="false" timeDependent="false" xml:lang="zh-CN">
  <responseDeclaration identifier="RESPONSE" cardinality="single" baseType="string">
    <correctResponse><value>numerator</value></correctResponse>
    <mapping defaultValue="0">
      <mapEntry mapKey="numerator" mappedValue="1" caseSensitive="false"/>
      <mapEntry mapKey="fenzi" mappedValue="1" caseSensitive="false"/>
      <mapEntry mapKey="denominator" mappedValue="0"/>
    </mapping>
  </responseDeclaration>
  <itemBody><p>The top number is the <textEntryInteraction responseIdentifier="RESPONSE"/>.</p></itemBody>
  <responseProcessing template="http://www.imsglobal.org/question/qti_v2p1/rptemplates/map_response"/>
</assessmentItem>"""

MANIFEST = b"""<?xml version="1.0" encoding="UTF-8"?>
<manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" identifier="M1">
  <organizations/>
  <resources>
    <resource identifier="R1" type="imsqti_item_xmlv2p1" href="choice1.xml"><file href="choice1.xml"/></resource>
    <resource identifier="R2" type="imsqti_item_xmlv2p1" href="items/multi1.xml"/>
    <resource identifier="R3" type="imsqti_item_xmlv2p1" href="num1.xml"/>
    <resource identifier="R4" type="imsqti_item_xmlv2p1" href="text1.xml"/>
    <resource identifier="R5" type="webcontent" href="image.png"/>
  </resources>
</manifest>"""


def _zip(path, files):
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in files.items():
            zf.writestr(name, blob)
    return path


def test_reads_a_content_package(tmp_path):
    pkg = _zip(tmp_path / "quiz.zip", {"imsmanifest.xml": MANIFEST, "choice1.xml": CHOICE,
                                        "items/multi1.xml": MULTI, "num1.xml": FLOAT, "text1.xml": STRING})
    data = svc.validate_bank(svc.read_bank(pkg))
    items = {i.key: i for i in data.items}
    assert list(items) == ["choice1", "multi1", "num1", "text1"]
    choice = items["choice1"]
    assert choice.type == "mc_single"
    assert choice.answer == {"correct": ["ChoiceB"]}
    assert choice.stem == {"en": "<p>Which fraction is in <em>lowest terms</em>?</p>"}
    assert choice.choices[0] == {"key": "ChoiceA", "text": {"en": "6/8"}, "feedback": {"en": "Both are even."}}
    assert choice.feedback == {"en": {"correct": "Yes."}}
    multi = items["multi1"]
    assert (multi.type, multi.answer["correct"]) == ("mc_multi", ["A", "C"])
    assert multi.stem == {"en": "Select all fractions equal to 1/2."}
    num = items["num1"]
    assert num.answer == {"value": 3.14, "tolerance": 0.01, "tolerance_mode": "relative"}
    assert num.stem == {"en": "<p>Pi to two decimals is _____.</p>"}
    assert num.feedback == {"en": {"incorrect": "Remember 22/7."}}
    text = items["text1"]
    assert text.answer["accepted"] == ["numerator", "fenzi"]
    assert text.stem == {"zh_CN": "<p>The top number is the _____.</p>"}
    v = A.make_variant(svc._ItemView(num), 0)
    assert A.check_answer(v, "3.16").correct
    assert not A.check_answer(v, "3.2").correct
    assert {s.key for s in data.skills} == {"general"}


def test_single_item_file(tmp_path):
    path = tmp_path / "choice1.xml"
    path.write_bytes(CHOICE)
    data = svc.read_bank(path)
    assert [i.key for i in data.items] == ["choice1"]


def test_external_entities_are_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    evil = (f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>'
            '<assessmentItem identifier="x"><itemBody>&e;</itemBody></assessmentItem>').encode()
    path = tmp_path / "evil.xml"
    path.write_bytes(evil)
    with pytest.raises(ItemImportError, match="unsafe XML"):
        svc.read_bank(path)


@pytest.mark.parametrize(
    ("xml", "line", "message"),
    [
        (b'<assessmentItem identifier="x">\n<itemBody>\n<p>open</itemBody>\n</assessmentItem>', 3, "malformed XML"),
        (b'<assessmentItem identifier="x">\n<itemBody>\n<p>no interaction</p>\n</itemBody>\n</assessmentItem>', 2,
         "exactly one interaction"),
        (b'<assessmentItem identifier="x">\n<responseDeclaration identifier="R"/>\n<itemBody>\n'
         b'<orderInteraction responseIdentifier="R"/></itemBody></assessmentItem>', 4, "not supported"),
    ],
)
def test_malformed_items_report_file_and_line(tmp_path, xml, line, message):
    path = tmp_path / "bad.xml"
    path.write_bytes(xml)
    with pytest.raises(ItemImportError) as err:
        svc.read_bank(path)
    assert message in err.value.first.message
    assert err.value.first.location.line == line
    assert "bad.xml, line" in str(err.value)


def test_missing_file_in_package_is_reported(tmp_path):
    pkg = _zip(tmp_path / "q.zip", {"imsmanifest.xml": MANIFEST, "choice1.xml": CHOICE})
    with pytest.raises(ItemImportError) as err:
        svc.read_bank(pkg)
    assert "items/multi1.xml is listed but missing" in str(err.value)


def test_sample_bank_round_trips_through_qti(tmp_path):
    data = svc.validate_bank(csv_format.read(svc.SAMPLE_DIR))
    path = tmp_path / "bank.zip"
    qti.write(data, path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        xml = zf.read("items/simplify-template.xml").decode()
    assert "imsmanifest.xml" in names
    assert "[[" not in xml  # other systems see one concrete variant
    again = svc.validate_bank(svc.read_bank(path))
    assert again.canonical() == data.canonical()
