"""The item bank service: lookups (tenancy-scoped), validation, import/export, the sample bank, deep linking.

Tenancy: a bank with ``registration_id`` NULL is global (shipped with the tool) and visible to everyone; any other
bank is visible only to its registration. Every lookup takes the caller's ``registration_id``; ids coming from a
client are checked against it (:func:`get_bank_by_id`, :func:`get_item`).

Imports are all-or-nothing: the whole input is parsed and validated (every problem collected, each with file and
line) before a single row is written, and the write happens in the caller's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, selectinload

from lti_tool.logs import get_logger
from lti_tool.models.items import (
    ACTIVE,
    ITEM_STATUSES,
    ITEM_TYPES,
    MC_MULTI,
    MC_SINGLE,
    NUMERIC,
    RETIRED,
    SHORT_TEXT,
    Item,
    ItemBank,
    Skill,
    SkillPrerequisite,
)
from lti_tool.services import answers
from lti_tool.services.item_formats.common import (
    BankData,
    ItemData,
    ItemImportError,
    Location,
    Problem,
    SkillData,
)
from lti_tool.services.sanitize import clean_html

log = get_logger(__name__)

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data" / "fractions"
SAMPLE_SLUG = "fractions"
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
DEFAULT_LOCALE = "en"
VARIANT_CHECK_SEEDS = 25


# -------------------------------------------------------------------------------------------- locales
def normalize_locale(locale: str | None) -> str:
    """LMS locale -> our key: ``zh-Hans``, ``zh-CN``, ``zh_cn``, ``zh-Hans-CN``, ``zh`` -> ``zh_CN``; ``en-US`` ->
    ``en``; other languages -> their lower-case language code; empty -> ``en``."""
    if not locale:
        return DEFAULT_LOCALE
    parts = re.split(r"[-_]", locale.strip())
    lang = parts[0].lower()
    if lang == "zh":
        rest = {p.lower() for p in parts[1:]}
        if rest & {"hant", "tw", "hk", "mo"}:
            return "zh_TW"
        return "zh_CN"
    return lang or DEFAULT_LOCALE


def localize(text: Any, locale: str | None = None) -> Any:
    """Pick the text for ``locale`` from ``{locale: text}``: exact, then same language, then en, then any.

    Works for strings (returned as they are), lists and ``None`` (returned as ``""``)."""
    if text is None:
        return ""
    if not isinstance(text, dict):
        return text
    if not text:
        return ""
    want = normalize_locale(locale)
    if want in text:
        return text[want]
    norm = {normalize_locale(k): v for k, v in text.items()}
    if want in norm:
        return norm[want]
    lang = want.split("_")[0]
    for k, v in norm.items():
        if k.split("_")[0] == lang:
            return v
    if DEFAULT_LOCALE in norm:
        return norm[DEFAULT_LOCALE]
    return next(iter(text.values()))


# -------------------------------------------------------------------------------------------- lookups
def _visible(registration_id: int | None):
    if registration_id is None:
        return ItemBank.registration_id.is_(None)
    return or_(ItemBank.registration_id.is_(None), ItemBank.registration_id == registration_id)


def get_bank(session: Session, slug: str, registration_id: int | None) -> ItemBank | None:
    """The bank ``slug`` as ``registration_id`` sees it: its own bank first, else the global one."""
    banks = session.scalars(select(ItemBank).where(ItemBank.slug == slug, _visible(registration_id))).all()
    own = [b for b in banks if b.registration_id is not None]
    return own[0] if own else (banks[0] if banks else None)


def get_bank_by_id(session: Session, bank_id: int, registration_id: int | None) -> ItemBank | None:
    """``None`` unless the bank is global or belongs to ``registration_id`` (never trust a bare id)."""
    return session.scalars(select(ItemBank).where(ItemBank.id == bank_id, _visible(registration_id))).first()


def list_banks(session: Session, registration_id: int | None) -> list[ItemBank]:
    """Banks visible to the registration (global + own), own banks shadowing global ones of the same slug."""
    banks = session.scalars(
        select(ItemBank).where(_visible(registration_id)).order_by(ItemBank.slug, ItemBank.id)
    ).all()
    by_slug: dict[str, ItemBank] = {}
    for b in banks:
        if b.slug not in by_slug or b.registration_id is not None:
            by_slug[b.slug] = b
    return list(by_slug.values())


def list_all_banks(session: Session) -> list[ItemBank]:
    """Every bank of every owner (admin CLI)."""
    return list(session.scalars(select(ItemBank).order_by(ItemBank.registration_id, ItemBank.slug)))


def bank_skills(session: Session, bank_id: int) -> list[Skill]:
    return list(session.scalars(select(Skill).where(Skill.bank_id == bank_id).order_by(Skill.position, Skill.id)))


def prerequisites(session: Session, bank_id: int) -> dict[str, list[str]]:
    """``{skill_key: [prerequisite skill keys]}`` for every skill of the bank (empty list when none)."""
    skills = bank_skills(session, bank_id)
    by_id = {s.id: s.key for s in skills}
    result: dict[str, list[str]] = {s.key: [] for s in skills}
    if not by_id:
        return result
    rows = session.execute(
        select(SkillPrerequisite.skill_id, SkillPrerequisite.prerequisite_id).where(
            SkillPrerequisite.skill_id.in_(by_id)
        )
    ).all()
    for skill_id, pre_id in rows:
        result[by_id[skill_id]].append(by_id[pre_id])
    for v in result.values():
        v.sort()
    return result


def bank_items(session: Session, bank_id: int, *, active_only: bool = True) -> list[Item]:
    """Items of a bank (with their skills loaded), in authoring order."""
    query = select(Item).where(Item.bank_id == bank_id).options(selectinload(Item.skills))
    if active_only:
        query = query.where(Item.status == ACTIVE)
    return list(session.scalars(query.order_by(Item.position, Item.id)))


def get_item(session: Session, item_id: int, bank_id: int) -> Item | None:
    """The item ``item_id`` if it belongs to ``bank_id`` (check a client-sent id against the activity's bank)."""
    return session.scalars(
        select(Item).where(Item.id == item_id, Item.bank_id == bank_id).options(selectinload(Item.skills))
    ).first()


# ----------------------------------------------------------------------------------------- validation
def _norm_localized(value: Any, where: str, problems: list[str], *, html: bool = True) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = {DEFAULT_LOCALE: value}
    if not isinstance(value, dict):
        problems.append(f"{where} must be text or {{locale: text}}")
        return {}
    out: dict[str, str] = {}
    for loc, text in value.items():
        if text is None or text == "":
            continue
        if not isinstance(text, str):
            problems.append(f"{where} [{loc}] must be text")
            continue
        out[normalize_locale(loc)] = clean_html(text) if html else text.strip()
    return {k: v for k, v in out.items() if v}


def _check_item(item: ItemData, problems: list[str]) -> None:
    """Validate and normalise (sanitise, locale keys) one item in place; append human-readable problems."""
    if not KEY.match(item.key or ""):
        problems.append(f"bad item key {item.key!r} (letters, digits, _ . : - ; at most 128)")
    if item.type not in ITEM_TYPES:
        problems.append(f"unknown item type {item.type!r}; use one of {', '.join(ITEM_TYPES)}")
        return
    if item.status not in ITEM_STATUSES:
        problems.append(f"unknown status {item.status!r}; use active or retired")
    item.stem = _norm_localized(item.stem, "stem", problems)
    if not item.stem:
        problems.append("the stem (question text) is empty")
    if not item.skills:
        problems.append("the item has no skill")
    if item.difficulty is not None:
        try:
            item.difficulty = float(item.difficulty)
        except (TypeError, ValueError):
            problems.append(f"difficulty {item.difficulty!r} is not a number")
        else:
            if not 0 <= item.difficulty <= 1:
                problems.append(f"difficulty {item.difficulty} must be between 0 (easy) and 1 (hard)")
    if item.feedback:
        fb: dict[str, dict[str, str]] = {}
        if not isinstance(item.feedback, dict):
            problems.append("feedback must be {locale: {correct, incorrect}}")
        else:
            for loc, parts in item.feedback.items():
                if not isinstance(parts, dict) or set(parts) - {"correct", "incorrect"}:
                    problems.append(f"feedback [{loc}] must have only 'correct' and 'incorrect'")
                    continue
                cleaned = {k: clean_html(v) for k, v in parts.items() if isinstance(v, str) and v.strip()}
                if cleaned:
                    fb[normalize_locale(loc)] = cleaned
        item.feedback = fb or None
    if item.hints:
        hints: dict[str, list[str]] = {}
        if not isinstance(item.hints, dict):
            problems.append("hints must be {locale: [text, ...]}")
        else:
            for loc, raw in item.hints.items():
                seq = [raw] if isinstance(raw, str) else raw
                if not isinstance(seq, list) or not all(isinstance(h, str) for h in seq):
                    problems.append(f"hints [{loc}] must be a list of texts")
                    continue
                cleaned_hints = [clean_html(h) for h in seq if h.strip()]
                if cleaned_hints:
                    hints[normalize_locale(loc)] = cleaned_hints
        item.hints = hints or None

    ans = item.answer if isinstance(item.answer, dict) else None
    if ans is None:
        problems.append("answer must be an object")
        return
    names: list[str] = []
    if item.params:
        try:
            names = answers.validate_template(item.params)
        except answers.TemplateError as exc:
            problems.append(f"params: {exc}")
            return

    if item.type in (MC_SINGLE, MC_MULTI):
        _check_choices(item, ans, problems)
    elif item.type == NUMERIC:
        extra = set(ans) - {"value", "formula", "tolerance", "tolerance_mode", "percent"}
        if extra:
            problems.append(f"numeric answer: unknown keys {', '.join(sorted(extra))}")
        if item.choices:
            problems.append("a numeric item has no choices")
        if ("value" in ans) == ("formula" in ans):
            problems.append("numeric answer needs exactly one of 'value' or 'formula'")
        if "formula" in ans and not item.params:
            problems.append("a numeric formula needs params (a parametric template); use 'value' otherwise")
        if "value" in ans:
            try:
                value = Fraction(str(ans["value"]).strip())
            except (ValueError, ZeroDivisionError):
                problems.append(f"numeric answer {ans['value']!r} is not a number")
            else:
                ans["value"] = _canonical_number(ans["value"], value)
        tol = ans.get("tolerance", 0)
        try:
            tol_value = float(tol or 0)
        except (TypeError, ValueError):
            problems.append(f"tolerance {tol!r} is not a number")
        else:
            if tol_value < 0:
                problems.append("tolerance must be >= 0")
            ans["tolerance"] = int(tol_value) if tol_value == int(tol_value) else tol_value
        mode = ans.get("tolerance_mode", "absolute")
        if mode not in ("absolute", "relative"):
            problems.append("tolerance_mode must be absolute or relative")
        ans["tolerance_mode"] = mode
        # "percent": the answer is a percent number, so a student's trailing % is only the unit (50% = 50).
        # Stored only when set, so that banks without it keep their content hash.
        percent = ans.pop("percent", False)
        if not isinstance(percent, bool):
            problems.append(f"numeric option percent must be true or false, not {percent!r}")
        elif percent:
            ans["percent"] = True
    elif item.type == SHORT_TEXT:
        extra = set(ans) - {"accepted", "case_sensitive", "ignore_spaces"}
        if extra:
            problems.append(f"short_text answer: unknown keys {', '.join(sorted(extra))}")
        if item.choices:
            problems.append("a short_text item has no choices")
        accepted = ans.get("accepted")
        if not isinstance(accepted, list) or not accepted or not all(isinstance(a, str) and a.strip()
                                                                       for a in accepted):
            problems.append("short_text answer needs 'accepted': a non-empty list of texts")
        else:
            ans["accepted"] = [a.strip() for a in accepted]
        ans["case_sensitive"] = bool(ans.get("case_sensitive", False))
        ans["ignore_spaces"] = bool(ans.get("ignore_spaces", False))
    item.answer = ans
    item.choices = item.choices or None
    item.params = item.params or None
    if problems:
        return

    texts = _template_texts(item)
    if not item.params:
        if any(answers.PLACEHOLDER.search(t) for t in texts):
            problems.append("[[...]] placeholders need params (a parametric template)")
            return
    else:
        for t in texts:
            for placeholder in answers.template_names(t):
                expr, _spec = answers.split_format(answers._unescape_html(placeholder))
                try:
                    tree = answers.parse_expression(expr)
                except answers.ExpressionError as exc:
                    problems.append(f"placeholder [[{expr}]]: {exc}")
                    continue
                unknown = {n.id for n in _names(tree)} - set(names) - set(answers.FUNCTIONS)
                if unknown:
                    problems.append(f"placeholder [[{expr}]] uses unknown name(s) {', '.join(sorted(unknown))}")
    if problems:
        return
    _check_variants(item, problems)


def _canonical_number(raw: Any, value: Fraction) -> int | float | str:
    """3 -> 3, "0.75" -> 0.75, "3/4" -> "3/4" (kept exact), 2.0 -> 2."""
    if value.denominator == 1:
        return int(value)
    if isinstance(raw, str) and "/" in raw:
        return answers.format_number(value)
    return float(value)


def _names(tree: Any) -> list[Any]:
    import ast

    return [n for n in ast.walk(tree) if isinstance(n, ast.Name)]


def _template_texts(item: ItemData) -> list[str]:
    texts = list(item.stem.values())
    for c in item.choices or []:
        texts.extend((c.get("text") or {}).values())
        texts.extend((c.get("feedback") or {}).values())
    if item.type == SHORT_TEXT:
        texts.extend(item.answer.get("accepted") or [])
    for parts in (item.feedback or {}).values():
        texts.extend(parts.values())
    for seq in (item.hints or {}).values():
        texts.extend(seq)
    return texts


def _check_choices(item: ItemData, ans: dict[str, Any], problems: list[str]) -> None:
    extra = set(ans) - {"correct"}
    if extra:
        problems.append(f"{item.type} answer: unknown keys {', '.join(sorted(extra))}")
    choices = item.choices
    if not isinstance(choices, list) or len(choices) < 2:
        problems.append("a multiple-choice item needs at least two choices")
        return
    keys: list[str] = []
    cleaned: list[dict[str, Any]] = []
    for i, c in enumerate(choices, 1):
        if not isinstance(c, dict) or not isinstance(c.get("key"), str) or not c["key"].strip():
            problems.append(f"choice {i} needs a key")
            continue
        key = c["key"].strip()
        if key in keys:
            problems.append(f"duplicate choice key {key!r}")
        keys.append(key)
        text = _norm_localized(c.get("text"), f"choice {key}", problems)
        if not text:
            problems.append(f"choice {key!r} has no text")
        entry: dict[str, Any] = {"key": key, "text": text}
        fb = _norm_localized(c.get("feedback"), f"choice {key} feedback", problems)
        if fb:
            entry["feedback"] = fb
        cleaned.append(entry)
    item.choices = cleaned
    correct = ans.get("correct")
    if isinstance(correct, str):
        correct = [correct]
    if not isinstance(correct, list) or not correct:
        problems.append("multiple-choice answer needs 'correct': the key(s) of the right choice(s)")
        return
    correct = [str(k).strip() for k in correct]
    unknown = [k for k in correct if k not in keys]
    if unknown:
        problems.append(f"correct answer {', '.join(unknown)} is not one of the choices ({', '.join(keys)})")
    if item.type == MC_SINGLE and len(set(correct)) != 1:
        problems.append("mc_single needs exactly one correct choice (use mc_multi for several)")
    ans["correct"] = sorted(set(correct), key=keys.index) if not unknown else correct


def _check_variants(item: ItemData, problems: list[str]) -> None:
    """Build variants for several seeds; each must evaluate, accept its own answer and reject a wrong one."""
    seeds = range(VARIANT_CHECK_SEEDS) if item.params else [0]
    for seed in seeds:
        try:
            variant = answers.make_variant(_ItemView(item), seed)
        except (answers.TemplateError, answers.ExpressionError) as exc:
            problems.append(f"variant for seed {seed}: {exc}")
            return
        if item.type in (MC_SINGLE, MC_MULTI):
            for loc in item.stem:
                texts = [answers._strip_tags(localize(c["text"], loc)) for c in variant.choices or []]
                if len(set(texts)) != len(texts):
                    problems.append(f"variant for seed {seed}: two choices read the same ({loc}): {texts}")
                    return
        ok = answers.check_answer(variant, answers.correct_answer(variant))
        if not ok.correct:
            problems.append(f"variant for seed {seed}: the answer key is not accepted ({ok.normalized!r})")
            return


@dataclass
class _ItemView:
    """Adapter so make_variant can read an ItemData."""

    data: ItemData

    @property
    def id(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.data, name)


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    color: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if color.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if color.get(nxt, 0) == 0:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        color[node] = 2
        return None

    for node in graph:
        if color.get(node, 0) == 0:
            found = visit(node)
            if found:
                return found
    return None


def validate_bank(data: BankData) -> BankData:
    """Validate and normalise (sanitise, locale keys) a parsed bank in place. Raises ItemImportError listing
    every problem with its location; returns ``data`` when it is good to write."""
    problems: list[Problem] = []
    if data.slug is not None and not SLUG.match(data.slug):
        problems.append(Problem(Location(), f"bad bank slug {data.slug!r} (lower-case letters, digits, - and _)"))
    seen_skills: dict[str, Location] = {}
    for skill in data.skills:
        where = skill.location
        if not KEY.match(skill.key or ""):
            problems.append(Problem(where, f"bad skill key {skill.key!r}"))
        if skill.key in seen_skills:
            first_at = seen_skills[skill.key]
            problems.append(Problem(where, f"skill {skill.key!r} is declared twice (first at {first_at})"))
        seen_skills[skill.key] = where
        msgs: list[str] = []
        skill.name = _norm_localized(skill.name, "skill name", msgs, html=False) or {"en": skill.key}
        skill.description = _norm_localized(skill.description, "skill description", msgs, html=False) or None
        problems.extend(Problem(where, f"skill {skill.key}: {m}") for m in msgs)
    for skill in data.skills:
        for pre in skill.prerequisites:
            if pre not in seen_skills:
                problems.append(Problem(skill.location, f"skill {skill.key!r}: unknown prerequisite {pre!r}"))
            if pre == skill.key:
                problems.append(Problem(skill.location, f"skill {skill.key!r} is its own prerequisite"))
    graph = {s.key: [p for p in s.prerequisites if p in seen_skills and p != s.key] for s in data.skills}
    cycle = _find_cycle(graph)
    if cycle:
        first = data.skill(cycle[0])
        problems.append(Problem(first.location if first else Location(),
                                "prerequisites form a cycle: " + " -> ".join(reversed(cycle))))
    seen_items: dict[str, Location] = {}
    for item in data.items:
        if item.key in seen_items:
            problems.append(Problem(item.location, f"item key {item.key!r} is used twice (first at "
                                                   f"{seen_items[item.key]})"))
        seen_items.setdefault(item.key, item.location)
        msgs = list(item.errors)
        if msgs:
            problems.extend(Problem(item.location, f"item {item.key}: {m}") for m in msgs)
            continue
        try:
            _check_item(item, msgs)
        except (answers.ExpressionError, answers.TemplateError, ValueError, TypeError, KeyError) as exc:
            msgs.append(f"{type(exc).__name__}: {exc}")
        for key in item.skills:
            if key not in seen_skills:
                msgs.append(f"unknown skill {key!r}")
        problems.extend(Problem(item.location, f"item {item.key}: {m}") for m in msgs)
    if not data.items and not problems:
        problems.append(Problem(Location(), "the bank has no items"))
    if problems:
        raise ItemImportError(problems)
    langs = set(data.languages)
    for item in data.items:
        langs.update(item.stem)
    data.languages = sorted(langs)
    data.title = (data.title or data.slug or "Item bank").strip()
    return data


# ------------------------------------------------------------------------------------------- writing
@dataclass
class SaveResult:
    bank: ItemBank
    changed: bool
    created: bool
    added: int = 0
    updated: int = 0
    retired: int = 0


def save_bank(
    session: Session,
    data: BankData,
    *,
    registration_id: int | None,
    slug: str | None = None,
    title: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SaveResult:
    """Validate, then create or update the bank (by owner + slug) in the caller's transaction.

    Items and skills are matched by key; items missing from ``data`` are retired, never deleted (attempts refer to
    them). Re-saving identical content changes nothing (``changed`` False)."""
    if slug:
        data.slug = slug
    if title:
        data.title = title
    if not data.slug:
        raise ItemImportError("the bank needs a slug (use --bank SLUG)")
    validate_bank(data)
    digest = data.content_hash()
    query = select(ItemBank).where(ItemBank.slug == data.slug)
    query = query.where(ItemBank.registration_id.is_(None) if registration_id is None
                        else ItemBank.registration_id == registration_id)
    bank = session.scalars(query).first()
    created = bank is None
    if bank is None:
        bank = ItemBank(slug=data.slug, registration_id=registration_id, version=1, title=data.title or data.slug)
        session.add(bank)
        session.flush()
    elif bank.source_hash == digest:
        return SaveResult(bank=bank, changed=False, created=False)
    else:
        bank.version = (bank.version or 1) + 1
    bank.title = data.title or data.slug
    bank.description = data.description or ""
    bank.translations = data.translations or {}
    bank.languages = list(data.languages)
    bank.source_hash = digest

    skills = {s.key: s for s in session.scalars(select(Skill).where(Skill.bank_id == bank.id))}
    for pos, sd in enumerate(data.skills):
        skill = skills.get(sd.key)
        if skill is None:
            skill = Skill(bank_id=bank.id, key=sd.key, name=sd.name)
            session.add(skill)
            skills[sd.key] = skill
        skill.name = sd.name
        skill.description = sd.description
        skill.position = pos
    session.flush()
    session.execute(delete(SkillPrerequisite).where(
        SkillPrerequisite.skill_id.in_([s.id for s in skills.values()])))
    for sd in data.skills:
        for pre in dict.fromkeys(sd.prerequisites):
            session.add(SkillPrerequisite(skill_id=skills[sd.key].id, prerequisite_id=skills[pre].id))

    existing = {i.key: i for i in session.scalars(
        select(Item).where(Item.bank_id == bank.id).options(selectinload(Item.skills)))}
    result = SaveResult(bank=bank, changed=True, created=created)
    total = len(data.items)
    for pos, d in enumerate(data.items):
        item = existing.pop(d.key, None)
        if item is None:
            item = Item(bank_id=bank.id, key=d.key)
            session.add(item)
            result.added += 1
        else:
            result.updated += 1
        item.type = d.type
        item.stem = d.stem
        item.choices = d.choices
        item.answer = d.answer
        item.params = d.params
        item.difficulty = d.difficulty
        item.feedback = d.feedback
        item.hints = d.hints
        item.status = d.status
        item.position = pos
        item.skills = [skills[k] for k in dict.fromkeys(d.skills)]
        if progress and (pos % 100 == 99 or pos == total - 1):
            progress(pos + 1, total)
    for item in existing.values():
        if item.status != RETIRED:
            item.status = RETIRED
            result.retired += 1
    session.flush()
    log.info("item_bank_saved", bank_id=bank.id, slug=bank.slug, version=bank.version, added=result.added,
             updated=result.updated, retired=result.retired)
    return result


def bank_to_data(session: Session, bank: ItemBank, *, include_retired: bool = True) -> BankData:
    """The bank as format-neutral data (for the exporters)."""
    pre = prerequisites(session, bank.id)
    skills = [SkillData(key=s.key, name=dict(s.name or {}), description=dict(s.description) if s.description
                        else None, prerequisites=list(pre.get(s.key, [])))
              for s in bank_skills(session, bank.id)]
    items = [
        ItemData(key=i.key, type=i.type, stem=dict(i.stem), choices=[dict(c) for c in i.choices] if i.choices
                 else None, answer=dict(i.answer), params=dict(i.params) if i.params else None,
                 difficulty=i.difficulty, feedback=dict(i.feedback) if i.feedback else None,
                 hints=dict(i.hints) if i.hints else None, skills=i.skill_keys, status=i.status)
        for i in bank_items(session, bank.id, active_only=not include_retired)
    ]
    return BankData(slug=bank.slug, title=bank.title, description=bank.description or "",
                    translations=dict(bank.translations or {}), languages=list(bank.languages or []),
                    skills=skills, items=items)


# ------------------------------------------------------------------------------------ import / export
FORMATS = ("csv", "gift", "qti")


def guess_format(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir():
        return "qti" if (path / "imsmanifest.xml").exists() else "csv"
    if name.endswith((".gift", ".txt")):
        return "gift"
    if name.endswith(".xml"):
        return "qti"
    if name.endswith(".zip"):
        import zipfile

        with zipfile.ZipFile(path) as zf:
            return "qti" if "imsmanifest.xml" in zf.namelist() else "csv"
    return "csv"


def read_bank(path: Path, fmt: str | None = None) -> BankData:
    """Parse a file/folder in a supported format. Raises ItemImportError (with file and line)."""
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise ItemImportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise ItemImportError("no such file or folder", Location(str(path)))
    return _format_module(fmt).read(path)


def write_bank(data: BankData, path: Path, fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    _format_module(fmt).write(data, path)


def _format_module(fmt: str) -> Any:
    import importlib

    return importlib.import_module(f"lti_tool.services.item_formats.{fmt}")


def import_bank(
    session: Session,
    path: Path,
    *,
    fmt: str | None = None,
    registration_id: int | None = None,
    slug: str | None = None,
    title: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SaveResult:
    data = read_bank(path, fmt)
    if not (slug or data.slug):
        data.slug = _slug_from_path(path)
    return save_bank(session, data, registration_id=registration_id, slug=slug, title=title, progress=progress)


def _slug_from_path(path: Path) -> str:
    stem = path.name.split(".")[0] if not path.is_dir() else path.name
    slug = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-")
    return (slug or "bank")[:64]


def load_sample_bank(session: Session) -> ItemBank:
    """The shipped fractions bank (global). Idempotent: unchanged content writes nothing."""
    from lti_tool.services.item_formats import csv as csv_format

    data = csv_format.read(SAMPLE_DIR)
    return save_bank(session, data, registration_id=None, slug=SAMPLE_SLUG).bank


# ----------------------------------------------------------------------------------- deep linking
MASTERY_THRESHOLD_DEFAULT = "0.8"
SCORING_MODES = ("mastery", "share_correct")


def activity_provider(session: Session, lti_session: Any) -> list[Any]:
    """Deep linking: one adaptive activity per bank the launching registration may use.

    The resource link gets ``custom``: ``item_bank`` (slug), ``mastery_threshold`` (0.5-0.95 offered; up to 0.99
    honoured), ``goal_skills`` (how many of the bank's skills to master; 0 = all) and ``scoring`` (``mastery`` or
    ``share_correct``)."""
    from lti_tool.lti import deep_linking as dl

    registration_id = getattr(lti_session, "registration_id", None)
    locale = getattr(lti_session, "locale", None)
    zh = normalize_locale(locale) == "zh_CN"
    activities = []
    for bank in list_banks(session, registration_id):
        n_items = len(bank_items(session, bank.id))
        n_skills = len(bank_skills(session, bank.id))
        summary = f"{n_skills} 个技能，{n_items} 道题" if zh else f"{n_skills} skills, {n_items} items"
        desc = bank.display_description(locale)
        activities.append(dl.Activity(
            key=f"bank:{bank.slug}",
            title=bank.display_title(locale),
            description=f"{desc} ({summary})" if desc else summary,
            custom={"item_bank": bank.slug},
            settings_schema=[
                dl.SettingField("mastery_threshold", "掌握阈值" if zh else "Mastery threshold", "number",
                                default=MASTERY_THRESHOLD_DEFAULT, min=0.5, max=0.95),
                dl.SettingField("goal_skills", "需要掌握的技能数（0 = 全部）" if zh
                                else "Skills to master (0 = all)", "number", default="0", min=0, max=n_skills,
                                integer=True),
                dl.SettingField("scoring", "成绩计算方式" if zh else "Score sent to the gradebook", "choice",
                                (("mastery", "掌握的技能比例" if zh else "Share of the goal's skills mastered"),
                                 ("share_correct", "答对比例" if zh else "Share of answers correct")),
                                "mastery"),
            ],
        ))
    return activities


def init_app(app: Any) -> None:
    """Offer the banks in the deep-linking picker (called from create_app)."""
    from lti_tool.lti.deep_linking import register_activity_provider

    register_activity_provider(activity_provider)


__all__ = [
    "ItemImportError",
    "SaveResult",
    "bank_items",
    "bank_skills",
    "bank_to_data",
    "get_bank",
    "get_bank_by_id",
    "get_item",
    "import_bank",
    "list_banks",
    "load_sample_bank",
    "localize",
    "normalize_locale",
    "prerequisites",
    "read_bank",
    "save_bank",
    "validate_bank",
    "write_bank",
]
