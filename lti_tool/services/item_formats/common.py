"""The format-neutral bank (what every importer produces and every exporter reads) and import errors."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

LOCALES = ("en", "zh_CN")


@dataclass(frozen=True)
class Location:
    """Where something came from: a file and (when known) a line, or a CSV row."""

    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}, line {self.line}"
        if self.line:
            return f"line {self.line}"
        return self.file or "input"


@dataclass
class Problem:
    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ItemImportError(ValueError):
    """Malformed input. Carries every problem found (with file and line), and nothing was written."""

    def __init__(self, problems: list[Problem] | Problem | str, location: Location | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem(location or Location(), problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s) in the item bank:\n{shown}{more}")

    @property
    def first(self) -> Problem:
        return self.problems[0]


@dataclass
class SkillData:
    key: str
    name: dict[str, str]
    description: dict[str, str] | None = None
    prerequisites: list[str] = field(default_factory=list)
    location: Location = field(default_factory=Location, compare=False)

    def canonical(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "description": self.description or None,
                "prerequisites": sorted(self.prerequisites)}


@dataclass
class ItemData:
    key: str
    type: str
    stem: dict[str, str]
    choices: list[dict[str, Any]] | None = None
    answer: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] | None = None
    difficulty: float | None = None
    feedback: dict[str, dict[str, str]] | None = None
    hints: dict[str, list[str]] | None = None
    skills: list[str] = field(default_factory=list)
    status: str = "active"
    location: Location = field(default_factory=Location, compare=False)
    # Problems the reader found in this item's source; reported together with validation's problems.
    errors: list[str] = field(default_factory=list, compare=False)

    def canonical(self) -> dict[str, Any]:
        return {
            "key": self.key, "type": self.type, "stem": self.stem, "choices": self.choices or None,
            "answer": self.answer, "params": self.params or None, "difficulty": self.difficulty,
            "feedback": self.feedback or None, "hints": self.hints or None, "skills": sorted(self.skills),
            "status": self.status,
        }


@dataclass
class BankData:
    slug: str | None = None
    title: str | None = None
    description: str = ""
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    languages: list[str] = field(default_factory=list)
    skills: list[SkillData] = field(default_factory=list)
    items: list[ItemData] = field(default_factory=list)

    def canonical(self) -> dict[str, Any]:
        """Everything that defines the bank's content, in a stable shape (round-trip tests, source hash)."""
        return {
            "title": self.title, "description": self.description or "", "translations": self.translations or {},
            "languages": sorted(self.languages),
            "skills": [s.canonical() for s in self.skills],
            "items": [i.canonical() for i in self.items],
        }

    def content_hash(self) -> str:
        blob = json.dumps(self.canonical(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def skill(self, key: str) -> SkillData | None:
        return next((s for s in self.skills if s.key == key), None)

    def ensure_skills(self) -> None:
        """Skills referenced by items but not declared get a name equal to their key (flat CSV/GIFT/QTI)."""
        known = {s.key for s in self.skills}
        for item in self.items:
            for key in item.skills:
                if key not in known:
                    self.skills.append(SkillData(key=key, name={"en": key}, location=item.location))
                    known.add(key)


def split_locales(value: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (value or {}).items() if v}


def export_view(item: ItemData) -> tuple[dict[str, Any], ItemData]:
    """For formats that cannot hold everything (GIFT, QTI): the metadata they carry in a comment, and the item as
    they can express it (a parametric template becomes its seed-0 variant; the template goes in the metadata)."""
    from types import SimpleNamespace

    from lti_tool.services import answers

    meta: dict[str, Any] = {"skills": item.skills}
    if item.difficulty is not None:
        meta["difficulty"] = item.difficulty
    if item.hints:
        meta["hints"] = item.hints
    if item.status != "active":
        meta["status"] = item.status
    if not item.params:
        return meta, item
    meta["params"] = item.params
    meta["template"] = {"stem": item.stem, "choices": item.choices, "answer": item.answer,
                        "feedback": item.feedback, "hints": item.hints}
    v = answers.make_variant(SimpleNamespace(id=None, key=item.key, type=item.type, stem=item.stem,
                                             choices=item.choices, answer=item.answer, params=item.params,
                                             feedback=item.feedback, hints=item.hints), 0)
    answer = dict(v.answer_spec)
    if item.type == "numeric":
        answer["value"] = answer.pop("exact", answer["value"])
    return meta, ItemData(key=item.key, type=item.type, stem=v.stem, choices=v.choices, answer=answer,
                          feedback=v.feedback)
