"""Moodle GIFT: read and write.

Supported: multiple choice (``{=right ~wrong}``; several correct or ``~%50%`` weights -> mc_multi), true/false
(-> mc_single with True/False choices), numeric (``{#3.14:0.01}``, ``{#1..5}``, ``{#=2:0 =%50%3:0}``; the 100 %
answer is kept), short answer (``{=a =b}``), per-answer feedback ``#``, general feedback ``####`` (-> the item's
"incorrect" feedback), ``::name::`` (-> the item key), ``[html]``/``[moodle]``/``[plain]``/``[markdown]`` formats,
``$CATEGORY:`` (-> the skill: its last path segment), ``//`` comments, the escapes ``\\~ \\= \\# \\{ \\} \\:`` and
``\\n``, and Moodle's multilang spans ``<span lang="zh_cn" class="multilang">`` (-> one text per locale).
Not supported (a clear error with the line): essay ``{}``, matching ``->``, missing-word questions with text after
the answers are read with the answer blank shown as ``_____``.

What GIFT cannot say (skill names, prerequisites, difficulty, hints, parametric templates, relative tolerances and
answer options such as short text's ``case_sensitive``/``ignore_spaces`` and numeric ``percent``) travels in
comments that Moodle ignores: ``// @adaptive-lti-bank {json}`` at the top and ``// @adaptive-lti {json}`` before a
question.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lti_tool.services.item_formats.common import (
    BankData,
    ItemData,
    ItemImportError,
    Location,
    Problem,
    SkillData,
    export_view,
)

SPECIAL = "~=#{}:"
META_ITEM = "// @adaptive-lti "
META_BANK = "// @adaptive-lti-bank "
TRUE_WORDS = {"T", "TRUE"}
FALSE_WORDS = {"F", "FALSE"}
TF_TEXT = {"true": {"en": "True", "zh_CN": "对"}, "false": {"en": "False", "zh_CN": "错"}}
_MULTILANG = re.compile(r'<span\s+lang="([A-Za-z_-]+)"\s+class="multilang"\s*>(.*?)</span>', re.S | re.I)
_MULTILANG_ALT = re.compile(r'<span\s+class="multilang"\s+lang="([A-Za-z_-]+)"\s*>(.*?)</span>', re.S | re.I)
_FORMAT = re.compile(r"^\s*\[(html|moodle|plain|markdown)\]", re.I)
KEY_SAFE = re.compile(r"[^A-Za-z0-9_.:-]+")


# ------------------------------------------------------------------------------------------ escaping
def escape(text: str) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch in SPECIAL:
            out.append("\\" + ch)
        elif ch == "\n":
            nxt = text[i + 1] if i + 1 < len(text) else ""
            out.append("\\n " if nxt.isascii() and nxt.isalpha() else "\\n")
        else:
            out.append(ch)
    return "".join(out)


def unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in SPECIAL:
                out.append(nxt)
                i += 2
                continue
            after = text[i + 2] if i + 2 < len(text) else ""
            if nxt == "n" and not (after.isascii() and after.isalpha()):  # \n newline, but keep TeX \neq, \nu
                out.append("\n")
                i += 2
                if after == " ":
                    i += 1
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _find_unescaped(text: str, chars: str, start: int = 0) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in chars:
            return i
        i += 1
    return -1


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on an unescaped separator string."""
    parts, i, last = [], 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(sep, i):
            parts.append(text[last:i])
            i += len(sep)
            last = i
            continue
        i += 1
    parts.append(text[last:])
    return parts


# ----------------------------------------------------------------------------------------- locales
def split_multilang(html: str) -> dict[str, str]:
    from lti_tool.services.items import normalize_locale

    found = _MULTILANG.findall(html) or _MULTILANG_ALT.findall(html)
    if not found:
        return {"en": html.strip()} if html.strip() else {}
    return {normalize_locale(lang): text.strip() for lang, text in found if text.strip()}


def join_multilang(text: dict[str, str]) -> str:
    if len(text) == 1:
        return next(iter(text.values()))
    return "".join(f'<span lang="{_moodle_lang(loc)}" class="multilang">{t}</span>' for loc, t in text.items())


def _moodle_lang(locale: str) -> str:
    return "zh_cn" if locale == "zh_CN" else locale.lower()


# ------------------------------------------------------------------------------------------ reading
def read(path: Path) -> BankData:
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ItemImportError(f"not UTF-8 text (byte {exc.start})", Location(path.name)) from None
    return parse(text, path.name)


def _blocks(text: str) -> list[tuple[int, list[str], list[str], str | None]]:
    """Split into questions: (first line, comment lines, text lines, category in force)."""
    blocks: list[tuple[int, list[str], list[str], str | None]] = []
    comments: list[str] = []
    lines: list[str] = []
    start = 0
    category: str | None = None
    depth = 0
    for n, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if depth == 0 and not lines:
            if not stripped:
                continue
            if stripped.startswith("//"):
                comments.append(stripped)
                continue
            if stripped.upper().startswith("$CATEGORY:"):
                category = stripped.split(":", 1)[1].strip()
                comments = [c for c in comments if c.startswith(META_BANK)]
                continue
        if depth == 0 and not stripped:
            if lines:
                blocks.append((start, comments, lines, category))
                comments, lines = [], []
            continue
        if stripped.startswith("//") and depth == 0:
            continue  # a comment inside a question
        if depth == 0 and lines and stripped.startswith("::") and _find_unescaped("\n".join(lines), "}") >= 0:
            blocks.append((start, comments, lines, category))  # next question without a blank line between
            comments, lines = [], []
        if not lines:
            start = n
        lines.append(raw)
        depth = max(0, depth + _brace_delta(raw))
    if lines:
        blocks.append((start, comments, lines, category))
    # bank metadata may also be a leading comment of the first question
    return blocks


def _brace_delta(line: str) -> int:
    delta, i = 0, 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == "{":
            delta += 1
        elif line[i] == "}":
            delta -= 1
        i += 1
    return delta


def parse(text: str, filename: str = "questions.gift") -> BankData:
    problems: list[Problem] = []
    data = BankData()
    bank_meta: dict[str, Any] | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(META_BANK.strip()):
            try:
                bank_meta = json.loads(line.strip()[len(META_BANK.strip()):])
            except json.JSONDecodeError as exc:
                problems.append(Problem(Location(filename, n),
                                        f"@adaptive-lti-bank metadata: invalid JSON ({exc.msg})"))
            break
    for start, comments, lines, category in _blocks(text):
        loc = Location(filename, start)
        meta: dict[str, Any] = {}
        for c in comments:
            if c.startswith(META_ITEM.strip() + " ") and not c.startswith(META_BANK.strip()):
                try:
                    meta = json.loads(c[len(META_ITEM.strip()):])
                except json.JSONDecodeError as exc:
                    problems.append(Problem(loc, f"@adaptive-lti metadata: invalid JSON ({exc.msg})"))
        try:
            item = _parse_question("\n".join(lines), loc, category, meta)
        except ValueError as exc:
            problems.append(Problem(loc, str(exc)))
            continue
        data.items.append(item)
    if problems:
        raise ItemImportError(problems)
    if not data.items:
        raise ItemImportError("no questions found", Location(filename, 1))
    if bank_meta:
        data.slug = bank_meta.get("slug")
        data.title = bank_meta.get("title")
        data.description = bank_meta.get("description") or ""
        data.translations = bank_meta.get("translations") or {}
        data.languages = list(bank_meta.get("languages") or [])
        data.skills = [SkillData(key=s["key"], name=s.get("name") or {"en": s["key"]},
                                 description=s.get("description"), prerequisites=list(s.get("prerequisites") or []),
                                 location=Location(filename, 1))
                       for s in bank_meta.get("skills") or [] if isinstance(s, dict) and s.get("key")]
    data.ensure_skills()
    return data


def _skill_from_category(category: str | None) -> str:
    if not category:
        return "general"
    last = [p for p in category.split("/") if p and not p.startswith("$")]
    name = last[-1] if last else "general"
    return KEY_SAFE.sub("-", name.strip()).strip("-").lower() or "general"


def _parse_question(block: str, loc: Location, category: str | None, meta: dict[str, Any]) -> ItemData:
    text = block.strip()
    name = None
    if text.startswith("::"):
        end = text.find("::", 2)
        if end < 0:
            raise ValueError("the question name (::name::) is not closed")
        name = unescape(text[2:end]).strip()
        text = text[end + 2:].lstrip()
    m = _FORMAT.match(text)
    if m:
        text = text[m.end():].lstrip()
    open_at = _find_unescaped(text, "{")
    if open_at < 0:
        raise ValueError("no answer block { ... } (descriptions are not questions)")
    close_at = _find_unescaped(text, "}", open_at + 1)
    if close_at < 0:
        raise ValueError("the answer block { is not closed with }")
    before, body, after = text[:open_at], text[open_at + 1:close_at], text[close_at + 1:]
    if _find_unescaped(after, "{") >= 0:
        raise ValueError("only one answer block per question is supported")
    stem_raw = before.strip() + (" _____ " + after.strip() if after.strip() else "")
    stem = split_multilang(unescape(stem_raw).strip())
    key = meta.get("key") or (KEY_SAFE.sub("-", name).strip("-")[:128] if name else f"q{loc.line}")
    item = ItemData(key=key, type="", stem=stem, skills=[_skill_from_category(category)], location=loc)
    _parse_answers(body, item)
    _apply_meta(item, meta)
    return item


def _answer_parts(body: str) -> tuple[list[tuple[str, str]], str | None]:
    """[(marker '=' or '~', text incl. weight and feedback)], general feedback."""
    general = None
    pieces = _split_unescaped(body, "####")
    if len(pieces) > 1:
        body, general = pieces[0], unescape("####".join(pieces[1:])).strip()
    answers: list[tuple[str, str]] = []
    i, current, marker = 0, [], None
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            current.append(body[i:i + 2])
            i += 2
            continue
        if ch in "=~":
            if marker is not None:
                answers.append((marker, "".join(current).strip()))
            elif "".join(current).strip():
                answers.append(("", "".join(current).strip()))
            marker, current = ch, []
            i += 1
            continue
        current.append(ch)
        i += 1
    if marker is not None:
        answers.append((marker, "".join(current).strip()))
    elif "".join(current).strip():
        answers.append(("", "".join(current).strip()))
    return answers, general


_WEIGHT = re.compile(r"^%(-?\d+(?:\.\d+)?)%")


def _weight_text_feedback(raw: str) -> tuple[float | None, str, str | None]:
    weight = None
    m = _WEIGHT.match(raw)
    if m:
        weight = float(m.group(1))
        raw = raw[m.end():]
    hash_at = _find_unescaped(raw, "#")
    feedback = None
    if hash_at >= 0:
        feedback = unescape(raw[hash_at + 1:]).strip()
        raw = raw[:hash_at]
    return weight, unescape(raw).strip(), feedback


def _parse_answers(body: str, item: ItemData) -> None:
    stripped = body.strip()
    if not stripped:
        raise ValueError("essay questions ({}) are not supported")
    if "->" in stripped:
        raise ValueError("matching questions (->) are not supported")
    if stripped.startswith("#"):
        _parse_numeric(stripped[1:], item)
        return
    head = _split_unescaped(stripped, "#")[0].strip().upper()
    if head in TRUE_WORDS | FALSE_WORDS:
        truth = head in TRUE_WORDS
        parts = [unescape(p).strip() for p in _split_unescaped(stripped, "#")[1:]]
        item.type = "mc_single"
        item.choices = [{"key": "true", "text": dict(TF_TEXT["true"])},
                        {"key": "false", "text": dict(TF_TEXT["false"])}]
        item.answer = {"correct": ["true" if truth else "false"]}
        tf_fb: dict[str, str | None] = {}
        if len(parts) >= 1 and parts[0]:
            tf_fb["incorrect"] = parts[0]  # Moodle: first feedback is shown for a wrong answer
        if len(parts) >= 2 and parts[1]:
            tf_fb["correct"] = parts[1]
        item.feedback = _localized_feedback(tf_fb)
        return
    answers, general = _answer_parts(stripped)
    if not answers:
        raise ValueError("empty answer block")
    if any(m == "" for m, _ in answers):
        raise ValueError("answers must start with = or ~")
    markers = {m for m, _ in answers}
    if markers == {"="}:
        accepted: list[str] = []
        correct_fb: str | None = None
        for _, raw in answers:
            weight, txt, answer_fb = _weight_text_feedback(raw)
            if weight is not None and weight < 100:
                continue  # partial-credit alternatives are not accepted answers here
            accepted.append(txt)
            correct_fb = correct_fb or answer_fb
        if not accepted:
            raise ValueError("short answer without a 100% answer")
        item.type = "short_text"
        item.answer = {"accepted": accepted, "case_sensitive": False, "ignore_spaces": False}
        item.feedback = _localized_feedback({"correct": correct_fb, "incorrect": general})
        return
    _parse_choices(answers, general, item)


def _parse_choices(answers: list[tuple[str, str]], general: str | None, item: ItemData) -> None:
    choices: list[dict[str, Any]] = []
    correct: list[str] = []
    fbs: dict[str, str] = {}
    for idx, (marker, raw) in enumerate(answers):
        weight, txt, fb = _weight_text_feedback(raw)
        key = chr(ord("a") + idx) if idx < 26 else f"c{idx}"
        is_correct = (marker == "=" and (weight is None or weight > 0)) or (marker == "~" and (weight or 0) > 0)
        if is_correct:
            correct.append(key)
        choices.append({"key": key, "text": split_multilang(txt)})
        if fb:
            fbs[key] = fb
    if not correct:
        raise ValueError("multiple choice without a correct answer (= or a positive %weight%)")
    item.type = "mc_single" if len(correct) == 1 else "mc_multi"
    item.answer = {"correct": correct}
    wrong = [c["key"] for c in choices if c["key"] not in correct]
    feedback: dict[str, str | None] = {"incorrect": general}
    right_fbs = {fbs.get(k) for k in correct}
    if len(right_fbs) == 1 and None not in right_fbs:
        feedback["correct"] = right_fbs.pop()
        for k in correct:
            fbs.pop(k, None)
    wrong_fbs = {fbs.get(k) for k in wrong}
    if wrong and len(wrong_fbs) == 1 and None not in wrong_fbs and not general:
        feedback["incorrect"] = wrong_fbs.pop()
        for k in wrong:
            fbs.pop(k, None)
    for c in choices:
        if c["key"] in fbs:
            c["feedback"] = split_multilang(fbs[c["key"]])
    item.choices = choices
    item.feedback = _localized_feedback(feedback)


_NUM_RANGE = re.compile(r"^(-?[\d.]+(?:[eE]-?\d+)?)\s*\.\.\s*(-?[\d.]+(?:[eE]-?\d+)?)$")
_NUM_TOL = re.compile(r"^(-?[\d.]+(?:[eE]-?\d+)?)(?:\s*:\s*([\d.]+(?:[eE]-?\d+)?))?$")


def _parse_numeric(body: str, item: ItemData) -> None:
    answers, general = _answer_parts(body)
    if not answers:
        raise ValueError("numeric question without an answer")
    best: tuple[tuple[int | float, int | float], str | None] | None = None
    for marker, raw in answers:
        if marker == "~":
            continue  # wrong numeric answers with feedback are not kept
        weight, txt, fb = _weight_text_feedback(unescape_colon(raw))
        if weight is not None and weight < 100:
            continue
        value = _numeric_value(txt)
        if value is None:
            raise ValueError(f"numeric answer {txt!r} is not a number, number:tolerance or min..max")
        best = (value, fb)
        break
    if best is None:
        raise ValueError("numeric question without a 100% answer")
    (number, tol), number_fb = best
    item.type = "numeric"
    item.answer = {"value": number, "tolerance": tol, "tolerance_mode": "absolute"}
    item.feedback = _localized_feedback({"correct": number_fb, "incorrect": general})


def unescape_colon(raw: str) -> str:
    return raw.replace("\\:", ":")


def _num(s: str) -> int | float:
    v = float(s)
    return int(v) if v == int(v) and "." not in s and "e" not in s.lower() else v


def _numeric_value(txt: str) -> tuple[int | float, int | float] | None:
    txt = txt.strip()
    try:
        if m := _NUM_RANGE.match(txt):
            lo, hi = float(m.group(1)), float(m.group(2))
            mid, half = (lo + hi) / 2, abs(hi - lo) / 2
            return (int(mid) if mid == int(mid) else mid), (int(half) if half == int(half) else half)
        if m := _NUM_TOL.match(txt):
            return _num(m.group(1)), _num(m.group(2)) if m.group(2) else 0
    except ValueError:
        return None
    return None


def _localized_feedback(fb: dict[str, str | None]) -> dict[str, dict[str, str]] | None:
    out: dict[str, dict[str, str]] = {}
    for part, text in fb.items():
        if not text:
            continue
        for loc, t in split_multilang(text).items():
            out.setdefault(loc, {})[part] = t
    return out or None


def _apply_meta(item: ItemData, meta: dict[str, Any]) -> None:
    if not meta:
        return
    if isinstance(meta.get("skills"), list) and meta["skills"]:
        item.skills = [str(s) for s in meta["skills"]]
    for field in ("difficulty", "hints", "params", "status"):
        if field in meta:
            setattr(item, field, meta[field])
    template = meta.get("template")
    if isinstance(template, dict):  # a parametric item exported as one concrete variant
        for field in ("stem", "choices", "answer", "feedback", "hints"):
            if field in template:
                setattr(item, field, template[field])
    if isinstance(meta.get("answer"), dict):  # what GIFT cannot say (e.g. relative tolerance, options)
        item.answer = {**item.answer, **meta["answer"]}
    if isinstance(meta.get("choice_keys"), list) and item.choices and not isinstance(template, dict):
        keys = meta["choice_keys"]
        if len(keys) == len(item.choices):
            mapping = {c["key"]: k for c, k in zip(item.choices, keys, strict=True)}
            for c in item.choices:
                c["key"] = mapping[c["key"]]
            item.answer["correct"] = [mapping[k] for k in item.answer.get("correct", [])]
    if isinstance(meta.get("choices"), list) and not isinstance(template, dict):
        item.choices = meta["choices"]
    if isinstance(meta.get("feedback"), dict) and not isinstance(template, dict):
        item.feedback = meta["feedback"]


# ------------------------------------------------------------------------------------------ writing
def _fmt_num(x: Any) -> str:
    if isinstance(x, float) and x == int(x):
        return str(int(x))
    return str(x)


def _ml(text: dict[str, str] | None) -> str:
    return escape(join_multilang(text or {}))


def _fb_text(fb: dict[str, dict[str, str]] | None, part: str) -> dict[str, str]:
    return {loc: parts[part] for loc, parts in (fb or {}).items() if parts.get(part)}


def _question(item: ItemData) -> tuple[str, dict[str, Any]]:
    """GIFT text of one item plus the metadata GIFT cannot hold."""
    from fractions import Fraction

    common_meta, src = export_view(item)
    meta: dict[str, Any] = {"key": item.key, **common_meta}
    head = f"::{escape(item.key)}::[html]{_ml(src.stem)}"
    correct_fb = _fb_text(src.feedback, "correct")
    incorrect_fb = _fb_text(src.feedback, "incorrect")
    ans = src.answer
    parts: list[str] = []
    general = ""
    if item.type in ("mc_single", "mc_multi"):
        keys = [c["key"] for c in src.choices or []]
        if keys != [chr(ord("a") + i) for i in range(len(keys))]:
            meta["choice_keys"] = keys
        n_correct = len(ans["correct"])
        for c in src.choices or []:
            ok = c["key"] in ans["correct"]
            fb = c.get("feedback") or (correct_fb if ok else incorrect_fb)
            fb_txt = f"#{_ml(fb)}" if fb else ""
            if item.type == "mc_single":
                parts.append(f"{'=' if ok else '~'}{_ml(c['text'])}{fb_txt}")
            else:
                weight = _fmt_num(round(100 / n_correct, 5)) if ok else "-100"
                parts.append(f"~%{weight}%{_ml(c['text'])}{fb_txt}")
        if any(c.get("feedback") for c in src.choices or []):
            # per-choice feedback next to the general one cannot be told apart in GIFT: keep it exact
            meta["choices"] = src.choices
            meta["feedback"] = src.feedback
    elif item.type == "numeric":
        value = ans["value"]
        tol = ans.get("tolerance") or 0
        if isinstance(value, str):
            value = float(Fraction(value))
            meta.setdefault("answer", {})["value"] = ans["value"]
        if ans.get("tolerance_mode") == "relative":
            meta.setdefault("answer", {}).update(tolerance=tol, tolerance_mode="relative")
            tol = abs(float(value)) * tol
        if ans.get("percent"):  # the answer is a percent number (a typed "50%" means 50): GIFT cannot say it
            meta.setdefault("answer", {})["percent"] = True
        fb_txt = f"#{_ml(correct_fb)}" if correct_fb else ""
        parts.append(f"#={_fmt_num(value)}:{_fmt_num(tol)}{fb_txt}")
        general = f"####{_ml(incorrect_fb)}" if incorrect_fb else ""
    else:
        fb_txt = f"#{_ml(correct_fb)}" if correct_fb else ""
        parts.extend(f"={escape(a)}{fb_txt}" for a in ans["accepted"])
        if ans.get("case_sensitive") or ans.get("ignore_spaces"):
            meta["answer"] = {"case_sensitive": bool(ans.get("case_sensitive")),
                              "ignore_spaces": bool(ans.get("ignore_spaces"))}
        general = f"####{_ml(incorrect_fb)}" if incorrect_fb else ""
    if item.params:
        for field in ("choice_keys", "choices", "feedback", "answer"):
            meta.pop(field, None)
    body = "\n".join(f"    {p}" for p in parts)
    return f"{head} {{\n{body}\n{general + chr(10) if general else ''}}}", meta


def dumps(data: BankData) -> str:
    bank_meta = {
        "slug": data.slug, "title": data.title, "description": data.description,
        "translations": data.translations, "languages": data.languages,
        "skills": [{"key": s.key, "name": s.name, "description": s.description, "prerequisites": s.prerequisites}
                   for s in data.skills],
    }
    out = [f"// {data.title or data.slug or 'Item bank'} (exported by adaptive-lti)",
           META_BANK + json.dumps(bank_meta, ensure_ascii=False), ""]
    current = None
    for item in data.items:
        skill = item.skills[0] if item.skills else "general"
        if skill != current:
            out.append(f"$CATEGORY: $course$/top/{data.slug or 'bank'}/{skill}\n")
            current = skill
        text, meta = _question(item)
        out.append(META_ITEM + json.dumps(meta, ensure_ascii=False))
        out.append(text)
        out.append("")
    return "\n".join(out)


def write(data: BankData, path: Path) -> None:
    Path(path).write_text(dumps(data), encoding="utf-8")
