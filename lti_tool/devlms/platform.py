"""An LTI 1.3 platform, over real HTTP: its own RSA keys and JWKS, the OIDC authorization endpoint that answers
the tool's login redirect by auto-POSTing a signed id_token, and a deep linking return endpoint.

Used by ``adaptive-lti dev`` (through :mod:`lti_tool.devlms.app`) and by the tests, which also use the helpers
to launch with ``requests`` and to craft bad tokens::

    platform = Platform(tool_url="http://127.0.0.1:5000")
    with platform.serve():                      # the platform on a loopback port
        platform.register_in(db_session)        # the tool trusts it
        result = platform.launch("student")     # login -> auth redirect -> id_token POST
        result.token                            # the session token from the landing page

The happy-path claims are built with the PyPI package ``lti1p3platform`` (an independent implementation of the
platform side), then adjusted per launch. Negative cases sign anything with :meth:`Platform.sign`.

Service URLs the launch claims point at (the grades subsystem serves them in ``devlms/services.py``):
``{url}/token``, ``{url}/ags/contexts/{context_id}/lineitems``,
``{url}/ags/contexts/{context_id}/lineitems/{resource_link_id}``, ``{url}/nrps/contexts/{context_id}/memberships``.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint, Flask, abort, jsonify, render_template_string, request
from jwt.algorithms import RSAAlgorithm
from werkzeug.serving import make_server

from lti_tool.lti import claims as c

REMOVE = object()
"""Use as a claim override value to delete that claim from the id_token."""

STUDENT = "student"
INSTRUCTOR = "instructor"
ROLE_URIS = {
    STUDENT: [c.MEMBERSHIP + "Learner", "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"],
    INSTRUCTOR: [c.MEMBERSHIP + "Instructor", "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Faculty"],
}
AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]


# ----------------------------------------------------------------------------------------------- keys
@dataclass(frozen=True)
class RsaKey:
    kid: str
    private_pem: bytes
    public_jwk: dict[str, Any]

    @classmethod
    def generate(cls, kid: str | None = None, bits: int = 2048) -> RsaKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        kid = kid or uuid.uuid4().hex[:16]
        jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
        jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
        return cls(kid=kid, private_pem=pem, public_jwk=jwk)

    @property
    def public_pem(self) -> bytes:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        return key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


# ------------------------------------------------------------------------------------------- course
@dataclass
class Member:
    sub: str
    name: str
    given_name: str
    family_name: str
    email: str
    roles: list[str]


@dataclass
class Course:
    id: str = "course-101"
    label: str = "MATH101"
    title: str = "Mathematics 101 (demo)"
    members: list[Member] = field(default_factory=list)
    # resource links created by deep linking (or preset): id -> {"title", "custom", "lineItem"}
    links: dict[str, dict[str, Any]] = field(default_factory=dict)


def demo_course() -> Course:
    course = Course()
    course.members = [
        Member("instructor-1", "Grace Hopper", "Grace", "Hopper", "grace@example.edu", ROLE_URIS[INSTRUCTOR]),
        Member("student-1", "Ada Lovelace", "Ada", "Lovelace", "ada@example.edu", ROLE_URIS[STUDENT]),
        Member("student-2", "Alan Turing", "Alan", "Turing", "alan@example.edu", ROLE_URIS[STUDENT]),
        Member("student-3", "Emmy Noether", "Emmy", "Noether", "emmy@example.edu", ROLE_URIS[STUDENT]),
    ]
    course.links["rl-practice-1"] = {"title": "Fractions practice", "custom": {"activity": "adaptive-practice"}}
    return course


# ------------------------------------------------------------------------------------------ launches
@dataclass
class LaunchSpec:
    """What the platform puts in the id_token when the tool's login comes back with this spec's hint."""

    role: str = STUDENT
    message_type: str = c.RESOURCE_LINK_REQUEST
    sub: str | None = None
    resource_link_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)  # overrides; REMOVE deletes
    headers: dict[str, Any] = field(default_factory=dict)
    kid: str | None = None
    storage_target: str | None = None
    deep_link_settings: dict[str, Any] = field(default_factory=dict)
    locale: str = "en"  # sent as launch_presentation.locale and as the OIDC ``locale`` claim


@dataclass
class LaunchResult:
    """The tool's answer to the id_token POST."""

    response: requests.Response
    html: str
    token: str | None  # the session token from <meta name="adaptive-lti-session">, if the launch succeeded
    state: str | None = None
    nonce: str | None = None

    @property
    def status(self) -> int:
        return self.response.status_code


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.metas: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"), "fields": {}})
        elif tag in ("input", "textarea") and self.forms and a.get("name"):
            self.forms[-1]["fields"].setdefault(a["name"], a.get("value", ""))
        elif tag == "select" and self.forms and a.get("name"):
            self._select = a["name"]
        elif tag == "option" and self.forms and self._select:
            fields = self.forms[-1]["fields"]
            if self._select not in fields or "selected" in a:
                fields[self._select] = a.get("value", "")

        elif tag == "meta" and a.get("name"):
            self.metas[a["name"]] = a.get("content", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def parse_html(html: str) -> _FormParser:
    parser = _FormParser()
    parser.feed(html)
    return parser


def session_token_of(html: str) -> str | None:
    return parse_html(html).metas.get("adaptive-lti-session")


class Platform:
    """An LTI 1.3 platform (issuer = its own URL unless given)."""

    def __init__(
        self,
        tool_url: str,
        *,
        client_id: str = "adaptive-lti-dev",
        deployment_id: str = "deployment-1",
        issuer: str | None = None,
        keys: list[RsaKey] | None = None,
        course: Course | None = None,
        name: str = "LMS simulator",
    ) -> None:
        self.tool_url = tool_url.rstrip("/")
        self.client_id = client_id
        self.deployment_id = deployment_id
        self._issuer = issuer
        self.keys: list[RsaKey] = list(keys) if keys else [RsaKey.generate()]
        self.active_kid = self.keys[-1].kid
        self.course = course or demo_course()
        self.name = name
        self.url = ""  # set by serve() or attach_url()
        self.specs: dict[str, LaunchSpec] = {}
        self.jwks_fetches = 0
        self.jwks_user_agents: list[str] = []
        self.deep_link_responses: list[dict[str, Any]] = []  # verified claims of each received response
        self._lock = threading.Lock()

    # ---- identity / URLs ------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return self._issuer or self.url

    def attach_url(self, url: str) -> None:
        self.url = url.rstrip("/")

    @property
    def auth_login_url(self) -> str:
        return self.url + "/auth"

    @property
    def auth_token_url(self) -> str:
        return self.url + "/token"

    @property
    def jwks_url(self) -> str:
        return self.url + "/jwks"

    @property
    def deep_link_return_url(self) -> str:
        return self.url + "/deep_link_return"

    def lineitems_url(self, context_id: str) -> str:
        return f"{self.url}/ags/contexts/{context_id}/lineitems"

    def lineitem_url(self, context_id: str, resource_link_id: str) -> str:
        return f"{self.lineitems_url(context_id)}/{resource_link_id}"

    def memberships_url(self, context_id: str) -> str:
        return f"{self.url}/nrps/contexts/{context_id}/memberships"

    def register_in(self, session, *, status: str = "active", policy: str = "reject", name: str | None = None):
        """Register this platform in the tool's database (idempotent); returns the Registration."""
        from lti_tool.services import registrations

        reg = registrations.get(session, self.issuer, self.client_id)
        if reg is None:
            reg = registrations.add(
                session, issuer=self.issuer, client_id=self.client_id, auth_login_url=self.auth_login_url,
                auth_token_url=self.auth_token_url, jwks_url=self.jwks_url, deployment_ids=[self.deployment_id],
                name=name or self.name, status=status, unknown_deployment_policy=policy,
            )
        else:
            reg.auth_login_url, reg.auth_token_url, reg.jwks_url = (
                self.auth_login_url, self.auth_token_url, self.jwks_url)
            registrations.add_deployment(session, reg, self.deployment_id)
        session.flush()
        return reg

    # ---- keys -------------------------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(k.public_jwk) for k in self.keys]}

    def key(self, kid: str | None = None) -> RsaKey:
        kid = kid or self.active_kid
        return next(k for k in self.keys if k.kid == kid)

    def rotate_key(self, new: RsaKey | None = None, *, drop_old: bool = False) -> RsaKey:
        new = new or RsaKey.generate()
        with self._lock:
            self.keys = [new] if drop_old else [*self.keys, new]
            self.active_kid = new.kid
        return new

    def sign(self, claims: dict[str, Any], *, kid: str | None = None, headers: dict[str, Any] | None = None,
             key: RsaKey | None = None, algorithm: str = "RS256") -> str:
        """Sign ``claims`` with a platform key (``kid`` header set unless ``headers`` overrides it)."""
        key = key or self.key(kid)
        hdr = {"kid": key.kid, **(headers or {})}
        if hdr.get("kid") is REMOVE:
            del hdr["kid"]
        return jwt.encode(claims, key.private_pem, algorithm=algorithm, headers=hdr)

    # ---- claims -----------------------------------------------------------------------------------
    def member(self, role: str, sub: str | None = None) -> Member:
        if sub:
            for m in self.course.members:
                if m.sub == sub:
                    return m
            return Member(sub, "", "", "", "", ROLE_URIS.get(role, []))
        wanted = ROLE_URIS[INSTRUCTOR][0] if role == INSTRUCTOR else ROLE_URIS[STUDENT][0]
        return next(m for m in self.course.members if wanted in m.roles)

    def claims_for(self, spec: LaunchSpec, nonce: str) -> dict[str, Any]:
        """The id_token payload for ``spec``: lti1p3platform builds the standard message, then overrides apply."""
        from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract, MessageLaunchAbstract
        from lti1p3platform.registration import Registration as PlatformRegistration

        class _Launch(LTIAdvantageMessageLaunchAbstract):
            def render_launch_form(self, launch_data, **kwargs):  # pragma: no cover - not used
                return launch_data

        member = self.member(spec.role, spec.sub)
        course = self.course
        link_id = spec.resource_link_id or next(iter(course.links), "rl-1")
        link = course.links.get(link_id, {"title": "Adaptive practice", "custom": {}})
        target = self.tool_url + "/lti/launch"
        reg = PlatformRegistration()
        reg.set_iss(self.issuer).set_client_id(self.client_id).set_deployment_id(self.deployment_id)
        reg.set_launch_url(target).set_deeplink_launch_url(target)
        launch = _Launch.__new__(_Launch)
        MessageLaunchAbstract.__init__(launch, request=None, platform_config=None)  # type: ignore[arg-type]
        launch._registration = reg
        launch.set_user_data(member.sub, list(member.roles), member.name or None, member.email or None)
        launch.set_launch_context_claim(course.id, ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
                                        course.title, course.label)
        launch.set_launch_presentation_claim("iframe", self.url + "/course")
        launch.lti_claim_launch_presentation[c.LAUNCH_PRESENTATION]["locale"] = spec.locale
        launch.set_nrps(self.memberships_url(course.id))
        if spec.message_type == c.DEEP_LINKING_REQUEST:
            launch.set_ags(self.lineitems_url(course.id), None)
            dl = {"deep_link_return_url": self.deep_link_return_url, "accept_types": ["ltiResourceLink"],
                  "accept_presentation_document_targets": ["iframe", "window"], "accept_multiple": False,
                  "accept_lineitem": True, "auto_create": True, "data": "dl-" + secrets.token_hex(4),
                  **spec.deep_link_settings}
            claims = launch.get_launch_message()
            claims[c.MESSAGE_TYPE] = c.DEEP_LINKING_REQUEST
            claims[c.DL_SETTINGS] = {k: v for k, v in dl.items() if v is not REMOVE}
        else:
            launch.set_resource_link_claim(link_id, title=link.get("title"))
            launch.set_custom_parameters_claim(dict(link.get("custom") or {}))
            launch.set_ags(self.lineitems_url(course.id), self.lineitem_url(course.id, link_id))
            claims = launch.get_launch_message()
        if member.given_name:
            claims["given_name"] = member.given_name
            claims["family_name"] = member.family_name
        claims[c.TOOL_PLATFORM] = {"guid": "devlms", "name": self.name, "product_family_code": "devlms"}
        now = int(time.time())
        claims.update({"nonce": nonce, "iat": now, "exp": now + 60, "locale": spec.locale})
        for key, value in spec.claims.items():
            if value is REMOVE:
                claims.pop(key, None)
            else:
                claims[key] = value
        return claims

    def new_spec(self, spec: LaunchSpec) -> str:
        hint = secrets.token_urlsafe(12)
        with self._lock:
            self.specs[hint] = spec
        return hint

    # ---- HTTP (blueprint) -------------------------------------------------------------------------
    def blueprint(self) -> Blueprint:
        bp = Blueprint("platform", __name__)
        platform = self

        @bp.get("/jwks")
        def jwks():
            with platform._lock:
                platform.jwks_fetches += 1
                platform.jwks_user_agents.append(request.headers.get("User-Agent", ""))
            response = jsonify(platform.jwks())
            response.headers["Cache-Control"] = "no-cache"
            return response

        @bp.route("/auth", methods=["GET", "POST"])
        def auth():
            p = request.values
            if p.get("client_id") != platform.client_id:
                abort(400, "unknown client_id")
            if p.get("response_type") != "id_token" or p.get("response_mode") != "form_post" \
                    or p.get("scope") != "openid" or not p.get("nonce") or not p.get("state"):
                abort(400, "not an LTI OIDC authentication request")
            if urlparse(p.get("redirect_uri", "")).netloc != urlparse(platform.tool_url).netloc:
                abort(400, "redirect_uri is not the tool's")
            spec = platform.specs.get(p.get("lti_message_hint", ""))
            if spec is None:
                abort(400, "unknown lti_message_hint")
            claims = platform.claims_for(spec, p["nonce"])
            token = platform.sign(claims, kid=spec.kid, headers=spec.headers)
            fields = {"id_token": token, "state": p["state"]}
            if spec.storage_target:
                fields["lti_storage_target"] = spec.storage_target
            return render_template_string(AUTOPOST, action=p["redirect_uri"], fields=fields)

        @bp.get("/storage_course")
        def storage_course():
            """The tool launched in an iframe next to the platform's storage frame (LTI client-side storage)."""
            role = request.args.get("role", STUDENT)
            if role not in (STUDENT, INSTRUCTOR):
                abort(400)
            login = platform.launch_url_for_browser(role, storage_target=STORAGE_FRAME)
            frame = "/storage_frame?" + urlencode({k: v for k, v in request.args.items() if k != "role"})
            return render_template_string(STORAGE_COURSE, login_url=login, frame_url=frame, frame_name=STORAGE_FRAME)

        @bp.get("/storage_frame")
        def storage_frame():
            """The platform side of lti.put_data / lti.get_data (specs lti-cs-oidc, lti-pm-s).

            ``tamper=1`` hands back a different state than the one stored (a test of the tool's check);
            ``accept_origin`` replaces the tool's origin as the only one whose messages are answered.
            """
            tool = urlparse(platform.tool_url)
            accept = request.args.get("accept_origin") or f"{tool.scheme}://{tool.netloc}"
            return render_template_string(STORAGE_FRAME_PAGE, accept_origin=accept,
                                          tamper=request.args.get("tamper") == "1")

        @bp.post("/deep_link_return")
        def deep_link_return():
            token = request.form.get("JWT", "")
            try:
                claims = platform.verify_tool_jwt(token)
            except (jwt.InvalidTokenError, requests.RequestException, KeyError) as exc:
                return f"Deep linking response refused: {type(exc).__name__}", 400
            with platform._lock:
                platform.deep_link_responses.append(claims)
                for item in claims.get(c.DL_CONTENT_ITEMS, []):
                    if item.get("type") == "ltiResourceLink":
                        platform.course.links["rl-" + uuid.uuid4().hex[:8]] = {
                            "title": item.get("title"), "custom": item.get("custom") or {},
                            "lineItem": item.get("lineItem"),
                        }
            return render_template_string(DL_DONE, claims=claims, platform_url=platform.url)

        return bp

    def verify_tool_jwt(self, token: str) -> dict[str, Any]:
        """Verify a JWT the tool signed (deep linking response) against the tool's published JWKS."""
        kid = jwt.get_unverified_header(token).get("kid")
        jwks = requests.get(self.tool_url + "/.well-known/jwks.json", timeout=10).json()
        jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
        return jwt.decode(token, RSAAlgorithm.from_jwk(jwk), algorithms=["RS256"],  # type: ignore[arg-type]
                          audience=self.issuer, issuer=self.client_id)

    def wsgi_app(self) -> Flask:
        app = Flask("devlms-platform")
        app.register_blueprint(self.blueprint())
        return app

    @contextmanager
    def serve(self, app: Flask | None = None, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve the platform (or ``app`` built around it) on a loopback port; yields its URL."""
        server = make_server(host, port, app or self.wsgi_app(), threaded=True)
        self.attach_url(f"http://{host}:{server.server_port}")
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self.url
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)

    # ---- client side: drive a launch with requests -----------------------------------------------
    def login_params(self, hint: str, **extra: str) -> dict[str, str]:
        params = {
            "iss": self.issuer,
            "login_hint": "user-hint",
            "target_link_uri": self.tool_url + "/lti/launch",
            "client_id": self.client_id,
            "lti_deployment_id": self.deployment_id,
            "lti_message_hint": hint,
        }
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def start_login(self, http: requests.Session, spec: LaunchSpec | None = None, *, method: str = "GET",
                    **extra: str) -> dict[str, str]:
        """The tool's login step only: returns the authorization request's query (state, nonce, ...)."""
        hint = self.new_spec(spec or LaunchSpec())
        params = self.login_params(hint, **extra)
        if method == "POST":
            resp = http.post(self.tool_url + "/lti/login", data=params, allow_redirects=False, timeout=10)
        else:
            resp = http.get(self.tool_url + "/lti/login", params=params, allow_redirects=False, timeout=10)
        if resp.status_code == 302:
            query = parse_qs(urlparse(resp.headers["Location"]).query)
            return {k: v[0] for k, v in query.items()}
        if resp.status_code == 200 and "lti-login" in resp.text:
            m = re.search(r'<script type="application/json" id="lti-login">(.*?)</script>', resp.text, re.S)
            data = json.loads(m.group(1)) if m else {}
            query = parse_qs(urlparse(data.get("redirect", "")).query)
            return {k: v[0] for k, v in query.items()}
        raise AssertionError(f"login answered {resp.status_code}: {resp.text[:300]}")

    def post_launch(self, http: requests.Session, fields: dict[str, str]) -> LaunchResult:
        resp = http.post(self.tool_url + "/lti/launch", data=fields, allow_redirects=False, timeout=10)
        return LaunchResult(response=resp, html=resp.text, token=session_token_of(resp.text),
                            state=fields.get("state"))

    def launch(self, role: str = STUDENT, *, http: requests.Session | None = None,
               message_type: str = c.RESOURCE_LINK_REQUEST, claims: dict[str, Any] | None = None,
               login_method: str = "GET", storage_target: str | None = None, locale: str = "en",
               resource_link_id: str | None = None, **claim_overrides: Any) -> LaunchResult:
        """A full launch like a browser: login -> platform auth (real HTTP) -> id_token POST to the tool.

        ``locale`` goes into ``launch_presentation.locale`` and the ``locale`` claim (``"zh-CN"``: Chinese pages).
        ``resource_link_id``: one of ``course.links`` (default: the first).
        ``claims`` (and simple ``claim_overrides`` such as ``sub=``, ``name=``) replace claims; REMOVE deletes.
        """
        own = http is None
        http = http or requests.Session()
        try:
            spec = LaunchSpec(role=role, message_type=message_type, claims={**(claims or {}), **claim_overrides},
                              storage_target=storage_target, locale=locale, resource_link_id=resource_link_id)
            hint = self.new_spec(spec)
            params = self.login_params(hint)
            if storage_target:
                params["lti_storage_target"] = storage_target
            if login_method == "POST":
                resp = http.post(self.tool_url + "/lti/login", data=params, timeout=10)
            else:
                resp = http.get(self.tool_url + "/lti/login", params=params, timeout=10)
            if storage_target and resp.ok:  # the login page stores state client-side, then goes to the platform
                m = re.search(r'<script type="application/json" id="lti-login">(.*?)</script>', resp.text, re.S)
                if m:
                    resp = http.get(json.loads(m.group(1))["redirect"], timeout=10)
            form = parse_html(resp.text).forms
            if resp.status_code != 200 or not form or "id_token" not in form[0]["fields"]:
                return LaunchResult(response=resp, html=resp.text, token=None)
            fields = form[0]["fields"]
            result = http.post(form[0]["action"], data=fields, allow_redirects=False, timeout=10)
            nonce = jwt.decode(fields["id_token"], options={"verify_signature": False}).get("nonce")
            return LaunchResult(response=result, html=result.text, token=session_token_of(result.text),
                                state=fields.get("state"), nonce=nonce)
        finally:
            if own:
                http.close()

    def launch_url_for_browser(self, role: str, message_type: str = c.RESOURCE_LINK_REQUEST,
                               resource_link_id: str | None = None, locale: str = "en",
                               storage_target: str | None = None) -> str:
        """A tool login URL a browser can follow (the simulator's launch buttons). ``storage_target``: offer LTI
        client-side storage in the platform frame of that name (as Canvas does with ``post_message_forwarding``)."""
        hint = self.new_spec(LaunchSpec(role=role, message_type=message_type, resource_link_id=resource_link_id,
                                        locale=locale, storage_target=storage_target))
        return self.tool_url + "/lti/login?" + urlencode(self.login_params(hint, lti_storage_target=storage_target))


STORAGE_FRAME = "post_message_forwarding"

STORAGE_COURSE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Course (client-side storage)</title></head><body>
<iframe name="{{ frame_name }}" src="{{ frame_url }}" title="Platform storage" hidden></iframe>
<iframe name="tool" title="The tool" style="width:100%;height:90vh;border:0"></iframe>
<script>
  // The tool's login starts once the storage frame listens, as an LMS page loads its frames first.
  document.querySelector("iframe[name={{ frame_name }}]").addEventListener("load", function () {
    document.querySelector("iframe[name=tool]").src = {{ login_url | tojson }};
  });
</script></body></html>"""

STORAGE_FRAME_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Storage</title></head><body>
<script>
  // Data is kept per origin and key; only the tool's origin is answered, and answers go back to that origin only.
  window.ltiStore = {};
  window.ltiRefused = [];
  var acceptOrigin = {{ accept_origin | tojson }};
  var tamper = {{ "true" if tamper else "false" }};
  window.addEventListener("message", function (event) {
    var m = event.data;
    if (!m || typeof m !== "object" || typeof m.subject !== "string") return;
    if (event.origin !== acceptOrigin) { window.ltiRefused.push(event.origin); return; }
    var store = window.ltiStore[event.origin] = window.ltiStore[event.origin] || {};
    var answer = { subject: m.subject + ".response", message_id: m.message_id, key: m.key };
    if (typeof m.key !== "string" || !m.key) {
      answer.error = { code: "bad_request", message: "a key is required" };
    } else if (m.subject === "lti.put_data") {
      store[m.key] = m.value;
      answer.value = m.value;
    } else if (m.subject === "lti.get_data") {
      if (!(m.key in store)) answer.error = { code: "bad_request", message: "no value for this key" };
      else answer.value = tamper && m.key.indexOf("state_") === 0 ? store[m.key] + "-tampered" : store[m.key];
    } else {
      answer.error = { code: "unsupported_subject", message: "unsupported subject " + m.subject };
    }
    event.source.postMessage(answer, event.origin);
  });
</script></body></html>"""

AUTOPOST = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Launching…</title></head><body>
<form id="autopost" method="post" action="{{ action }}">
{% for name, value in fields.items() %}<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}<noscript><button type="submit">Continue</button></noscript></form>
<script>document.getElementById("autopost").submit();</script></body></html>"""

DL_DONE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Added</title></head><body>
<h1>The LMS received the tool's deep linking response</h1>
{% for item in claims.get("https://purl.imsglobal.org/spec/lti-dl/claim/content_items", []) %}
<p class="item">Added <strong>{{ item.title }}</strong> (custom: {{ item.custom }}{% if item.lineItem %},
 graded out of {{ item.lineItem.scoreMaximum }}{% endif %}).</p>
{% else %}<p>Nothing was added.</p>{% endfor %}
<p><a href="{{ platform_url }}/course" target="_top">Back to the course</a></p></body></html>"""
