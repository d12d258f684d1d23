"""Deep Linking 2.0 round trip: instructor picks an activity; the platform verifies the signed response."""

from __future__ import annotations

import html

import jwt
import pytest
import requests
from jwt.algorithms import RSAAlgorithm

from lti_tool.devlms.platform import INSTRUCTOR, REMOVE, LaunchSpec, parse_html
from lti_tool.lti import claims as c
from lti_tool.lti.deep_linking import ACTIVITY_PROVIDERS, Activity, SettingField, register_activity_provider


def _picker(platform, http, **dl_settings):
    spec = LaunchSpec(role=INSTRUCTOR, message_type=c.DEEP_LINKING_REQUEST, deep_link_settings=dl_settings)
    hint = platform.new_spec(spec)
    resp = http.get(platform.tool_url + "/lti/login", params=platform.login_params(hint))
    form = parse_html(resp.text).forms[0]
    dl_request = jwt.decode(form["fields"]["id_token"], options={"verify_signature": False})
    picker = http.post(form["action"], data=form["fields"])
    assert picker.status_code == 200, picker.text
    return picker, dl_request


def _decode_with_tool_jwks(platform, token):
    jwks = requests.get(platform.tool_url + "/.well-known/jwks.json", timeout=5).json()
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    return jwt.decode(token, RSAAlgorithm.from_jwk(jwk), algorithms=["RS256"], audience=platform.issuer)


def test_deep_linking_round_trip(platform, http):
    picker, dl_request = _picker(platform, http)
    forms = parse_html(picker.text).forms
    chosen = next(f for f in forms if f["fields"].get("activity") == "adaptive-practice")
    fields = dict(chosen["fields"], goal="practice", questions="15", title="Fractions drill")
    answer = http.post(platform.tool_url + chosen["action"], data=fields)
    assert answer.status_code == 200
    autopost = parse_html(answer.text).forms[0]
    assert autopost["action"] == platform.deep_link_return_url
    claims = _decode_with_tool_jwks(platform, autopost["fields"]["JWT"])
    assert claims["iss"] == platform.client_id
    assert claims[c.MESSAGE_TYPE] == "LtiDeepLinkingResponse"
    assert claims[c.VERSION] == "1.3.0"
    assert claims[c.DEPLOYMENT_ID] == platform.deployment_id
    assert claims[c.DL_DATA] == dl_request[c.DL_SETTINGS]["data"]  # echoed
    assert claims["nonce"]
    (item,) = claims[c.DL_CONTENT_ITEMS]
    assert item["type"] == "ltiResourceLink"
    assert item["title"] == "Fractions drill"
    assert item["url"] == platform.tool_url + "/lti/launch"
    assert item["custom"] == {"activity": "adaptive-practice", "goal": "practice", "questions": "15"}
    assert item["lineItem"] == {"scoreMaximum": 100.0, "label": "Fractions drill", "resourceId": "adaptive-practice",
                                "tag": "adaptive-practice"}
    # The platform (over HTTP) accepts it, verifying with the tool's JWKS.
    done = http.post(autopost["action"], data=autopost["fields"])
    assert done.status_code == 200
    assert "Fractions drill" in done.text
    assert platform.deep_link_responses[-1][c.DL_CONTENT_ITEMS] == [item]
    # The new link launches with its custom parameters.
    new_link = next(k for k, v in platform.course.links.items() if v["title"] == "Fractions drill")
    spec = LaunchSpec(role="student", resource_link_id=new_link)
    query = platform.start_login(http, spec)
    result = platform.post_launch(http, {"id_token": platform.sign(platform.claims_for(spec, query["nonce"])),
                                         "state": query["state"]})
    assert result.status == 200
    assert "Fractions drill" in result.html


def test_line_item_left_out_when_platform_does_not_accept_it(platform, http):
    picker, _ = _picker(platform, http, accept_lineitem=False, data=REMOVE)
    chosen = next(f for f in parse_html(picker.text).forms if f["fields"].get("activity"))
    answer = http.post(platform.tool_url + chosen["action"], data=chosen["fields"])
    claims = _decode_with_tool_jwks(platform, parse_html(answer.text).forms[0]["fields"]["JWT"])
    assert "lineItem" not in claims[c.DL_CONTENT_ITEMS][0]
    assert c.DL_DATA not in claims


def test_placement_that_does_not_accept_links_offers_nothing(platform, http):
    picker, _ = _picker(platform, http, accept_types=["link", "html"])
    assert "does not accept activities" in html.unescape(picker.text)
    forms = parse_html(picker.text).forms
    assert all(not f["fields"].get("activity") for f in forms)
    cancel = forms[-1]
    answer = http.post(platform.tool_url + cancel["action"], data=cancel["fields"])
    claims = _decode_with_tool_jwks(platform, parse_html(answer.text).forms[0]["fields"]["JWT"])
    assert claims[c.DL_CONTENT_ITEMS] == []


def test_invalid_setting_is_refused(platform, http):
    picker, _ = _picker(platform, http)
    chosen = next(f for f in parse_html(picker.text).forms if f["fields"].get("activity"))
    answer = http.post(platform.tool_url + chosen["action"], data=dict(chosen["fields"], questions="9999"))
    assert answer.status_code == 400
    assert "between" in answer.text
    answer = http.post(platform.tool_url + chosen["action"], data=dict(chosen["fields"], questions="2.5"))
    assert answer.status_code == 400
    assert "a whole number is needed" in answer.text
    answer = http.post(platform.tool_url + chosen["action"], data=dict(chosen["fields"], questions="nan"))
    assert answer.status_code == 400  # nan passes every min/max comparison
    assert 'name="questions" value="10" step="1"' in picker.text  # the browser checks whole numbers too


@pytest.fixture
def extra_provider():
    def provider(session, lti_session):
        return [Activity(key="bank-7", title="Algebra bank", description="An item bank",
                         custom={"item_bank": "7"},
                         settings_schema=[SettingField("goal", "Goal", "choice", (("mastery", "Mastery"),),
                                                       "mastery")])]

    register_activity_provider(provider)
    yield provider
    ACTIVITY_PROVIDERS.remove(provider)


def test_registered_provider_activities_are_offered(platform, http, extra_provider):
    picker, _ = _picker(platform, http)
    offered = [f["fields"].get("activity") for f in parse_html(picker.text).forms if f["fields"].get("activity")]
    assert "adaptive-practice" not in offered  # the built-in stands in only while nobody offers activities
    chosen = next(f for f in parse_html(picker.text).forms if f["fields"].get("activity") == "bank-7")
    answer = http.post(platform.tool_url + chosen["action"], data=chosen["fields"])
    claims = _decode_with_tool_jwks(platform, parse_html(answer.text).forms[0]["fields"]["JWT"])
    assert claims[c.DL_CONTENT_ITEMS][0]["custom"] == {"item_bank": "7", "goal": "mastery"}
