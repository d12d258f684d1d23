"""The page language comes from launch_presentation.locale, else the OIDC ``locale`` claim."""

from __future__ import annotations

import pytest

from lti_tool.devlms.platform import REMOVE, STUDENT, LaunchSpec
from lti_tool.lti import claims as c
from lti_tool.lti.launch import launch_locale
from lti_tool.lti.session import verify_token

from ..conftest import TEST_SECRET


def _presentation(locale: str | None) -> dict[str, str]:
    value = {"document_target": "iframe"}
    if locale is not None:
        value["locale"] = locale
    return value


def test_launch_presentation_locale_wins_over_the_oidc_locale(platform):
    result = platform.launch(STUDENT, claims={c.LAUNCH_PRESENTATION: _presentation("zh-CN"), "locale": "en-US"})
    assert result.status == 200, result.html
    assert verify_token(result.token, secret=TEST_SECRET).locale == "zh-CN"
    assert "检查答案" in result.html
    assert "Check answer" not in result.html


def test_oidc_locale_is_the_fallback(platform):
    result = platform.launch(STUDENT, claims={c.LAUNCH_PRESENTATION: _presentation(None), "locale": "zh-CN"})
    assert result.status == 200, result.html
    assert verify_token(result.token, secret=TEST_SECRET).locale == "zh-CN"
    assert "检查答案" in result.html


def test_english_presentation_locale_beats_a_chinese_profile_locale(platform):
    result = platform.launch(STUDENT, claims={c.LAUNCH_PRESENTATION: _presentation("en-GB"), "locale": "zh-CN"})
    assert verify_token(result.token, secret=TEST_SECRET).locale == "en-GB"
    assert "Check answer" in result.html
    assert "检查答案" not in result.html


def test_no_locale_at_all(platform):
    result = platform.launch(STUDENT, claims={c.LAUNCH_PRESENTATION: REMOVE, "locale": REMOVE})
    assert result.status == 200, result.html
    assert verify_token(result.token, secret=TEST_SECRET).locale is None


def test_platform_sends_the_locale_of_each_launch_in_both_claims(platform):
    claims = platform.claims_for(LaunchSpec(locale="zh-CN"), nonce="n")
    assert claims[c.LAUNCH_PRESENTATION]["locale"] == "zh-CN"
    assert claims[c.LAUNCH_PRESENTATION]["document_target"] == "iframe"
    assert claims["locale"] == "zh-CN"
    default = platform.claims_for(LaunchSpec(), nonce="n")
    assert default[c.LAUNCH_PRESENTATION]["locale"] == default["locale"] == "en"
    result = platform.launch(STUDENT, locale="zh-CN")
    assert verify_token(result.token, secret=TEST_SECRET).locale == "zh-CN"
    assert 'lang="zh-Hans"' in result.html


@pytest.mark.parametrize(("claims", "expected"), [
    ({c.LAUNCH_PRESENTATION: {"locale": "zh-CN"}, "locale": "en"}, "zh-CN"),
    ({c.LAUNCH_PRESENTATION: {"locale": ""}, "locale": "en"}, "en"),
    ({c.LAUNCH_PRESENTATION: {"locale": 3}, "locale": "en"}, "en"),  # not a string: ignored
    ({c.LAUNCH_PRESENTATION: "zh-CN", "locale": "en"}, "en"),  # not an object: ignored
    ({"locale": " fr-CA "}, "fr-CA"),
    ({c.LAUNCH_PRESENTATION: {"locale": "x" * 40}}, "x" * 32),  # fits the column
    ({}, None),
])
def test_launch_locale(claims, expected):
    assert launch_locale(claims) == expected
