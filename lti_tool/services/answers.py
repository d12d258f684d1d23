"""Answer checking and parametric variants. Pure Python: no database, no Flask, never ``eval``.

- :func:`evaluate` is a small exact-arithmetic evaluator (``ast`` walked against a whitelist): integers and fractions,
  ``+ - * / // % **``, parentheses, comparisons, ``and/or/not``, and the functions gcd, lcm, round, min, max, abs,
  floor, ceil. ``/`` is exact (``1/3`` is a fraction, not a float).
- :func:`make_variant` turns an item (ORM row or anything with ``id, type, stem, choices, answer, params``) and a seed
  into a :class:`Variant`: numbers drawn from the declared ranges, ``[[expression]]`` placeholders filled in, the
  answer computed. Deterministic per (item, seed); non-parametric items give the identity variant.
- :func:`check_answer` grades a student's answer against a variant: correct, incorrect, or invalid (input that is
  not an answer at all, e.g. letters for a numeric item) with a message in the student's language.
- :func:`correct_answer` is the answer shown to a student who got it wrong (and one that check_answer accepts).

Numeric answer spec (after :func:`make_variant`): ``value`` (float), ``exact`` (the exact value as text, ``"3/4"``
or ``"43.3"``), ``tolerance`` and ``tolerance_mode`` (``absolute``/``relative``), and ``percent`` (true when the
answer is a percent number: a trailing ``%`` typed by the student is dropped, ``50%`` = ``50``; without it ``75%``
reads as 0.75).

Parametric template (``item.params``)::

    {"vars": {"a": {"min": 1, "max": 9}, "k": {"min": 2, "max": 6, "step": 2}, "b": {"choices": [2, 3, 5]}},
     "derived": {"g": "gcd(a, b)"},                 # evaluated in order, may use earlier names
     "constraints": ["a < b", "gcd(a, b) == 1"]}    # redrawn (bounded) until all hold

Placeholders in stem/choices/accepted answers: ``[[a*k]]``; a numeric answer uses ``"formula": "a/b"``.
"""

from __future__ import annotations

import ast
import hashlib
import math
import operator
import random
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

Number = int | Fraction

MAX_EXPRESSION_LENGTH = 500
MAX_NODES = 200
MAX_POW_EXPONENT = 64
MAX_ABS_VALUE = 10**30
MAX_DRAWS = 1000
PLACEHOLDER = re.compile(r"\[\[(.+?)\]\]", re.S)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


class ExpressionError(ValueError):
    """An expression or template that cannot be evaluated; the message says why (safe to show an author)."""


class TemplateError(ValueError):
    """A parametric template that is malformed or whose constraints cannot be met."""


# --------------------------------------------------------------------------------------- evaluator
def _round(x: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(Fraction(x))
    return round(Fraction(x), int(ndigits))


def _intarg(name: str, x: Number) -> int:
    if isinstance(x, Fraction):
        if x.denominator != 1:
            raise ExpressionError(f"{name}() needs whole numbers, got {x}")
        return int(x)
    return int(x)


FUNCTIONS: dict[str, Any] = {
    "gcd": lambda *a: math.gcd(*(_intarg("gcd", x) for x in a)),
    "lcm": lambda *a: math.lcm(*(_intarg("lcm", x) for x in a)),
    "round": _round,
    "min": min,
    "max": max,
    "abs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
    "num": lambda x: Fraction(x).numerator,
    "den": lambda x: Fraction(x).denominator,
}

_BINOPS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: None,  # exact, handled below
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: None,  # bounded, handled below
}
_CMPOPS: dict[type, Any] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def _norm(x: Any) -> Any:
    """Fractions with denominator 1 become ints; bounded magnitude."""
    if isinstance(x, bool):
        return x
    if isinstance(x, Fraction) and x.denominator == 1:
        x = int(x)
    if isinstance(x, int | Fraction) and abs(x) > MAX_ABS_VALUE:  # type: ignore[operator]
        raise ExpressionError("number too large")
    return x


def parse_expression(source: str) -> ast.Expression:
    """Parse and check an expression against the whitelist (no evaluation)."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("empty expression")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {source!r}: {exc.msg}") from None
    count = 0
    for node in ast.walk(tree):
        count += 1
        if count > MAX_NODES:
            raise ExpressionError("expression too long")
        if isinstance(node, ast.Expression | ast.Load | ast.BinOp | ast.UnaryOp | ast.Compare | ast.BoolOp):
            continue
        if isinstance(node, ast.operator) and type(node) in _BINOPS:
            continue
        if isinstance(node, ast.cmpop) and type(node) in _CMPOPS:
            continue
        if isinstance(node, ast.USub | ast.UAdd | ast.Not | ast.And | ast.Or):
            continue
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise ExpressionError(f"only numbers are allowed, not {node.value!r}")
            continue
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise ExpressionError(f"name {node.id!r} is not allowed")
            continue
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ExpressionError(f"unknown function in {source!r}; allowed: {', '.join(sorted(FUNCTIONS))}")
            if node.keywords:
                raise ExpressionError("keyword arguments are not allowed")
            continue
        raise ExpressionError(f"{type(node).__name__} is not allowed in {source!r}")
    return tree


def evaluate(source: str, variables: dict[str, Any] | None = None) -> Any:
    """Evaluate an arithmetic expression exactly. Returns int, Fraction or bool.

    >>> evaluate("6/8")
    Fraction(3, 4)
    >>> evaluate("gcd(a, b) * 2", {"a": 12, "b": 18})
    12
    """
    tree = parse_expression(source)
    env = {k: _to_number(v) for k, v in (variables or {}).items()}
    return _eval(tree.body, env)


def _to_number(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | Fraction):
        return v
    if isinstance(v, float):
        return Fraction(str(v))
    if isinstance(v, str):
        return Fraction(v)
    raise ExpressionError(f"not a number: {v!r}")


def _eval(node: ast.AST, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        value = node.value
        return _norm(Fraction(str(value)) if isinstance(value, float) else value)
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise ExpressionError(f"unknown name {node.id!r}")
        return env[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, env)
        if isinstance(node.op, ast.Not):
            return not operand
        return _norm(-operand if isinstance(node.op, ast.USub) else +operand)
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, env), _eval(node.right, env)
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise ExpressionError("division by zero")
            return _norm(Fraction(left) / Fraction(right))
        if isinstance(node.op, ast.Pow):
            if isinstance(right, Fraction) and right.denominator != 1:
                raise ExpressionError("only whole-number powers are allowed")
            if abs(right) > MAX_POW_EXPONENT:
                raise ExpressionError(f"exponent larger than {MAX_POW_EXPONENT}")
            if left == 0 and right < 0:
                raise ExpressionError("division by zero")
            return _norm(Fraction(left) ** int(right))
        if isinstance(node.op, ast.FloorDiv | ast.Mod) and right == 0:
            raise ExpressionError("division by zero")
        return _norm(_BINOPS[type(node.op)](left, right))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, env)
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for v in node.values:
                result = _eval(v, env)
                if not result:
                    return result
            return result
        result = False
        for v in node.values:
            result = _eval(v, env)
            if result:
                return result
        return result
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = [_eval(a, env) for a in node.args]
        if not args:
            raise ExpressionError(f"{node.func.id}() needs an argument")
        try:
            return _norm(FUNCTIONS[node.func.id](*args))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ExpressionError):
                raise
            raise ExpressionError(f"{node.func.id}(): {exc}") from None
    raise ExpressionError(f"{type(node).__name__} is not allowed")  # pragma: no cover - parse_expression checks


_FORMAT_SPEC = re.compile(r"^(.*):\s*(dec|frac|\.\d{1,2}f)\s*$", re.S)


def split_format(placeholder: str) -> tuple[str, str | None]:
    """``"a/b:.2f"`` -> ``("a/b", ".2f")``; formats: ``frac`` (default), ``dec``, ``.Nf``."""
    m = _FORMAT_SPEC.match(placeholder)
    return (m.group(1), m.group(2)) if m else (placeholder, None)


def format_number(x: Any, spec: str | None = None) -> str:
    """How a computed value appears in text: ``3``, ``3/4``, ``-1/2``; booleans as ``true/false``.

    ``spec``: ``dec`` (decimal, at most 10 places, trailing zeros trimmed) or ``.Nf`` (N decimal places)."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if spec == "dec":
        text = f"{Fraction(x).numerator / Fraction(x).denominator:.10f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if spec and spec.startswith("."):
        return f"{float(x):{spec}}"
    x = _norm(x) if isinstance(x, Fraction) else x
    if isinstance(x, Fraction):
        return f"{x.numerator}/{x.denominator}"
    if isinstance(x, float):
        return f"{x:.10g}"
    return str(x)


def _json_number(x: Any) -> Any:
    x = _norm(x) if isinstance(x, Fraction) else x
    return format_number(x) if isinstance(x, Fraction) else x


# ------------------------------------------------------------------------------------------ templates
def validate_template(params: dict[str, Any]) -> list[str]:
    """Check a template's shape and expressions; returns the names it defines. Raises TemplateError."""
    if not isinstance(params, dict):
        raise TemplateError("params must be an object")
    unknown = set(params) - {"vars", "derived", "constraints"}
    if unknown:
        raise TemplateError(f"unknown params keys: {', '.join(sorted(unknown))}")
    variables = params.get("vars") or {}
    if not isinstance(variables, dict) or not variables:
        raise TemplateError("params.vars must declare at least one variable")
    names: list[str] = []
    for name, spec in variables.items():
        if not NAME.match(name) or name in FUNCTIONS:
            raise TemplateError(f"bad variable name {name!r}")
        if not isinstance(spec, dict):
            raise TemplateError(f"variable {name}: expected an object with min/max or choices")
        if "choices" in spec:
            ch = spec["choices"]
            if not isinstance(ch, list) or not ch:
                raise TemplateError(f"variable {name}: choices must be a non-empty list")
            for c in ch:
                if isinstance(c, bool) or not isinstance(c, int | str):
                    raise TemplateError(f"variable {name}: choices must be integers or fractions like '3/4'")
                try:
                    Fraction(c)
                except (ValueError, ZeroDivisionError):
                    raise TemplateError(f"variable {name}: {c!r} is not a number") from None
        elif "min" in spec and "max" in spec:
            lo, hi, step = spec["min"], spec["max"], spec.get("step", 1)
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi, step)):
                raise TemplateError(f"variable {name}: min, max and step must be integers")
            if step <= 0 or hi < lo:
                raise TemplateError(f"variable {name}: needs min <= max and step > 0")
            if (hi - lo) // step > 10**6:
                raise TemplateError(f"variable {name}: range too large")
            extra = set(spec) - {"min", "max", "step", "exclude"}
            if extra:
                raise TemplateError(f"variable {name}: unknown keys {', '.join(sorted(extra))}")
        else:
            raise TemplateError(f"variable {name}: declare min and max, or choices")
        names.append(name)
    derived = params.get("derived") or {}
    if not isinstance(derived, dict):
        raise TemplateError("params.derived must be an object of name: expression")
    for name, expr in derived.items():
        if not NAME.match(name) or name in FUNCTIONS or name in names:
            raise TemplateError(f"bad or duplicate derived name {name!r}")
        _check_names(expr, names, f"derived {name}")
        names.append(name)
    constraints = params.get("constraints") or []
    if not isinstance(constraints, list):
        raise TemplateError("params.constraints must be a list of expressions")
    for expr in constraints:
        _check_names(expr, names, "constraint")
    return names


def _check_names(expr: Any, names: list[str], where: str) -> None:
    if not isinstance(expr, str):
        raise TemplateError(f"{where}: expected an expression string, got {expr!r}")
    try:
        tree = parse_expression(expr)
    except ExpressionError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names and node.id not in FUNCTIONS:
            raise TemplateError(f"{where}: unknown name {node.id!r} in {expr!r}")


def template_names(text: str) -> list[str]:
    return [m.group(1) for m in PLACEHOLDER.finditer(text or "")]


def draw_params(params: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Draw values for a template until every constraint holds (at most MAX_DRAWS tries)."""
    variables = params.get("vars") or {}
    derived = params.get("derived") or {}
    constraints = params.get("constraints") or []
    for _ in range(MAX_DRAWS):
        env: dict[str, Any] = {}
        for name, spec in variables.items():
            if "choices" in spec:
                env[name] = _norm(Fraction(rng.choice(spec["choices"])))
            else:
                excluded = set(spec.get("exclude") or [])
                values = range(spec["min"], spec["max"] + 1, spec.get("step", 1))
                env[name] = rng.choice(values)
                if env[name] in excluded:
                    break
        else:
            try:
                for name, expr in derived.items():
                    env[name] = evaluate(expr, env)
                if all(evaluate(c, env) for c in constraints):
                    return env
            except ExpressionError:
                continue  # e.g. division by zero for this draw: redraw
    raise TemplateError(f"constraints never held in {MAX_DRAWS} draws; widen the ranges")


def fill(text: str, env: dict[str, Any]) -> str:
    """Replace ``[[expr]]`` placeholders with their values."""
    if not text or "[[" not in text:
        return text

    def repl(m: re.Match[str]) -> str:
        expr, spec = split_format(_unescape_html(m.group(1)))
        return format_number(evaluate(expr, env), spec)

    return PLACEHOLDER.sub(repl, text)


def _unescape_html(s: str) -> str:
    # Sanitised HTML escapes < > & inside placeholders; undo that for the expression.
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _fill_localized(value: Any, env: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _fill_localized(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_localized(v, env) for v in value]
    if isinstance(value, str):
        return fill(value, env)
    return value


# ------------------------------------------------------------------------------------------- variants
@dataclass
class Variant:
    """One concrete version of an item that a student sees and answers. JSON-able (to_dict/from_dict)."""

    item_id: int | None
    seed: int
    params: dict[str, Any]
    stem: dict[str, str]
    choices: list[dict[str, Any]] | None
    answer_spec: dict[str, Any]
    item_type: str = ""
    # The item's feedback {locale: {correct, incorrect}} and hints {locale: [..]}, placeholders filled in.
    feedback: dict[str, Any] | None = None
    hints: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Variant:
        return cls(
            item_id=data.get("item_id"),
            seed=int(data.get("seed", 0)),
            params=dict(data.get("params") or {}),
            stem=dict(data.get("stem") or {}),
            choices=data.get("choices"),
            answer_spec=dict(data.get("answer_spec") or {}),
            item_type=data.get("item_type") or data.get("type") or "",
            feedback=data.get("feedback"),
            hints=data.get("hints"),
        )

    def public_dict(self) -> dict[str, Any]:
        """What may be sent to the student's browser: no answer, no choice feedback."""
        choices = None
        if self.choices is not None:
            choices = [{"key": c["key"], "text": c.get("text") or {}} for c in self.choices]
        return {"item_id": self.item_id, "seed": self.seed, "type": self.item_type, "stem": self.stem,
                "choices": choices}


def variant_seed(*parts: Any) -> int:
    """A stable 63-bit seed from e.g. (user_id, item_id, attempt_no); same parts, same seed, in every process."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def make_variant(item: Any, seed: int) -> Variant:
    """Deterministic per (item, seed). Non-parametric items give the identity variant (seed kept, no params)."""
    item_type = item.type
    answer = dict(item.answer or {})
    choices = [dict(c) for c in item.choices] if item.choices is not None else None
    stem = dict(item.stem or {})
    params = item.params
    feedback = getattr(item, "feedback", None)
    hints = getattr(item, "hints", None)
    if not params:
        return Variant(item_id=item.id, seed=seed, params={}, stem=stem, choices=choices,
                       answer_spec=_resolve_answer(item_type, answer, {}), item_type=item_type,
                       feedback=feedback, hints=hints)
    rng = random.Random(variant_seed("variant", getattr(item, "key", None) or item.id, seed))
    env = draw_params(params, rng)
    stem = _fill_localized(stem, env)
    feedback = _fill_localized(feedback, env) if feedback else feedback
    hints = _fill_localized(hints, env) if hints else hints
    if choices is not None:
        choices = [{**c, "text": _fill_localized(c.get("text") or {}, env),
                    **({"feedback": _fill_localized(c["feedback"], env)} if c.get("feedback") else {})}
                   for c in choices]
    spec = _resolve_answer(item_type, answer, env)
    return Variant(item_id=item.id, seed=seed, params={k: _json_number(v) for k, v in env.items()},
                   stem=stem, choices=choices, answer_spec=spec, item_type=item_type, feedback=feedback,
                   hints=hints)


def _resolve_answer(item_type: str, answer: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    spec = dict(answer)
    if item_type == "numeric":
        if "formula" in spec:
            formula = spec.pop("formula")
            value = evaluate(formula, env)
            if isinstance(value, bool):
                raise TemplateError("numeric formula gave a boolean")
            spec["value"] = float(value)
            places = _decimal_places(Fraction(value))
            if _ROUNDED.search(formula) and places is not None and places <= MAX_SHOWN_PLACES:
                spec["exact"] = _decimal_text(Fraction(value), places)  # the formula rounds: 43.3, not 433/10
            else:
                spec["exact"] = format_number(value)
        elif "value" in spec:
            exact = _norm(Fraction(str(spec["value"])))
            spec["value"] = float(exact)
            spec["exact"] = format_number(exact)
    elif item_type == "short_text":
        spec["accepted"] = [fill(a, env) for a in spec.get("accepted") or []]
    return spec


# ------------------------------------------------------------------------------------------- checking
@dataclass
class CheckResult:
    correct: bool
    normalized: str
    feedback_key: str  # "correct" | "incorrect" | "invalid"
    message: str | None = None
    # Feedback attached to the chosen option(s) (GIFT/QTI per-answer feedback): {locale: html} or None.
    specific_feedback: dict[str, str] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MESSAGES: dict[str, dict[str, str]] = {
    "empty": {"en": "Please enter an answer.", "zh_CN": "请输入答案。"},
    "not_a_number": {
        "en": "Please enter a number, such as 3, 0.75 or 3/4.",
        "zh_CN": "请输入一个数，例如 3、0.75 或 3/4。",
    },
    "choose_one": {"en": "Please choose one option.", "zh_CN": "请选择一个选项。"},
    "choose_some": {"en": "Please choose at least one option.", "zh_CN": "请至少选择一个选项。"},
    "unknown_choice": {"en": "That option is not one of the choices.", "zh_CN": "该选项不在可选范围内。"},
    "too_long": {"en": "That answer is too long.", "zh_CN": "答案太长。"},
}
MAX_ANSWER_LENGTH = 1000


def _msg(code: str, locale: str | None) -> str:
    loc = "zh_CN" if (locale or "").lower().replace("-", "_").startswith("zh") else "en"
    return MESSAGES[code][loc]


def _invalid(code: str, locale: str | None, normalized: str = "") -> CheckResult:
    return CheckResult(correct=False, normalized=normalized, feedback_key="invalid", message=_msg(code, locale))


def normalize_text(s: str, *, case_sensitive: bool = False, ignore_spaces: bool = False) -> str:
    """NFKC (full-width digits and punctuation from Chinese input methods), trimmed, spaces collapsed."""
    s = unicodedata.normalize("NFKC", s).strip()
    s = re.sub(r"\s+", "" if ignore_spaces else " ", s)
    return s if case_sensitive else s.casefold()


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_FRACTION = re.compile(r"^([+-]?)(?:(\d+)\s+)?(\d+)\s*/\s*(\d+)$")


def parse_number(raw: Any, *, percent: bool = False) -> Fraction | None:
    """Parse a student's number: 3, -0.75, 0,75, 3/4, 1 1/2, 75%, full-width digits. None if not a number.

    A trailing ``%`` divides by 100 (``75%`` is 0.75), unless ``percent``: the answer is itself a percent number,
    and the sign is only the unit (``50%`` is 50, like ``50``)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return Fraction(raw)
    if isinstance(raw, float):
        return Fraction(str(raw)) if math.isfinite(raw) else None
    if not isinstance(raw, str):
        return None
    s = unicodedata.normalize("NFKC", raw).strip().replace("\u2212", "-").replace("\u2044", "/")
    if len(s) > 64:
        return None
    has_percent_sign = s.endswith("%")
    if has_percent_sign:
        s = s[:-1].strip()
    if re.fullmatch(r"[+-]?\d+,\d+", s):  # decimal comma
        s = s.replace(",", ".")
    s = s.replace(" ", " ").replace("\u202f", " ")
    value: Fraction | None = None
    if _NUMBER.match(s):
        value = Fraction(s)
    else:
        m = _FRACTION.match(s)
        if m:
            sign, whole, num, den = m.groups()
            if int(den) == 0:
                return None
            value = Fraction(int(num), int(den)) + (int(whole) if whole else 0)
            if sign == "-":
                value = -value
    if value is None:
        return None
    return value / 100 if has_percent_sign and not percent else value


def _choice_keys(answer: Any) -> list[str] | None:
    if isinstance(answer, str):
        return [p.strip() for p in re.split(r"[,;\s]+", answer) if p.strip()]
    if isinstance(answer, list | tuple) and all(isinstance(a, str) for a in answer):
        return [a.strip() for a in answer]
    return None


def _choice_feedback(variant: Variant, keys: list[str]) -> dict[str, str] | None:
    merged: dict[str, str] = {}
    for c in variant.choices or []:
        if c["key"] in keys and c.get("feedback"):
            for loc, text in c["feedback"].items():
                merged[loc] = f"{merged[loc]} {text}" if loc in merged else text
    return merged or None


def check_answer(variant: Variant, answer: Any, locale: str | None = None) -> CheckResult:
    """Grade ``answer`` against ``variant``. Input that is not an answer (letters for a number, an unknown option)
    is ``invalid`` with a message in ``locale``, never counted as wrong."""
    spec = variant.answer_spec
    kind = variant.item_type or _infer_type(spec)
    if answer is None or (isinstance(answer, str) and not answer.strip()) or answer == []:
        return _invalid("choose_one" if kind == "mc_single" else "choose_some" if kind == "mc_multi" else "empty",
                        locale)
    if isinstance(answer, str) and len(answer) > MAX_ANSWER_LENGTH:
        return _invalid("too_long", locale)

    if kind in ("mc_single", "mc_multi"):
        keys = _choice_keys(answer)
        valid = {c["key"] for c in variant.choices or []}
        if keys is None or not keys:
            return _invalid("choose_one" if kind == "mc_single" else "choose_some", locale)
        parts = answer if isinstance(answer, list | tuple) else ()
        if len(keys) > len(valid) or any(len(p) > 64 for p in parts):  # the answer is stored: no padding it out
            return _invalid("too_long", locale)
        if any(k not in valid for k in keys):
            return _invalid("unknown_choice", locale)
        chosen = sorted(set(keys))
        if kind == "mc_single" and len(chosen) != 1:
            return _invalid("choose_one", locale, ",".join(chosen))
        correct = set(spec.get("correct") or [])
        ok = set(chosen) == correct
        return CheckResult(ok, ",".join(chosen), "correct" if ok else "incorrect",
                           specific_feedback=_choice_feedback(variant, chosen))

    if kind == "numeric":
        value = parse_number(answer, percent=bool(spec.get("percent")))
        if value is None:
            return _invalid("not_a_number", locale, str(answer)[:64])
        target = float(spec.get("value") or 0)
        tol = float(spec.get("tolerance") or 0)
        mode = spec.get("tolerance_mode") or "absolute"
        exact = spec.get("exact")
        if tol == 0 and exact is not None:
            ok = value == Fraction(exact)
        else:
            bound = tol * abs(float(target)) if mode == "relative" else tol
            ok = abs(float(value) - float(target)) <= bound + 1e-9 * max(1.0, abs(float(target)))
        return CheckResult(ok, format_number(_norm(value)), "correct" if ok else "incorrect")

    if kind == "short_text":
        if not isinstance(answer, str | int | float) or isinstance(answer, bool):
            return _invalid("empty", locale)
        cs = bool(spec.get("case_sensitive"))
        ns = bool(spec.get("ignore_spaces"))
        given = normalize_text(str(answer), case_sensitive=cs, ignore_spaces=ns)
        accepted = {normalize_text(_strip_tags(a), case_sensitive=cs, ignore_spaces=ns)
                    for a in spec.get("accepted") or []}
        ok = given in accepted
        return CheckResult(ok, given, "correct" if ok else "incorrect")

    raise ValueError(f"unknown item type {kind!r}")


def _infer_type(spec: dict[str, Any]) -> str:
    if "accepted" in spec:
        return "short_text"
    if "value" in spec:
        return "numeric"
    return "mc_multi" if len(spec.get("correct") or []) > 1 else "mc_single"


def _strip_tags(s: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]*>", "", s))


def correct_answer(variant: Variant) -> Any:
    """An answer that :func:`check_answer` accepts as correct (for tests, previews and 'show answer')."""
    spec = variant.answer_spec
    if variant.item_type == "mc_single":
        return spec["correct"][0]
    if variant.item_type == "mc_multi":
        return list(spec["correct"])
    if variant.item_type == "numeric":
        shown = shown_number(spec)
        return f"{shown}%" if spec.get("percent") else shown
    return _strip_tags(spec["accepted"][0])


_ROUNDED = re.compile(r"\b(round|floor|ceil)\s*\(")
MAX_SHOWN_PLACES = 6  # an exact decimal with more places than this is shown rounded (tolerance items)
MAX_ROUND_PLACES = 10


def _decimal_places(x: Fraction) -> int | None:
    """How many decimals ``x`` has when written exactly (3/4 -> 2, 7 -> 0); None when they repeat (1/3)."""
    den, twos, fives = x.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    return max(twos, fives) if den == 1 else None


def _round_half_up(x: Fraction, places: int) -> Fraction:
    """Round half away from zero, as taught at school (0.125 -> 0.13; Python's round() would give 0.12)."""
    scale = 10**places
    magnitude = Fraction(math.floor(abs(x) * scale + Fraction(1, 2)), scale)
    return -magnitude if x < 0 else magnitude


def _decimal_text(x: Fraction, places: int) -> str:
    """``x`` rounded to ``places`` decimals as text, trailing zeros trimmed: 130/3, 1 -> ``43.3``."""
    q = _round_half_up(x, places)
    digits = str(abs(q.numerator * (10**places // q.denominator))).rjust(places + 1, "0")
    text = f"{digits[:-places]}.{digits[-places:]}".rstrip("0").rstrip(".") if places else digits
    return f"-{text}" if q < 0 and text != "0" else text


def shown_number(spec: dict[str, Any]) -> str:
    """The correct answer of a numeric spec as it is shown to the student (and accepted when typed back in).

    Without a tolerance the exact value is the answer: ``3/4`` stays a fraction. With a tolerance the item wants a
    decimal: an exact decimal of at most MAX_SHOWN_PLACES places as it is (``0.92``, ``7.5``), anything else (e.g.
    ``130/3``) rounded to the fewest decimals that keep it within the tolerance (``43.3`` for 0.2 %)."""
    exact = Fraction(spec["exact"]) if spec.get("exact") else Fraction(str(spec["value"]))
    tol = Fraction(str(spec.get("tolerance") or 0))
    if tol <= 0:
        return spec.get("exact") or format_number(_norm(exact))
    places = _decimal_places(exact)
    if places is not None and places <= MAX_SHOWN_PLACES:
        return _decimal_text(exact, places)
    bound = tol * abs(exact) if spec.get("tolerance_mode") == "relative" else tol
    for p in range(MAX_ROUND_PLACES + 1):
        if abs(_round_half_up(exact, p) - exact) <= bound:
            return _decimal_text(exact, p)
    return _decimal_text(exact, places) if places is not None else format_number(_norm(exact))


def wrong_answer(variant: Variant) -> Any:
    """A well-formed answer that is wrong (for tests)."""
    spec = variant.answer_spec
    keys = [c["key"] for c in variant.choices or []]
    if variant.item_type == "mc_single":
        return next(k for k in keys if k not in spec["correct"])
    if variant.item_type == "mc_multi":
        wrong = [k for k in keys if k not in spec["correct"]]
        return [*spec["correct"], wrong[0]] if wrong else spec["correct"][:-1]
    if variant.item_type == "numeric":
        value = float(spec["value"])
        tol = float(spec.get("tolerance") or 0)
        bound = tol * abs(value) if spec.get("tolerance_mode") == "relative" else tol
        base = Fraction(spec["exact"]) if spec.get("exact") else Fraction(str(value))
        return format_number(_norm(base + Fraction(str(bound)) + 1))
    return "not-" + _strip_tags(spec["accepted"][0]) + "-xyz"
