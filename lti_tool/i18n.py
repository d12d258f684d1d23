"""Translations (Flask-Babel): English and Simplified Chinese, chosen from the launch's
``launch_presentation.locale`` (carried by the session token), else the browser's Accept-Language.

Catalogs live in ``lti_tool/translations/<locale>/LC_MESSAGES/messages.po``; the compiled ``.mo`` files are
committed (so a fresh clone works) and rebuilt with ``make translations`` (``pybabel compile``).
"""

from __future__ import annotations

from flask import Flask, g, has_request_context, request
from flask_babel import Babel

SUPPORTED = ("en", "zh_Hans_CN")


def to_babel_locale(locale: str | None) -> str | None:
    """An LMS locale (``zh-CN``, ``zh-Hans``, ``en-US`` ...) to one of ours, or None when unsupported."""
    if not locale:
        return None
    parts = locale.replace("_", "-").split("-")
    lang = parts[0].lower()
    if lang == "zh":
        rest = {p.lower() for p in parts[1:]}
        return None if rest & {"hant", "tw", "hk", "mo"} else "zh_Hans_CN"
    if lang == "en":
        return "en"
    return None


def get_locale() -> str:
    if not has_request_context():
        return "en"
    lti_session = g.get("lti_session")
    chosen = to_babel_locale(getattr(lti_session, "locale", None)) if lti_session is not None else None
    if chosen:
        return chosen
    chosen = to_babel_locale(g.get("launch_locale_hint"))  # a refused launch: the locale its token asked for
    if chosen:
        return chosen
    best = request.accept_languages.best_match(["en", "zh-CN", "zh-Hans", "zh"])
    return to_babel_locale(best) or "en"


def html_lang(locale: str | None) -> str:
    return "zh-Hans" if to_babel_locale(locale) == "zh_Hans_CN" else "en"


def page_lang() -> str:
    """The ``<html lang>`` of the page being rendered: the language Flask-Babel translates it into."""
    from flask_babel import get_locale as babel_locale

    return "zh-Hans" if str(babel_locale() or "") == "zh_Hans_CN" else "en"


def plural_forms(singular: str, plural: str, **variables: str) -> dict[str, str]:
    """A count's text for the browser to finish: ngettext's form for each CLDR plural category of the page's
    language (``{"one": ..., "other": ...}`` in English, ``{"other": ...}`` in Chinese), with placeholders such as
    ``n="{n}"`` left for the script; ``adaptiveLti.plural`` (static/app.js) picks the form with ``Intl.PluralRules``.
    Each category's form is the catalog's form for the smallest count CLDR puts in it."""
    from flask_babel import get_locale as babel_locale
    from flask_babel import ngettext

    rule = babel_locale().plural_form
    forms = {}
    for category in sorted(rule.tags | {"other"}):
        n = next((i for i in range(1000) if rule(i) == category), None)
        if n is not None:  # categories only fractions reach ("many" in some languages) are not counts
            forms[category] = ngettext(singular, plural, n, **variables)
    return forms


def _template_gettext(message: str) -> str:
    """``_()`` in templates: Flask-Babel resolves the context, locale and catalog on every call (about 20 us each,
    dozens per page); here the catalog is looked up once per request and locale (``refresh()`` starts over)."""
    from flask_babel import get_translations

    ctx = g.get("_flask_babel")
    locale = getattr(ctx, "babel_locale", None)
    cached = getattr(ctx, "adaptive_lti_catalog", None)
    if locale is None or cached is None or cached[0] is not locale:
        catalog = get_translations()
        ctx = g._flask_babel
        cached = (getattr(ctx, "babel_locale", None), catalog)
        ctx.adaptive_lti_catalog = cached
    return str(cached[1].ugettext(message))


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=get_locale, default_translation_directories="translations")
    from flask_babel import get_translations

    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # i18n extension; as Flask-Babel installs them, with the faster gettext
        gettext=_template_gettext,
        ngettext=lambda s, p, n: get_translations().ungettext(s, p, n),
        pgettext=lambda c, s: get_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: get_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.globals["html_lang"] = html_lang
    app.jinja_env.globals["page_lang"] = page_lang
    app.jinja_env.globals["plural_forms"] = plural_forms
