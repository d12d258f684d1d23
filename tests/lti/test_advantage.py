"""The JSON bodies pylti1p3 builds for us (content item, line item, score) are exactly what the specs ask for,
and the cases where it would not are kept as ours."""

from __future__ import annotations

import pytest

from lti_tool.lti import advantage

CANVAS = "https://canvas.instructure.com/lti/submission"
TS = "2026-11-29T10:00:00.123456+00:00"


def test_resource_link_item_with_line_item():
    item = advantage.resource_link_item(
        url="https://tool.example/lti/launch", title="Fractions", text="Practice fractions",
        custom={"goal": "mastery", "questions": 10},
        line_item={"score_maximum": 100.0, "label": "Fractions", "resource_id": "bank:fractions",
                   "tag": "adaptive-practice"},
    )
    assert item == {
        "type": "ltiResourceLink", "title": "Fractions", "text": "Practice fractions",
        "url": "https://tool.example/lti/launch", "custom": {"goal": "mastery", "questions": "10"},
        "lineItem": {"scoreMaximum": 100.0, "label": "Fractions", "resourceId": "bank:fractions",
                     "tag": "adaptive-practice"},
    }


def test_resource_link_item_without_line_item_or_text():
    item = advantage.resource_link_item(url="https://tool.example/lti/launch", title="T", text=None, custom={})
    assert item == {"type": "ltiResourceLink", "title": "T", "url": "https://tool.example/lti/launch", "custom": {}}


@pytest.mark.parametrize("maximum", [0, -5])
def test_resource_link_item_refuses_a_score_maximum_not_above_zero(maximum):
    with pytest.raises(ValueError, match="scoreMaximum"):
        advantage.resource_link_item(url="u", title="T", text=None, custom={},
                                     line_item={"score_maximum": maximum, "label": "T", "resource_id": "r"})


def test_line_item_body():
    assert advantage.line_item_body(score_maximum=10.0, label="Review", resource_id="review-3", tag="adaptive-lti",
                                    resource_link_id="rl-1") == {
        "scoreMaximum": 10.0, "label": "Review", "resourceId": "review-3", "tag": "adaptive-lti",
        "resourceLinkId": "rl-1"}
    assert advantage.line_item_body(score_maximum=100, label="A", resource_id="r") == {
        "scoreMaximum": 100, "label": "A", "resourceId": "r"}


def test_line_item_body_keeps_values_pylti1p3_would_drop_or_refuse():
    assert advantage.line_item_body(score_maximum=0, label="A", resource_id="r") == {
        "scoreMaximum": 0, "label": "A", "resourceId": "r"}
    assert advantage.line_item_body(score_maximum=5, label="A", resource_id=None) == {
        "scoreMaximum": 5, "label": "A", "resourceId": None}


def test_score_body_like_the_spec_example():
    body = advantage.score_body(user_id="s1", score_given=0.0, score_maximum=100.0, activity_progress="Completed",
                                grading_progress="FullyGraded", timestamp=TS)
    # a score of 0 is a score: it is sent, not dropped
    assert body == {"userId": "s1", "scoreGiven": 0.0, "scoreMaximum": 100.0, "activityProgress": "Completed",
                    "gradingProgress": "FullyGraded", "timestamp": TS}


def test_score_body_with_comment_and_canvas_extension():
    ext = {CANVAS: {"new_submission": True, "submitted_at": TS}}
    body = advantage.score_body(user_id="s1", score_given=7.5, score_maximum=10, activity_progress="Submitted",
                                grading_progress="Pending", timestamp=TS, comment="3 of 4 skills", extra=ext)
    assert body == {"userId": "s1", "scoreGiven": 7.5, "scoreMaximum": 10, "activityProgress": "Submitted",
                    "gradingProgress": "Pending", "timestamp": TS, "comment": "3 of 4 skills", **ext}
    no_comment = advantage.score_body(user_id="s1", score_given=1, score_maximum=1, activity_progress="Completed",
                                      grading_progress="FullyGraded", timestamp=TS, comment="")
    assert "comment" not in no_comment


def test_score_body_sends_a_negative_score_as_given():
    body = advantage.score_body(user_id="s1", score_given=-1.0, score_maximum=10.0, activity_progress="Completed",
                                grading_progress="FullyGraded", timestamp=TS, comment="c", extra={CANVAS: {}})
    assert body == {"userId": "s1", "scoreGiven": -1.0, "scoreMaximum": 10.0, "activityProgress": "Completed",
                    "gradingProgress": "FullyGraded", "timestamp": TS, "comment": "c", CANVAS: {}}
