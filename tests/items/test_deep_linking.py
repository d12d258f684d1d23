"""Deep linking offers one activity per visible item bank (black-box: real HTTP, signed JWTs, the LMS simulator)."""

from __future__ import annotations

import jwt

from lti_tool.devlms.platform import INSTRUCTOR, LaunchSpec, parse_html
from lti_tool.lti import claims as c
from lti_tool.services import items as svc
from lti_tool.services import registrations
from lti_tool.services.item_formats import csv as csv_format


def _picker(platform, http):
    spec = LaunchSpec(role=INSTRUCTOR, message_type=c.DEEP_LINKING_REQUEST, locale="zh-Hans")
    hint = platform.new_spec(spec)
    resp = http.get(platform.tool_url + "/lti/login", params=platform.login_params(hint))
    form = parse_html(resp.text).forms[0]
    picker = http.post(form["action"], data=form["fields"])
    assert picker.status_code == 200, picker.text
    return picker


def test_picker_offers_visible_banks_and_the_link_carries_the_settings(platform, http, db):
    other_bank = csv_format.read_items_csv("key,type,skills,stem_en,answer\nq1,numeric,s1,1+1?,2\n")
    with db.session() as session:
        svc.load_sample_bank(session)
        other = registrations.add(session, issuer="https://other.example.edu", client_id="x",
                                  auth_login_url="https://other.example.edu/a",
                                  auth_token_url="https://other.example.edu/t",
                                  jwks_url="https://other.example.edu/j")
        svc.save_bank(session, other_bank, registration_id=other.id, slug="someone-elses")
    picker = _picker(platform, http)
    forms = parse_html(picker.text).forms
    offered = {f["fields"].get("activity") for f in forms}
    assert "bank:fractions" in offered
    assert "bank:someone-elses" not in offered  # another registration's bank stays private
    assert "分数与比例推理" in picker.text  # the instructor's locale
    chosen = next(f for f in forms if f["fields"].get("activity") == "bank:fractions")
    fields = dict(chosen["fields"], mastery_threshold="0.85", goal_skills="4", scoring="share_correct")
    answer = http.post(platform.tool_url + chosen["action"], data=fields)
    assert answer.status_code == 200, answer.text
    token = parse_html(answer.text).forms[0]["fields"]["JWT"]
    (item,) = jwt.decode(token, options={"verify_signature": False})[c.DL_CONTENT_ITEMS]
    assert item["custom"] == {"item_bank": "fractions", "mastery_threshold": "0.85", "goal_skills": "4",
                              "scoring": "share_correct"}
    # out-of-range settings are refused, not stored
    bad = http.post(platform.tool_url + chosen["action"], data=dict(fields, mastery_threshold="3"))
    assert bad.status_code == 400
