"""The item bank: banks, skills (knowledge components), prerequisites between skills, and items.

A bank with ``registration_id`` NULL is global (shipped with the tool, e.g. the sample bank) and visible to every
registration; otherwise it belongs to one platform registration and only that registration sees it.

Multi-locale text is stored as JSON ``{locale: text}`` with locales ``en`` and ``zh_CN`` (see
:func:`lti_tool.services.items.localize`). Item HTML is sanitised before it is stored.

Items are never deleted by a re-import (attempts refer to them): an item missing from a new version of the bank is
set to ``retired``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.models.base import Base, TimestampMixin, TZDateTime, utcnow

# Item.type
MC_SINGLE = "mc_single"
MC_MULTI = "mc_multi"
NUMERIC = "numeric"
SHORT_TEXT = "short_text"
ITEM_TYPES = (MC_SINGLE, MC_MULTI, NUMERIC, SHORT_TEXT)

# Item.status
ACTIVE = "active"
RETIRED = "retired"
ITEM_STATUSES = (ACTIVE, RETIRED)


class ItemBank(TimestampMixin, Base):
    """A named collection of skills and items; ``slug`` is unique within its owner (a registration or global)."""

    __tablename__ = "item_banks"
    __table_args__ = (
        UniqueConstraint("registration_id", "slug"),
        # NULLs are distinct in a unique constraint: global banks need their own (partial) unique index.
        Index(
            "uq_item_banks_global_slug",
            "slug",
            unique=True,
            sqlite_where=text("registration_id IS NULL"),
            postgresql_where=text("registration_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    # Other locales of title/description: {locale: {"title": ..., "description": ...}}.
    translations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    # Bumped whenever the content changes (a re-import that changed something).
    version: Mapped[int] = mapped_column(Integer, default=1)
    # SHA-256 of the last imported source, so re-importing the same file is a no-op.
    source_hash: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)

    skills: Mapped[list[Skill]] = relationship(
        back_populates="bank", cascade="all, delete-orphan", order_by="Skill.position"
    )
    items: Mapped[list[Item]] = relationship(
        back_populates="bank", cascade="all, delete-orphan", order_by="Item.position"
    )

    @property
    def is_global(self) -> bool:
        return self.registration_id is None

    def display_title(self, locale: str | None = None) -> str:
        return self._translated("title", self.title, locale)

    def display_description(self, locale: str | None = None) -> str:
        return self._translated("description", self.description, locale)

    def _translated(self, field: str, default: str, locale: str | None) -> str:
        from lti_tool.services.items import normalize_locale

        loc = normalize_locale(locale)
        value = (self.translations or {}).get(loc, {}).get(field) if loc != "en" else None
        return value or default


class Skill(Base):
    """A knowledge component of a bank; ``key`` is stable across re-imports (learner state refers to it)."""

    __tablename__ = "skills"
    __table_args__ = (UniqueConstraint("bank_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("item_banks.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(128))
    name: Mapped[dict[str, Any]] = mapped_column()  # {locale: text}
    description: Mapped[dict[str, Any] | None] = mapped_column()  # {locale: text}
    position: Mapped[int] = mapped_column(Integer, default=0)

    bank: Mapped[ItemBank] = relationship(back_populates="skills")


class SkillPrerequisite(Base):
    """``prerequisite`` must be mastered before ``skill``; the graph is acyclic (checked on import)."""

    __tablename__ = "skill_prerequisites"

    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True)
    prerequisite_id: Mapped[int] = mapped_column(
        ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ItemSkill(Base):
    __tablename__ = "item_skills"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, index=True)


class Item(TimestampMixin, Base):
    """One question. See docs/items.md for the JSON shapes of ``choices``, ``answer`` and ``params``.

    - ``stem``: {locale: sanitised html}; parametric items contain ``[[expression]]`` placeholders.
    - ``choices`` (mc_*): [{"key": "a", "text": {locale: html}, "feedback": {locale: html}?}].
    - ``answer``: mc_* {"correct": [keys]}; numeric {"value": x | "formula": expr, "tolerance": t,
      "tolerance_mode": "absolute"|"relative"}; short_text {"accepted": [..], "case_sensitive": bool,
      "ignore_spaces": bool}.
    - ``params``: parametric template {"vars": {...}, "derived": {...}, "constraints": [...]} or NULL.
    - ``difficulty``: the author's seed (0 easy .. 1 hard); ``calibrated_difficulty`` is written by the engine.
    """

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("bank_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("item_banks.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    stem: Mapped[dict[str, Any]] = mapped_column()
    choices: Mapped[list[Any] | None] = mapped_column()
    answer: Mapped[dict[str, Any]] = mapped_column()
    params: Mapped[dict[str, Any] | None] = mapped_column()
    difficulty: Mapped[float | None] = mapped_column(Float)
    calibrated_difficulty: Mapped[float | None] = mapped_column(Float)
    feedback: Mapped[dict[str, Any] | None] = mapped_column()  # {locale: {"correct": html, "incorrect": html}}
    hints: Mapped[dict[str, Any] | None] = mapped_column()  # {locale: [html, ...]}
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)

    bank: Mapped[ItemBank] = relationship(back_populates="items")
    skills: Mapped[list[Skill]] = relationship(secondary="item_skills", order_by="Skill.position")

    @property
    def is_parametric(self) -> bool:
        return bool(self.params)

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @property
    def skill_keys(self) -> list[str]:
        return [s.key for s in self.skills]

    @property
    def effective_difficulty(self) -> float | None:
        """The engine's calibration when there is one, else the author's seed."""
        return self.calibrated_difficulty if self.calibrated_difficulty is not None else self.difficulty
