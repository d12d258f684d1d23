"""The safe evaluator, parametric variants and answer checking (pure Python, no database)."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import pytest

from lti_tool.services import answers as A


def item(type_, answer, *, stem=None, choices=None, params=None, id_=1, key="k", feedback=None, hints=None):
    return SimpleNamespace(id=id_, key=key, type=type_, stem=stem or {"en": "Q"}, choices=choices, answer=answer,
                           params=params, feedback=feedback, hints=hints)


# ------------------------------------------------------------------------------------------ evaluator
@pytest.mark.parametrize(
    ("expr", "env", "expected"),
    [
        ("6/8", {}, Fraction(3, 4)),
        ("1/3 + 1/6", {}, Fraction(1, 2)),
        ("2**10", {}, 1024),
        ("2**-2", {}, Fraction(1, 4)),
        ("(a+b)*k", {"a": 2, "b": 3, "k": 4}, 20),
        ("gcd(a, b)", {"a": 12, "b": 18}, 6),
        ("lcm(4, 6)", {}, 12),
        ("min(3, 1/2, 2)", {}, Fraction(1, 2)),
        ("max(-1, -5)", {}, -1),
        ("abs(-7/2)", {}, Fraction(7, 2)),
        ("round(7/3, 2)", {}, Fraction(233, 100)),
        ("round(5/2)", {}, 2),
        ("7 // 2 + 7 % 2", {}, 4),
        ("0.1 + 0.2", {}, Fraction(3, 10)),
        ("a < b and gcd(a, b) == 1", {"a": 2, "b": 3}, True),
        ("not (1 < 2 < 3)", {}, False),
        ("num(6/8) + den(6/8)", {}, 7),
        ("x * 2", {"x": "3/4"}, Fraction(3, 2)),
    ],
)
def test_evaluate_is_exact(expr, env, expected):
    result = A.evaluate(expr, env)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "expr",
    [
        "__import__('os').system('echo hi')",
        "().__class__.__bases__",
        "a.real",
        "open('x')",
        "[1, 2]",
        "'text'",
        "lambda: 1",
        "x if 1 else 2",
        "{1: 2}",
        "gcd(a=1, b=2)",
        "_secret + 1",
        "2 ** 1000",
        "9 ** 9 ** 9",
        "1/0",
        "5 % 0",
        "gcd(1/2, 3)",
        "1 +",
        "",
        "a" * 600,
    ],
)
def test_evaluate_rejects_anything_outside_the_whitelist(expr):
    with pytest.raises(A.ExpressionError):
        A.evaluate(expr, {"a": 1, "x": 2})


def test_unknown_name_is_an_error():
    with pytest.raises(A.ExpressionError, match="unknown name 'b'"):
        A.evaluate("a + b", {"a": 1})


def test_format_number_and_specs():
    assert A.format_number(Fraction(6, 8)) == "3/4"
    assert A.format_number(Fraction(4, 2)) == "2"
    assert A.format_number(Fraction(233, 10), "dec") == "23.3"
    assert A.format_number(Fraction(70, 3), ".1f") == "23.3"
    assert A.fill("[[a/b]] or [[a/b:dec]] or [[a/b:.2f]]", {"a": 3, "b": 4}) == "3/4 or 0.75 or 0.75"
    # sanitised HTML escapes < inside placeholders; filling undoes it
    assert A.fill("[[a &lt; b]]", {"a": 1, "b": 2}) == "true"


# ------------------------------------------------------------------------------------------ templates
SIMPLIFY = item(
    "short_text",
    {"accepted": ["[[a]]/[[b]]"], "ignore_spaces": True},
    stem={"en": r"Simplify \(\frac{[[a*k]]}{[[b*k]]}\)", "zh_CN": r"约分 \(\frac{[[a*k]]}{[[b*k]]}\)"},
    params={"vars": {"a": {"min": 1, "max": 8}, "b": {"min": 2, "max": 9}, "k": {"min": 2, "max": 6}},
            "constraints": ["a < b", "gcd(a, b) == 1"]},
    feedback={"en": {"incorrect": "Divide by [[k]]."}},
    hints={"en": ["GCF is [[k]]"]},
)


def test_variant_is_deterministic_and_varies_with_the_seed():
    v1, v2 = A.make_variant(SIMPLIFY, 42), A.make_variant(SIMPLIFY, 42)
    assert v1 == v2
    params = {tuple(sorted(A.make_variant(SIMPLIFY, s).params.items())) for s in range(50)}
    assert len(params) > 25  # two students rarely see the same numbers


def test_variant_fills_every_text_and_satisfies_constraints():
    for seed in range(100):
        v = A.make_variant(SIMPLIFY, seed)
        a, b, k = v.params["a"], v.params["b"], v.params["k"]
        assert a < b
        assert Fraction(a, b).denominator == b
        assert v.stem["en"] == rf"Simplify \(\frac{{{a * k}}}{{{b * k}}}\)"
        assert v.stem["zh_CN"].startswith("约分")
        assert v.feedback["en"]["incorrect"] == f"Divide by {k}."
        assert v.hints["en"] == [f"GCF is {k}"]
        assert A.check_answer(v, f"{a} / {b}").correct
        assert not A.check_answer(v, f"{a * k}/{b * k}").correct  # equivalent but not simplified


def test_variant_round_trips_through_json():
    import json

    v = A.make_variant(SIMPLIFY, 7)
    again = A.Variant.from_dict(json.loads(json.dumps(v.to_dict())))
    assert again == v
    assert A.check_answer(again, A.correct_answer(v)).correct
    public = v.public_dict()
    assert "answer_spec" not in public
    assert "feedback" not in public


def test_identity_variant_for_plain_items():
    it = item("numeric", {"value": "3/4"})
    v = A.make_variant(it, 123)
    assert v.params == {}
    assert v.seed == 123
    assert v.stem == {"en": "Q"}
    assert A.check_answer(v, "0.75").correct


def test_impossible_constraints_are_a_template_error():
    it = item("numeric", {"formula": "a"}, params={"vars": {"a": {"min": 1, "max": 3}}, "constraints": ["a > 5"]})
    with pytest.raises(A.TemplateError, match="never held"):
        A.make_variant(it, 1)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"vars": {}}, "at least one"),
        ({"vars": {"a": {"min": 5, "max": 1}}}, "min <= max"),
        ({"vars": {"a": {"min": 1.5, "max": 3}}}, "integers"),
        ({"vars": {"a": {"choices": []}}}, "non-empty"),
        ({"vars": {"a": {"min": 1, "max": 3}}, "derived": {"b": "a + c"}}, "unknown name 'c'"),
        ({"vars": {"gcd": {"min": 1, "max": 3}}}, "bad variable name"),
        ({"vars": {"a": {"min": 1, "max": 3}}, "constraints": ["a.real > 1"]}, "not allowed"),
        ({"vars": {"a": {"min": 1, "max": 3}}, "extra": 1}, "unknown params keys"),
    ],
)
def test_validate_template_errors(params, message):
    with pytest.raises(A.TemplateError, match=message):
        A.validate_template(params)


# ------------------------------------------------------------------------------------------- checking
MC = item("mc_single", {"correct": ["b"]}, choices=[
    {"key": "a", "text": {"en": "1/2"}, "feedback": {"en": "Halves are too big."}},
    {"key": "b", "text": {"en": "1/4"}},
    {"key": "c", "text": {"en": "1/8"}},
])
MULTI = item("mc_multi", {"correct": ["a", "c"]}, choices=[
    {"key": k, "text": {"en": k}} for k in "abcd"
])


def test_mc_single():
    v = A.make_variant(MC, 0)
    assert A.check_answer(v, "b") == A.CheckResult(True, "b", "correct")
    wrong = A.check_answer(v, "a")
    assert (wrong.correct, wrong.feedback_key, wrong.specific_feedback) == (False, "incorrect",
                                                                             {"en": "Halves are too big."})
    assert A.check_answer(v, ["b"]).correct
    for bad in ("z", ["a", "b"], "", None, [], 3):
        res = A.check_answer(v, bad)
        assert res.feedback_key == "invalid"
        assert not res.correct
        assert res.message


def test_mc_multi_is_all_or_nothing():
    v = A.make_variant(MULTI, 0)
    assert A.check_answer(v, ["c", "a"]).correct
    assert A.check_answer(v, "a,c").correct
    assert A.check_answer(v, ["a", "c"]).normalized == "a,c"
    assert A.check_answer(v, ["a"]).feedback_key == "incorrect"
    assert A.check_answer(v, ["a", "b", "c"]).feedback_key == "incorrect"
    assert A.check_answer(v, ["a", "x"]).feedback_key == "invalid"
    # the raw answer is stored with the attempt: it cannot be padded out with copies of a key or blank space
    for padded in (["a"] * 100_000, [" " * 10_000 + "a"], ["a", "c", "a", "c", "a"]):
        assert A.check_answer(v, padded).feedback_key == "invalid"
    assert A.check_answer(v, ["a", "c", "a"]).correct  # a repeat within the number of choices is harmless


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("3", 3), ("-0.75", Fraction(-3, 4)), ("0,75", Fraction(3, 4)), ("3/4", Fraction(3, 4)),
     (" 3 / 4 ", Fraction(3, 4)), ("1 1/2", Fraction(3, 2)), ("-1 1/2", Fraction(-3, 2)), ("75%", Fraction(3, 4)),
     ("３／４", Fraction(3, 4)), ("1e2", 100), (".5", Fraction(1, 2)), (2.5, Fraction(5, 2)), (7, 7),
     ("abc", None), ("1/0", None), ("3/", None), ("", None), (True, None), ("1,000,000", None)],
)
def test_parse_number(raw, expected):
    assert A.parse_number(raw) == expected


def test_numeric_exact_and_tolerances():
    exact = A.make_variant(item("numeric", {"value": "1/3"}), 0)
    assert A.check_answer(exact, "1/3").correct
    assert A.check_answer(exact, "2/6").correct
    assert not A.check_answer(exact, "0.333").correct  # exact answer, no tolerance
    absolute = A.make_variant(item("numeric", {"value": 0.92, "tolerance": 0.005}), 0)
    assert A.check_answer(absolute, "0.92").correct
    assert A.check_answer(absolute, "0.924").correct
    assert A.check_answer(absolute, "11/12").correct
    assert not A.check_answer(absolute, "0.93").correct
    relative = A.make_variant(item("numeric", {"value": 200, "tolerance": 0.01, "tolerance_mode": "relative"}), 0)
    assert A.check_answer(relative, "198").correct
    assert not A.check_answer(relative, "197.9").correct


def test_numeric_invalid_input_is_not_wrong():
    v = A.make_variant(item("numeric", {"value": 3}), 0)
    res = A.check_answer(v, "three")
    assert (res.correct, res.feedback_key) == (False, "invalid")
    assert "number" in res.message
    zh = A.check_answer(v, "三", locale="zh-Hans")
    assert zh.feedback_key == "invalid"
    assert "请输入" in zh.message


def test_short_text_normalisation():
    v = A.make_variant(item("short_text", {"accepted": ["numerator", "分子"]}), 0)
    assert A.check_answer(v, "  Numerator ").correct
    assert A.check_answer(v, "分子").correct
    assert not A.check_answer(v, "denominator").correct
    cs = A.make_variant(item("short_text", {"accepted": ["NaCl"], "case_sensitive": True}), 0)
    assert A.check_answer(cs, "NaCl").correct
    assert not A.check_answer(cs, "nacl").correct
    spaces = A.make_variant(item("short_text", {"accepted": ["3:2"], "ignore_spaces": True}), 0)
    assert A.check_answer(spaces, "3 : 2").correct
    assert A.check_answer(spaces, "3：2").correct  # full-width colon from a Chinese keyboard
    assert A.check_answer(spaces, "x" * 2000).feedback_key == "invalid"


def test_seed_helper_is_stable():
    assert A.variant_seed(1, 2, 3) == A.variant_seed(1, 2, 3)
    assert A.variant_seed(1, 2, 3) != A.variant_seed(1, 2, 4)
    assert 0 <= A.variant_seed("x") < 2**63
