"""JSON bodies of LTI Advantage messages, built with pylti1p3 2.0.0 where it builds them right.

pylti1p3 is used for what it does well: the shape of a deep linking content item (``DeepLinkResource``), of an
AGS line item (``LineItem``) and of an AGS score (``Grade``). Everything security-critical (launch validation,
state and nonce, keys, the signed deep linking response envelope, service tokens) is ours: see
``lti_tool.lti.launch`` and ``docs/lti.md``.

Where pylti1p3 would send something else than the spec (or than what we sent before) for a value, the builder
keeps our own JSON for that case; each such case is named below.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem

RESOURCE_LINK = "ltiResourceLink"


def _line_item(score_maximum: float, label: str, resource_id: str, tag: str | None,
               resource_link_id: str | None = None) -> LineItem:
    item = LineItem().set_score_maximum(score_maximum).set_label(label).set_resource_id(resource_id)
    if tag:
        item.set_tag(tag)
    if resource_link_id:
        item.set_resource_link_id(resource_link_id)
    return item


def resource_link_item(
    *,
    url: str,
    title: str,
    text: str | None,
    custom: Mapping[str, str],
    line_item: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An ``ltiResourceLink`` content item (Deep Linking 2.0). ``line_item``: ``score_maximum``, ``label``,
    ``resource_id`` and ``tag`` (None: no ``lineItem``, e.g. when the platform sets ``accept_lineitem: false``).

    Raises ValueError for a ``score_maximum`` that is not a number above 0 (the spec requires one).
    """
    resource = (DeepLinkResource().set_url(url).set_title(title)
                .set_custom_params({str(k): str(v) for k, v in custom.items()}))
    if line_item is not None:
        try:
            resource.set_lineitem(_line_item(line_item["score_maximum"], line_item["label"],
                                             line_item["resource_id"], line_item.get("tag")))
        except LtiException as exc:
            raise ValueError(str(exc)) from exc
    item = resource.to_dict()
    # DeepLinkResource has no ``text`` (the item's description, optional in the spec): added here.
    if text:
        item["text"] = text
    return item


def line_item_body(
    *,
    score_maximum: float,
    label: str,
    resource_id: str | None,
    tag: str | None = None,
    resource_link_id: str | None = None,
) -> dict[str, Any]:
    """The body of an AGS line item POST (``application/vnd.ims.lis.v2.lineitem+json``)."""
    if resource_id and label and isinstance(score_maximum, (int, float)) and score_maximum > 0:
        return json.loads(_line_item(score_maximum, label, resource_id, tag, resource_link_id).get_value())
    # Ours, for values LineItem would refuse (scoreMaximum <= 0 raises) or silently drop (an empty label or
    # resourceId vanishes from its JSON): the LMS gets what we were asked to send and answers for it.
    body: dict[str, Any] = {"scoreMaximum": score_maximum, "label": label, "resourceId": resource_id}
    if tag:
        body["tag"] = tag
    if resource_link_id:
        body["resourceLinkId"] = resource_link_id
    return body


def score_body(
    *,
    user_id: str,
    score_given: float,
    score_maximum: float,
    activity_progress: str,
    grading_progress: str,
    timestamp: str,
    comment: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of an AGS score POST (``application/vnd.ims.lis.v1.score+json``); ``extra``: extension claims
    such as Canvas's ``https://canvas.instructure.com/lti/submission``."""
    grade = (Grade().set_user_id(user_id).set_activity_progress(activity_progress)
             .set_grading_progress(grading_progress).set_timestamp(timestamp))
    if comment:
        grade.set_comment(comment)
    if extra:
        grade.set_extra_claims(dict(extra))
    try:
        grade.set_score_given(score_given).set_score_maximum(score_maximum)
    except LtiException:
        # Ours, for a negative or non-numeric score that Grade refuses to hold: sent as given, so the LMS
        # refuses it (400) and the score is marked rejected, rather than the delivery worker failing on it.
        body = {"userId": user_id, "scoreGiven": score_given, "scoreMaximum": score_maximum,
                "activityProgress": activity_progress, "gradingProgress": grading_progress, "timestamp": timestamp}
        if comment:
            body["comment"] = comment
        body.update(extra or {})
        return body
    return json.loads(grade.get_value())
