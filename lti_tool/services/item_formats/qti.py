"""IMS QTI 2.1: single assessmentItem files and content packages (imsmanifest.xml), as Canvas and Moodle export.

Read: ``choiceInteraction`` (single/multiple), ``textEntryInteraction`` (float/integer -> numeric, with the
tolerance of an ``<equal toleranceMode=...>`` in the response processing; string -> short text from
``correctResponse`` and the ``mapping``'s positive entries), ``modalFeedback`` (identifier ``correct``/``incorrect``,
or a choice identifier -> that choice's feedback), ``feedbackInline`` in a choice, and per-locale content as
children with ``xml:lang``. XML is parsed with defusedxml (no DTDs, no external entities).

Write: a content package (a folder, or a .zip) with ``imsmanifest.xml``, one ``items/<key>.xml`` per item and
``adaptive-lti.json`` (skills, prerequisites, difficulty, hints, parametric templates, answer options such as
``ignore_spaces`` and numeric ``percent``: what QTI cannot say).
"""

from __future__ import annotations

import html as html_lib
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from lti_tool.services.item_formats.common import (
    BankData,
    ItemData,
    ItemImportError,
    Location,
    Problem,
    SkillData,
    export_view,
)

QTI_NS = "http://www.imsglobal.org/xsd/imsqti_v2p1"
CP_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SIDECAR = "adaptive-lti.json"
ITEM_TYPES = ("imsqti_item_xmlv2p1", "imsqti_item_xmlv2p2", "imsqti_item_xml")
MAX_BYTES = 20 * 1024 * 1024
VOID = ("br", "hr", "img", "col", "wbr")
FEEDBACK_IDS = {"correct": "correct", "incorrect": "incorrect", "wrong": "incorrect", "feedback_correct": "correct",
                "feedback_incorrect": "incorrect"}


# --------------------------------------------------------------------------------------------- XML
def _local(tag: Any) -> str:
    return tag.split("}", 1)[1] if isinstance(tag, str) and "}" in tag else str(tag)


def _strip_ns(root: ET.Element) -> ET.Element:
    for el in root.iter():
        el.tag = _local(el.tag)
    return root


def _parse_xml(raw: bytes, filename: str) -> ET.Element:
    if len(raw) > MAX_BYTES:
        raise ItemImportError("file too large", Location(filename))
    try:
        return _strip_ns(SafeET.fromstring(raw, forbid_dtd=True))
    except DefusedXmlException as exc:
        raise ItemImportError(f"refused unsafe XML ({type(exc).__name__})", Location(filename)) from None
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise ItemImportError(f"malformed XML: {exc}", Location(filename, line)) from None


def _inner_html(el: ET.Element) -> str:
    parts = [html_lib.escape(el.text or "", quote=False)]
    for child in el:
        parts.append(_outer_html(child))
    return "".join(parts).strip()


def _outer_html(el: ET.Element) -> str:
    attrs = "".join(f' {"lang" if k == XML_LANG else _local(k)}="{html_lib.escape(v)}"' for k, v in el.attrib.items())
    tag = el.tag
    if tag in VOID:
        inner = ""
        out = f"<{tag}{attrs}>"
    else:
        inner = _inner_html(el)
        out = f"<{tag}{attrs}>{inner}</{tag}>"
    return out + html_lib.escape(el.tail or "", quote=False)


def _xhtml(fragment: str) -> str:
    """Sanitised HTML -> well-formed XHTML (void elements closed, named entities as characters)."""
    fragment = re.sub(rf"<({'|'.join(VOID)})(\b[^>]*?)\s*/?>", r"<\1\2/>", fragment)
    return re.sub(r"&([A-Za-z][A-Za-z0-9]*);",
                  lambda m: m.group(0) if m.group(1) in ("amp", "lt", "gt", "quot", "apos")
                  else html_lib.unescape(m.group(0)), fragment)


def _append_html(parent: ET.Element, fragment: str) -> None:
    try:
        wrapper = ET.fromstring(f"<div>{_xhtml(fragment)}</div>")  # noqa: S314 - our own sanitised content
    except ET.ParseError:
        wrapper = ET.Element("div")
        wrapper.text = fragment
    if parent.text is None and len(parent) == 0:
        parent.text = wrapper.text
    elif len(parent):
        parent[-1].tail = (parent[-1].tail or "") + (wrapper.text or "")
    else:
        parent.text = (parent.text or "") + (wrapper.text or "")
    for child in list(wrapper):
        parent.append(child)


def _localized(el: ET.Element | None, default_locale: str) -> dict[str, str]:
    """Content of an element; children carrying xml:lang (our export, or a translated package) split locales."""
    from lti_tool.services.items import normalize_locale

    if el is None:
        return {}
    kids = list(el)
    if kids and not (el.text or "").strip() and all(k.get(XML_LANG) for k in kids) \
            and all(not (k.tail or "").strip() for k in kids):
        return {normalize_locale(k.get(XML_LANG)): _inner_html(k) for k in kids if _inner_html(k)}
    text = _inner_html(el)
    return {default_locale: text} if text else {}


def _put_localized(parent: ET.Element, text: dict[str, str]) -> None:
    if len(text) == 1:
        _append_html(parent, next(iter(text.values())))
        return
    for loc, t in text.items():
        div = ET.SubElement(parent, "div")
        div.set(XML_LANG, loc.replace("_", "-"))
        _append_html(div, t)


# ------------------------------------------------------------------------------------------ reading
def read(path: Path) -> BankData:
    path = Path(path)
    if path.is_dir():
        files = {str(p.relative_to(path)).replace("\\", "/"): p for p in path.rglob("*") if p.is_file()}
        return _read_package(lambda name: files[name].read_bytes() if name in files else None, path.name)
    if path.suffix.lower() == ".zip":
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise ItemImportError("not a valid zip file", Location(path.name)) from None
        with zf:
            names = set(zf.namelist())

            def get(name: str) -> bytes | None:
                if name not in names:
                    return None
                if zf.getinfo(name).file_size > MAX_BYTES:
                    raise ItemImportError("file too large", Location(name))
                return zf.read(name)

            return _read_package(get, path.name)
    raw = path.read_bytes()
    data = BankData()
    data.items.append(parse_item(raw, path.name))
    data.ensure_skills()
    return data


def _read_package(get, where: str) -> BankData:
    manifest_raw = get("imsmanifest.xml")
    if manifest_raw is None:
        raise ItemImportError("imsmanifest.xml missing: not a QTI content package", Location(where))
    manifest = _parse_xml(manifest_raw, "imsmanifest.xml")
    hrefs: list[str] = []
    for res in manifest.iter("resource"):
        rtype = (res.get("type") or "").lower()
        if rtype in ITEM_TYPES or rtype.startswith("imsqti_item"):
            href = res.get("href") or next((f.get("href") for f in res.iter("file") if f.get("href")), None)
            if href:
                hrefs.append(href)
    if not hrefs:
        raise ItemImportError("the manifest lists no QTI 2.1 items (resource type imsqti_item_xmlv2p1)",
                              Location("imsmanifest.xml"))
    sidecar: dict[str, Any] = {}
    raw_side = get(SIDECAR)
    if raw_side is not None:
        try:
            sidecar = json.loads(raw_side.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ItemImportError(f"invalid JSON: {exc}", Location(SIDECAR)) from None
    item_meta = sidecar.get("items") or {}
    data = BankData()
    problems: list[Problem] = []
    for href in hrefs:
        raw = get(href)
        if raw is None:
            problems.append(Problem(Location("imsmanifest.xml"), f"{href} is listed but missing from the package"))
            continue
        try:
            item = parse_item(raw, href)
        except ItemImportError as exc:
            problems.extend(exc.problems)
            continue
        _apply_meta(item, item_meta.get(item.key) or {})
        data.items.append(item)
    if problems:
        raise ItemImportError(problems)
    bank = sidecar.get("bank") or {}
    data.slug = bank.get("slug")
    data.title = bank.get("title")
    data.description = bank.get("description") or ""
    data.translations = bank.get("translations") or {}
    data.languages = list(bank.get("languages") or [])
    data.skills = [SkillData(key=s["key"], name=s.get("name") or {"en": s["key"]}, description=s.get("description"),
                             prerequisites=list(s.get("prerequisites") or []), location=Location(SIDECAR))
                   for s in bank.get("skills") or [] if isinstance(s, dict) and s.get("key")]
    data.ensure_skills()
    return data


def _apply_meta(item: ItemData, meta: dict[str, Any]) -> None:
    if meta.get("skills"):
        item.skills = list(meta["skills"])
    for field in ("difficulty", "hints", "params", "status"):
        if field in meta:
            setattr(item, field, meta[field])
    if isinstance(meta.get("template"), dict):
        for field, value in meta["template"].items():
            setattr(item, field, value)
    if isinstance(meta.get("answer"), dict):
        item.answer = {**item.answer, **meta["answer"]}


def _line_of(raw: bytes, needle: str) -> int | None:
    idx = raw.find(needle.encode())
    return raw.count(b"\n", 0, idx) + 1 if idx >= 0 else None


def parse_item(raw: bytes, filename: str) -> ItemData:
    from lti_tool.services.items import normalize_locale

    root = _parse_xml(raw, filename)
    if root.tag != "assessmentItem":
        raise ItemImportError(f"expected <assessmentItem>, found <{root.tag}>", Location(filename, 1))
    key = root.get("identifier") or Path(filename).stem
    locale = normalize_locale(root.get(XML_LANG) or root.get("lang") or "en")
    loc = Location(filename, _line_of(raw, "<assessmentItem") or 1)

    def fail(message: str, needle: str | None = None) -> ItemImportError:
        return ItemImportError(message, Location(filename, _line_of(raw, needle) if needle else loc.line))

    decls = {d.get("identifier"): d for d in root.iter("responseDeclaration")}
    body = root.find("itemBody")
    if body is None:
        raise fail("no <itemBody>")
    interactions = [el for el in body.iter() if el.tag in ("choiceInteraction", "textEntryInteraction",
                                                              "extendedTextInteraction", "matchInteraction",
                                                              "orderInteraction", "inlineChoiceInteraction",
                                                              "hotspotInteraction", "gapMatchInteraction")]
    if len(interactions) != 1:
        raise fail(f"expected exactly one interaction, found {len(interactions)}", "<itemBody")
    inter = interactions[0]
    if inter.tag not in ("choiceInteraction", "textEntryInteraction"):
        raise fail(f"{inter.tag} is not supported (choice and text entry only)", f"<{inter.tag}")
    decl = decls.get(inter.get("responseIdentifier"))
    if decl is None:
        raise fail(f"no responseDeclaration for {inter.get('responseIdentifier')!r}", f"<{inter.tag}")
    correct_values = [(v.text or "").strip() for v in decl.iter("value") if _in(decl, "correctResponse", v)]
    mapping = [(e.get("mapKey") or "", float(e.get("mappedValue") or 0), e.get("caseSensitive"))
               for e in decl.iter("mapEntry")]

    item = ItemData(key=key, type="", stem={}, location=loc)
    feedback: dict[str, dict[str, str]] = {}
    choice_fb: dict[str, dict[str, str]] = {}
    for fb in root.iter("modalFeedback"):
        ident = (fb.get("identifier") or "").strip()
        text = _localized(fb, locale)
        part = FEEDBACK_IDS.get(ident.lower())
        if part:
            for lc, t in text.items():
                feedback.setdefault(lc, {})[part] = t
        elif ident:
            choice_fb[ident] = text

    if inter.tag == "choiceInteraction":
        prompt = inter.find("prompt")
        choices = []
        for sc in inter.findall("simpleChoice"):
            for fi in sc.findall("feedbackInline"):
                choice_fb[sc.get("identifier") or ""] = _localized(fi, locale)
                sc.remove(fi)
            entry: dict[str, Any] = {"key": sc.get("identifier") or "", "text": _localized(sc, locale)}
            if entry["key"] in choice_fb:
                entry["feedback"] = choice_fb[entry["key"]]
            choices.append(entry)
        if not correct_values:
            correct_values = [k for k, v, _ in mapping if v > 0]
        if not correct_values:
            raise fail("the choice interaction has no correctResponse", "<responseDeclaration")
        multiple = decl.get("cardinality") in ("multiple", "ordered") or (inter.get("maxChoices") or "1") != "1"
        item.type = "mc_multi" if (multiple and len(correct_values) > 1) or decl.get("cardinality") == "multiple" \
            else "mc_single"
        item.choices = choices
        item.answer = {"correct": correct_values}
        _remove(body, inter)
        stem = _localized(_unwrap(body), locale)
        if prompt is not None:
            ptext = _localized(prompt, locale)
            stem = {lc: (stem.get(lc, "") + ptext.get(lc, "")).strip() for lc in set(stem) | set(ptext)}
        item.stem = stem
    else:
        base = (decl.get("baseType") or "string").lower()
        _replace_with_blank(body, inter)
        item.stem = _localized(_unwrap(body), locale)
        if base in ("float", "integer"):
            if not correct_values:
                raise fail("numeric text entry without a correctResponse", "<responseDeclaration")
            try:
                float(correct_values[0])
            except ValueError:
                raise fail(f"correct response {correct_values[0]!r} is not a number", "<correctResponse") from None
            tol, mode = _tolerance(root)
            item.type = "numeric"
            item.answer = {"value": correct_values[0], "tolerance": tol, "tolerance_mode": mode}
        else:
            accepted = list(dict.fromkeys(correct_values + [k for k, v, _ in mapping if v > 0]))
            if not accepted:
                raise fail("text entry without a correct response or a mapping", "<responseDeclaration")
            cs_flags = [c for *_, c in mapping if c is not None] + [
                m.get("caseSensitive") for m in root.iter("stringMatch") if m.get("caseSensitive")]
            item.type = "short_text"
            item.answer = {"accepted": accepted, "case_sensitive": any(f == "true" for f in cs_flags),
                           "ignore_spaces": False}
    item.feedback = feedback or None
    item.skills = ["general"]  # QTI has no skills; the package's adaptive-lti.json (if any) overrides
    return item


def _in(decl: ET.Element, parent_tag: str, value: ET.Element) -> bool:
    parent = decl.find(parent_tag)
    return parent is not None and value in list(parent.iter("value"))


def _remove(root: ET.Element, target: ET.Element) -> None:
    for parent in root.iter():
        for i, child in enumerate(list(parent)):
            if child is target:
                tail = child.tail
                parent.remove(child)
                if tail:
                    if i > 0:
                        parent[i - 1].tail = (parent[i - 1].tail or "") + tail
                    else:
                        parent.text = (parent.text or "") + tail
                return


def _unwrap(body: ET.Element) -> ET.Element:
    """An itemBody that is just one plain <div> (our export) reads as that div's content."""
    kids = list(body)
    if (len(kids) == 1 and kids[0].tag == "div" and not kids[0].attrib and not (body.text or "").strip()
            and not (kids[0].tail or "").strip()):
        return kids[0]
    return body


def _replace_with_blank(root: ET.Element, target: ET.Element) -> None:
    for parent in root.iter():
        for i, child in enumerate(list(parent)):
            if child is target:
                if (parent is not root and parent.tag == "p" and len(parent) == 1
                        and not (parent.text or "").strip() and not (child.tail or "").strip()):
                    _remove(root, parent)  # the blank stands alone in its paragraph: drop the paragraph
                    return
                tail = (child.tail or "")
                parent.remove(child)
                blank = "_____" + tail
                if i > 0:
                    parent[i - 1].tail = (parent[i - 1].tail or "") + blank
                else:
                    parent.text = (parent.text or "") + blank
                return


def _tolerance(root: ET.Element) -> tuple[float | int, str]:
    for eq in root.iter("equal"):
        mode = (eq.get("toleranceMode") or "exact").lower()
        if mode == "exact":
            return 0, "absolute"
        first = float((eq.get("tolerance") or "0").split()[0])
        if mode == "relative":  # QTI: percent
            return first / 100, "relative"
        return (int(first) if first == int(first) else first), "absolute"
    return 0, "absolute"


# ------------------------------------------------------------------------------------------ writing
def _num(x: Any) -> str:
    if isinstance(x, float) and x == int(x):
        return str(int(x))
    return str(x)


def item_xml(item: ItemData) -> tuple[bytes, dict[str, Any]]:
    """One assessmentItem (a parametric item as one concrete variant) and the metadata QTI cannot hold."""
    from fractions import Fraction

    meta, src = export_view(item)

    root = ET.Element("assessmentItem")
    root.set("xmlns", QTI_NS)
    root.set("identifier", item.key)
    root.set("title", item.key)
    root.set("adaptive", "false")
    root.set("timeDependent", "false")
    if len(src.stem) == 1:
        root.set(XML_LANG, next(iter(src.stem)).replace("_", "-"))
    decl = ET.SubElement(root, "responseDeclaration", identifier="RESPONSE")
    ans = src.answer
    if item.type in ("mc_single", "mc_multi"):
        decl.set("cardinality", "single" if item.type == "mc_single" else "multiple")
        decl.set("baseType", "identifier")
        cr = ET.SubElement(decl, "correctResponse")
        for k in ans["correct"]:
            ET.SubElement(cr, "value").text = k
    elif item.type == "numeric":
        decl.set("cardinality", "single")
        decl.set("baseType", "float")
        value = ans["value"]
        if isinstance(value, str):
            meta.setdefault("answer", {})["value"] = value
            value = float(Fraction(value))
        if ans.get("percent"):  # the answer is a percent number (a typed "50%" means 50): QTI cannot say it
            meta.setdefault("answer", {})["percent"] = True
        ET.SubElement(ET.SubElement(decl, "correctResponse"), "value").text = _num(value)
    else:
        decl.set("cardinality", "single")
        decl.set("baseType", "string")
        ET.SubElement(ET.SubElement(decl, "correctResponse"), "value").text = ans["accepted"][0]
        mapping = ET.SubElement(decl, "mapping", defaultValue="0")
        for a in ans["accepted"]:
            ET.SubElement(mapping, "mapEntry", mapKey=a, mappedValue="1",
                          caseSensitive="true" if ans.get("case_sensitive") else "false")
        if ans.get("ignore_spaces"):
            meta["answer"] = {"ignore_spaces": True}
    ET.SubElement(root, "outcomeDeclaration", identifier="SCORE", cardinality="single", baseType="float")
    ET.SubElement(root, "outcomeDeclaration", identifier="FEEDBACK", cardinality="single", baseType="identifier")
    body = ET.SubElement(root, "itemBody")
    if item.type in ("mc_single", "mc_multi"):
        stem_div = ET.SubElement(body, "div")
        _put_localized(stem_div, src.stem)
        inter = ET.SubElement(body, "choiceInteraction", responseIdentifier="RESPONSE", shuffle="false",
                              maxChoices="1" if item.type == "mc_single" else "0")
        for c in src.choices or []:
            sc = ET.SubElement(inter, "simpleChoice", identifier=c["key"])
            _put_localized(sc, c["text"])
    else:
        stem_div = ET.SubElement(body, "div")
        _put_localized(stem_div, src.stem)
        p = ET.SubElement(body, "p")
        ET.SubElement(p, "textEntryInteraction", responseIdentifier="RESPONSE", expectedLength="15")
    _response_processing(root, item, ans)
    for part in ("correct", "incorrect"):
        text = {lc: parts[part] for lc, parts in (src.feedback or {}).items() if parts.get(part)}
        if text:
            mf = ET.SubElement(root, "modalFeedback", outcomeIdentifier="FEEDBACK", identifier=part, showHide="show")
            _put_localized(mf, text)
    for c in src.choices or []:
        if c.get("feedback"):
            mf = ET.SubElement(root, "modalFeedback", outcomeIdentifier="FEEDBACK", identifier=c["key"],
                               showHide="show")
            _put_localized(mf, c["feedback"])
    if item.params:
        meta.pop("answer", None)  # the template carries the real answer
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True), meta


def _response_processing(root: ET.Element, item: ItemData, ans: dict[str, Any]) -> None:
    if item.type != "numeric":
        template = ("match_correct" if item.type in ("mc_single", "mc_multi") else "map_response")
        ET.SubElement(root, "responseProcessing",
                      template=f"http://www.imsglobal.org/question/qti_v2p1/rptemplates/{template}")
        return
    rp = ET.SubElement(root, "responseProcessing")
    cond = ET.SubElement(rp, "responseCondition")
    rif = ET.SubElement(cond, "responseIf")
    tol = ans.get("tolerance") or 0
    if tol:
        relative = ans.get("tolerance_mode") == "relative"
        t = _num(round(tol * 100, 10) if relative else tol)
        eq = ET.SubElement(rif, "equal", toleranceMode="relative" if relative else "absolute", tolerance=f"{t} {t}")
    else:
        eq = ET.SubElement(rif, "equal", toleranceMode="exact")
    ET.SubElement(eq, "variable", identifier="RESPONSE")
    ET.SubElement(eq, "correct", identifier="RESPONSE")
    set1 = ET.SubElement(rif, "setOutcomeValue", identifier="SCORE")
    ET.SubElement(set1, "baseValue", baseType="float").text = "1"
    fb1 = ET.SubElement(rif, "setOutcomeValue", identifier="FEEDBACK")
    ET.SubElement(fb1, "baseValue", baseType="identifier").text = "correct"
    rel = ET.SubElement(cond, "responseElse")
    set0 = ET.SubElement(rel, "setOutcomeValue", identifier="SCORE")
    ET.SubElement(set0, "baseValue", baseType="float").text = "0"
    fb0 = ET.SubElement(rel, "setOutcomeValue", identifier="FEEDBACK")
    ET.SubElement(fb0, "baseValue", baseType="identifier").text = "incorrect"


def package(data: BankData) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    metas: dict[str, Any] = {}
    manifest = ET.Element("manifest")
    manifest.set("xmlns", CP_NS)
    manifest.set("identifier", f"MANIFEST-{data.slug or 'bank'}")
    ET.SubElement(manifest, "organizations")
    resources = ET.SubElement(manifest, "resources")
    for item in data.items:
        href = f"items/{re.sub(r'[^A-Za-z0-9_.-]', '_', item.key)}.xml"
        xml, meta = item_xml(item)
        files[href] = xml
        metas[item.key] = meta
        res = ET.SubElement(resources, "resource", identifier=f"RES-{item.key}", type="imsqti_item_xmlv2p1",
                            href=href)
        ET.SubElement(res, "file", href=href)
    ET.indent(manifest)
    files["imsmanifest.xml"] = ET.tostring(manifest, encoding="utf-8", xml_declaration=True)
    sidecar = {
        "format": "adaptive-lti-qti/1",
        "bank": {"slug": data.slug, "title": data.title, "description": data.description,
                 "translations": data.translations, "languages": data.languages,
                 "skills": [{"key": s.key, "name": s.name, "description": s.description,
                             "prerequisites": s.prerequisites} for s in data.skills]},
        "items": metas,
    }
    files[SIDECAR] = (json.dumps(sidecar, ensure_ascii=False, indent=2) + "\n").encode()
    return files


def write(data: BankData, path: Path) -> None:
    """``x.zip`` -> a zipped content package; anything else -> a folder."""
    path = Path(path)
    files = package(data)
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, blob in files.items():
                zf.writestr(name, blob)
        return
    for name, blob in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
