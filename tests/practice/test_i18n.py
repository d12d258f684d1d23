"""The translation catalogs: complete, compiled, and the compiled file matches the source (fresh clones work)."""

from __future__ import annotations

import gettext
from pathlib import Path

from babel.messages.pofile import read_po

from lti_tool.i18n import to_babel_locale

TRANSLATIONS = Path(__file__).resolve().parents[2] / "lti_tool" / "translations"


def test_zh_catalog_is_complete_and_compiled():
    po_path = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as f:
        catalog = read_po(f)
    messages = [m for m in catalog if m.id]
    assert len(messages) > 30
    assert all(m.string and "fuzzy" not in m.flags for m in messages), [m.id for m in messages if not m.string]
    with (po_path.with_suffix(".mo")).open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    for m in messages:  # run `make translations` (pybabel compile) after editing the .po
        if m.pluralizable:  # ngettext: zh has one plural form, used for every count
            assert all(m.string), m.id
            for n in (1, 2):
                assert compiled.ngettext(m.id[0], m.id[1], n) == m.string[0], m.id
        else:
            assert compiled.gettext(m.id) == m.string, m.id
    # the catalog's placeholders survive translation
    for m in messages:
        ids = m.id if m.pluralizable else (m.id,)
        strings = m.string if m.pluralizable else (m.string,)
        for token in ("%(n)s", "%(num)d", "%(total)s", "%(skill)s", "%(mastery)s", "%(unlocks)s", "%(message)s",
                      "%(when)s"):
            for string in strings:
                assert (token in ids[0]) == (token in string), (m.id, m.string)


def test_locale_mapping():
    assert to_babel_locale("zh-CN") == "zh_Hans_CN"
    assert to_babel_locale("zh_Hans") == "zh_Hans_CN"
    assert to_babel_locale("zh-TW") is None
    assert to_babel_locale("en-GB") == "en"
    assert to_babel_locale("fr") is None
    assert to_babel_locale(None) is None
