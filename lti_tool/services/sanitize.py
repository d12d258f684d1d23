"""Item HTML sanitising (nh3, the Rust ammonia sanitiser).

Allowed: basic formatting, lists, tables, links (http/https/mailto), images (http/https and ``data:image/*``), a
MathML subset, and ``lang``/``dir`` attributes. Removed: script/style (with their content), every ``on*`` event
handler, ``style`` attributes, ``javascript:`` and other URL schemes, comments, forms, iframes. TeX delimiters
(``\\( \\)``, ``$$ $$``) are plain text and survive untouched, to be rendered by the bundled KaTeX in the browser.

Sanitising is idempotent: ``clean_html(clean_html(x)) == clean_html(x)``, so exported banks re-import unchanged.
"""

from __future__ import annotations

import re

import nh3

MATHML_TAGS = {
    "math", "mi", "mn", "mo", "ms", "mtext", "mspace", "mrow", "mfrac", "msqrt", "mroot", "msup", "msub",
    "msubsup", "munder", "mover", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom",
    "menclose", "semantics", "annotation",
}
TAGS = {
    "p", "br", "hr", "b", "strong", "i", "em", "u", "s", "sub", "sup", "small", "mark", "code", "pre", "kbd",
    "samp", "var", "blockquote", "q", "cite", "abbr", "span", "div", "ul", "ol", "li", "dl", "dt", "dd",
    "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "col", "colgroup", "img", "a", "figure",
    "figcaption", "h3", "h4", "h5", "h6", "ruby", "rt", "rp", "bdi", "bdo", "del", "ins",
} | MATHML_TAGS
ATTRIBUTES = {
    "*": {"lang", "dir", "title"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
    "ol": {"start"},
    "col": {"span"},
    "colgroup": {"span"},
    "math": {"display", "xmlns"},
    "mo": {"stretchy", "fence", "separator", "form"},
    "mfrac": {"linethickness"},
    "mspace": {"width"},
    "mtd": {"columnspan", "rowspan"},
    "annotation": {"encoding"},
    "menclose": {"notation"},
    "mstyle": {"displaystyle", "scriptlevel"},
}
URL_SCHEMES = {"http", "https", "mailto", "data"}
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]+$", re.I)


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr in ("href", "src") and value.strip().lower().startswith("data:"):
        # data: URLs only as images (a data:text/html link would be a script vector).
        return value if tag == "img" and _DATA_IMAGE.match(value.strip()) else None
    return value


# Maths and template placeholders are text: a "<" inside them is a less-than sign, not a tag.
_VERBATIM = re.compile(r"\[\[.*?\]\]|\\\(.*?\\\)|\\\[.*?\\\]|\$\$.*?\$\$", re.S)


def _escape_verbatim(html: str) -> str:
    return _VERBATIM.sub(lambda m: m.group(0).replace("<", "&lt;").replace(">", "&gt;"), html)


def clean_html(html: str) -> str:
    """Sanitise one HTML fragment."""
    if not html:
        return ""
    return nh3.clean(
        _escape_verbatim(html),
        tags=TAGS,
        clean_content_tags={"script", "style", "iframe", "object", "embed", "template", "noscript"},
        attributes=ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes=URL_SCHEMES,
        strip_comments=True,
        link_rel="noopener noreferrer",
    ).strip()


def clean_localized(value: dict[str, str] | None) -> dict[str, str] | None:
    """Sanitise every locale of a ``{locale: html}`` mapping; empty texts are dropped."""
    if value is None:
        return None
    out = {loc: clean_html(text) for loc, text in value.items() if isinstance(text, str)}
    return {k: v for k, v in out.items() if v}
