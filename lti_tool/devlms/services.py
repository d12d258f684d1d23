"""The fake LMS's LTI Advantage services: token endpoint, NRPS and AGS, with failure injection.

It behaves like the real platforms where it matters to a tool (see docs/grades.md and lti-pitfalls.md):

* ``flavor="moodle"``: the token endpoint answers JSON with ``Content-Type: text/html``; line item URLs carry a
  query string (``.../lineitems/7/lineitem?type_id=1``, so ``/scores`` must go into the path before it); a second
  score for a user in the same second gets 409; users named in :meth:`reject_user` get 400 (not gradable).
* ``flavor="canvas"``: NRPS pages by 50 with one ``Link`` line listing current, next, first and last; a score older
  than the result's last update gets 400 "before last updated timestamp"; test students get 422.
* Failure injection (:meth:`fail`, :meth:`down`/:meth:`up`, :meth:`delay`, :meth:`drop`): 500/503 with
  ``Retry-After``, 429, slow answers (client timeouts) and dropped connections, per endpoint kind.

Everything received is recorded (:attr:`LmsServices.received`, :meth:`scores_for`), so tests assert on what the
LMS got. Mount it with ``app.register_blueprint(services.blueprint())`` (the dev LMS does), or serve it alone with
:meth:`LmsServices.serve` on a loopback port.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.serving import make_server

SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_RO = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_RO = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
KINDS = ("token", "nrps", "lineitems", "scores", "results")


@dataclass
class Received:
    kind: str
    method: str
    path: str
    query: str
    body: Any
    headers: dict[str, str]
    status: int = 0
    at: float = field(default_factory=time.time)


@dataclass
class Rule:
    kind: str
    action: str  # status | delay | drop | hold
    status: int = 503
    times: int | None = 1  # None: until up()
    retry_after: str | None = None
    seconds: float = 0.0
    body: str = ""


def _parse_ts(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        ts = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


class LmsServices:
    """State of the fake LMS services; thread-safe (the server is threaded)."""

    def __init__(self, *, flavor: str = "generic", page_size: int | None = None, link_quoted: bool = True,
                 token_lifetime: int = 3600, tool_jwks: list[dict[str, Any]] | None = None,
                 tool_jwks_url: str | None = None) -> None:
        if flavor not in ("generic", "moodle", "canvas"):
            raise ValueError(flavor)
        self.flavor = flavor
        self.page_size = page_size or (50 if flavor == "canvas" else 10)
        self.link_quoted = link_quoted
        self.token_lifetime = token_lifetime
        self.tool_jwks = tool_jwks  # verify client assertions against these keys when given
        self.tool_jwks_url = tool_jwks_url  # ...or against the tool's published JWKS (fetched on an unknown kid)
        self.received: list[Received] = []
        self.rules: list[Rule] = []
        self.tokens: dict[str, dict[str, Any]] = {}  # token -> {client_id, scopes, expires}
        self.members: dict[str, list[dict[str, Any]]] = {}
        self.changes: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.lineitems: dict[str, dict[str, dict[str, Any]]] = {}
        self.results: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.rejected_users: dict[str, tuple[int, str]] = {}
        self.ignored_scores: list[dict[str, Any]] = []  # older than the result on record (AGS: not applied)
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}  # per scores URL path: >1 means parallel posts to a line item
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._released = threading.Event()
        self.url = ""

    # ---- setup -------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything received and stored (line items, results, tokens, rules); keep the URL and flavor."""
        with self._lock:
            self.received, self.rules, self.tokens = [], [], {}
            self.members, self.changes, self.lineitems, self.results = {}, {}, {}, {}
            self.rejected_users, self.ignored_scores = {}, []
            self.in_flight, self.max_in_flight = {}, {}

    def set_members(self, context_id: str, members: list[dict[str, Any]]) -> None:
        """Replace a course's roster; changes are remembered for ``differences`` links."""
        with self._lock:
            old = {m["user_id"]: m for m in self.members.get(context_id, [])}
            new = {m["user_id"]: {"status": "Active", **m} for m in members}
            seq = next(self._seq)
            log = self.changes.setdefault(context_id, [])
            for uid, m in new.items():
                if old.get(uid) != m:
                    log.append((seq, m))
            for uid, m in old.items():
                if uid not in new:
                    log.append((seq, {**m, "status": "Deleted"}))
            self.members[context_id] = list(new.values())

    def reject_user(self, user_id: str, status: int | None = None, message: str | None = None) -> None:
        """Scores for ``user_id`` are refused: Moodle 400 (not gradable) / Canvas 422 (Test Student)."""
        status = status or (422 if self.flavor == "canvas" else 400)
        message = message or ("Test Student cannot be graded" if status == 422 else "User is not gradable")
        with self._lock:
            self.rejected_users[user_id] = (status, message)

    def fail(self, kind: str, status: int = 503, *, times: int | None = 1, retry_after: str | int | None = None,
             body: str = "") -> None:
        self._add(Rule(kind, "status", status=status, times=times,
                       retry_after=None if retry_after is None else str(retry_after), body=body))

    def down(self, status: int = 503, *, retry_after: str | int | None = None) -> None:
        """Every service answers ``status`` until :meth:`up`."""
        for kind in KINDS:
            self.fail(kind, status, times=None, retry_after=retry_after)

    def up(self) -> None:
        with self._lock:
            self.rules.clear()

    def delay(self, kind: str, seconds: float, *, times: int | None = 1) -> None:
        """Answer slowly (the request is still processed afterwards, as a slow LMS would)."""
        self._add(Rule(kind, "delay", seconds=seconds, times=times))

    def hold(self, kind: str, *, times: int | None = 1) -> None:
        """Keep the request waiting at the LMS until :meth:`release` (then process it, as a slow LMS would):
        a request still in flight when its client is gone, landing whenever the test says."""
        with self._lock:
            self._released.clear()
        self._add(Rule(kind, "hold", times=times))

    def release(self) -> None:
        self._released.set()

    def drop(self, kind: str, *, times: int | None = 1) -> None:
        """Close the connection without answering (the request is not processed)."""
        self._add(Rule(kind, "drop", times=times))

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def override(self, context_id: str, lineitem_id: str, user_id: str, score: float,
                 maximum: float | None = None) -> None:
        """An instructor changes the grade in the LMS gradebook."""
        with self._lock:
            item = self._item(context_id, lineitem_id)
            key = (context_id, str(lineitem_id), user_id)
            prev = self.results.get(key, {})
            self.results[key] = {**prev, "resultScore": score,
                                 "resultMaximum": maximum or item.get("scoreMaximum", 100),
                                 "updated_at": dt.datetime.now(dt.UTC), "timestamp": dt.datetime.now(dt.UTC),
                                 "overridden": True}

    def _add(self, rule: Rule) -> None:
        if rule.kind not in KINDS:
            raise ValueError(rule.kind)
        with self._lock:
            self.rules.append(rule)

    # ---- what the LMS got -------------------------------------------------------------------------
    def requests_of(self, kind: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.kind == kind]

    def scores_for(self, context_id: str | None = None, lineitem_id: str | None = None,
                   user_id: str | None = None, *, accepted_only: bool = True) -> list[dict[str, Any]]:
        """Score bodies received (accepted ones only by default), in arrival order."""
        out = []
        for r in self.requests_of("scores"):
            if accepted_only and not 200 <= r.status < 300:
                continue
            ctx, li = r.path.split("/")[3], r.path.split("/")[5]
            if context_id is not None and ctx != context_id:
                continue
            if lineitem_id is not None and li != str(lineitem_id):
                continue
            if user_id is not None and r.body.get("userId") != user_id:
                continue
            out.append(r.body)
        return out

    def lineitems_of(self, context_id: str) -> dict[str, dict[str, Any]]:
        """A copy of the course's line items: {lineitem id: line item}."""
        with self._lock:
            return {k: dict(v) for k, v in self.lineitems.get(context_id, {}).items()}

    def results_of(self, context_id: str) -> dict[tuple[str, str], dict[str, Any]]:
        """A copy of the course's results: {(lineitem id, userId): result}."""
        with self._lock:
            return {(k[1], k[2]): dict(v) for k, v in self.results.items() if k[0] == context_id}

    def gradebook(self, context_id: str, lineitem_id: str) -> dict[str, float]:
        """userId -> the score the LMS now shows."""
        with self._lock:
            return {k[2]: v["resultScore"] for k, v in self.results.items()
                    if k[0] == context_id and k[1] == str(lineitem_id)}

    def lineitem_url(self, context_id: str, lineitem_id: str) -> str:
        base = f"{self.url}/ags/contexts/{context_id}/lineitems/{lineitem_id}"
        return base + "/lineitem?type_id=1" if self.flavor == "moodle" else base

    def lineitems_url(self, context_id: str) -> str:
        suffix = "?type_id=1" if self.flavor == "moodle" else ""
        return f"{self.url}/ags/contexts/{context_id}/lineitems{suffix}"

    def memberships_url(self, context_id: str) -> str:
        return f"{self.url}/nrps/contexts/{context_id}/memberships"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def _item(self, context_id: str, lineitem_id: str) -> dict[str, Any]:
        items = self.lineitems.setdefault(context_id, {})
        if str(lineitem_id) not in items:  # made by the platform (e.g. when the activity was created)
            items[str(lineitem_id)] = {"id": self.lineitem_url(context_id, lineitem_id), "scoreMaximum": 100,
                                       "label": f"Item {lineitem_id}", "resourceLinkId": str(lineitem_id)}
        return items[str(lineitem_id)]

    # ---- HTTP -----------------------------------------------------------------------------------
    def blueprint(self) -> Blueprint:
        bp = Blueprint("lms_services", __name__)
        svc = self

        @bp.post("/token")
        def token():
            return svc._handle("token", svc._token)

        @bp.get("/nrps/contexts/<ctx>/memberships")
        def memberships(ctx):
            return svc._handle("nrps", lambda: svc._memberships(ctx))

        @bp.route("/ags/contexts/<ctx>/lineitems", methods=["GET", "POST"])
        def lineitems(ctx):
            return svc._handle("lineitems", lambda: svc._lineitems(ctx))

        @bp.route("/ags/contexts/<ctx>/lineitems/<li>", methods=["GET", "PUT"])
        @bp.route("/ags/contexts/<ctx>/lineitems/<li>/lineitem", methods=["GET", "PUT"])
        def lineitem(ctx, li):
            return svc._handle("lineitems", lambda: svc._lineitem(ctx, li))

        @bp.post("/ags/contexts/<ctx>/lineitems/<li>/scores")
        @bp.post("/ags/contexts/<ctx>/lineitems/<li>/lineitem/scores")
        def scores(ctx, li):
            return svc._handle("scores", lambda: svc._score(ctx, li))

        @bp.get("/ags/contexts/<ctx>/lineitems/<li>/results")
        @bp.get("/ags/contexts/<ctx>/lineitems/<li>/lineitem/results")
        def results(ctx, li):
            return svc._handle("results", lambda: svc._results(ctx, li))

        @bp.before_app_request
        def _learn_url() -> None:
            if not svc.url:
                svc.url = request.host_url.rstrip("/")

        return bp

    def _handle(self, kind: str, fn) -> Response:
        body: Any
        if request.is_json or (request.content_type or "").endswith("+json"):
            body = request.get_json(force=True, silent=True)
        elif request.form:
            body = {k: ("[assertion]" if k == "client_assertion" else v) for k, v in request.form.items()}
        else:
            body = None
        record = Received(kind, request.method, request.path, request.query_string.decode(), body,
                          {k: v for k, v in request.headers.items() if k.lower() != "authorization"})
        with self._lock:
            self.received.append(record)
            rule = next((r for r in self.rules if r.kind == kind), None)
            if rule is not None and rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self.rules.remove(rule)
        if kind == "scores":
            with self._lock:
                self.in_flight[request.path] = self.in_flight.get(request.path, 0) + 1
                self.max_in_flight[request.path] = max(self.max_in_flight.get(request.path, 0),
                                                       self.in_flight[request.path])
        try:
            return self._respond(kind, fn, rule, record)
        finally:
            if kind == "scores":
                with self._lock:
                    self.in_flight[request.path] -= 1

    def _respond(self, kind: str, fn, rule: Rule | None, record: Received) -> Response:
        if rule is not None and rule.action == "drop":
            record.status = -1
            sock = request.environ.get("werkzeug.socket")
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
            return Response("", status=500)
        if rule is not None and rule.action == "status":
            record.status = rule.status
            headers = {"Retry-After": rule.retry_after} if rule.retry_after is not None else {}
            return Response(rule.body or f"injected {rule.status}", status=rule.status, headers=headers)
        if rule is not None and rule.action == "delay":
            time.sleep(rule.seconds)
        if rule is not None and rule.action == "hold":
            self._released.wait(60)
        if kind != "token":
            error = self._check_token(kind)
            if error is not None:
                record.status = error.status_code
                return error
        response = fn()
        record.status = response.status_code
        return response

    def _check_token(self, kind: str) -> Response | None:
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            grant = self.tokens.get(token)
        if grant is None or grant["expires"] < time.time():
            return Response("invalid or expired access token", status=401)
        needed = {"nrps": {SCOPE_NRPS}, "scores": {SCOPE_SCORE}, "results": {SCOPE_RESULT_RO},
                  "lineitems": {SCOPE_LINEITEM, SCOPE_LINEITEM_RO}}[kind]
        if kind == "lineitems" and request.method != "GET":
            needed = {SCOPE_LINEITEM}
        if not needed & set(grant["scopes"]):
            return Response("scope not granted for this request", status=403)
        return None

    def _token(self) -> Response:
        form = request.form
        if form.get("grant_type") != "client_credentials" or form.get("client_assertion_type") != (
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"):
            return Response(json.dumps({"error": "unsupported_grant_type"}), status=400,
                            content_type="application/json")
        assertion = form.get("client_assertion", "")
        try:
            if self.tool_jwks or self.tool_jwks_url:
                jwk = self._tool_key(jwt.get_unverified_header(assertion).get("kid"))
                if jwk is None:
                    raise jwt.InvalidKeyError("unknown kid")
                claims = jwt.decode(assertion, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=self.token_url)
            else:
                claims = jwt.decode(assertion, options={"verify_signature": False, "verify_aud": False})
        except (jwt.PyJWTError, StopIteration):
            return Response(json.dumps({"error": "invalid_client"}), status=401, content_type="application/json")
        if claims.get("iss") != claims.get("sub") or not claims.get("jti"):
            return Response(json.dumps({"error": "invalid_client"}), status=401, content_type="application/json")
        scopes = [s for s in (form.get("scope") or "").split() if s]
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = {"client_id": claims["iss"], "scopes": scopes,
                                  "expires": time.time() + self.token_lifetime}
        body = json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime,
                           "scope": " ".join(scopes)})
        ctype = "text/html; charset=utf-8" if self.flavor == "moodle" else "application/json"
        return Response(body, status=200, content_type=ctype)

    def _tool_key(self, kid: Any) -> dict[str, Any] | None:
        """The tool's public key ``kid``: from ``tool_jwks``, else (re)fetched from ``tool_jwks_url``."""
        for key in self.tool_jwks or []:
            if key.get("kid") == kid:
                return key
        if not self.tool_jwks_url:
            return None
        import requests

        try:
            self.tool_jwks = list(requests.get(self.tool_jwks_url, timeout=5).json().get("keys") or [])
        except (requests.RequestException, ValueError, AttributeError):
            return None
        return next((k for k in self.tool_jwks if k.get("kid") == kid), None)

    # NRPS
    def _memberships(self, ctx: str) -> Response:
        page = int(request.args.get("page", "1"))
        cursor = request.args.get("cursor")
        if page > 1 and cursor != f"Pg{page}Xy":  # case-sensitive: a client that lower-cases the URL breaks
            return Response("bad cursor", status=400)
        since = request.args.get("since")
        rlid = request.args.get("rlid")
        with self._lock:
            if since is not None:
                latest: dict[str, dict[str, Any]] = {}
                for seq, m in self.changes.get(ctx, []):
                    if seq > int(since):
                        latest[m["user_id"]] = m
                members = list(latest.values())
            else:
                members = list(self.members.get(ctx, []))
            marker = max((seq for seq, _ in self.changes.get(ctx, [])), default=0)
        if rlid:
            members = [m for m in members if rlid in m.get("resource_links", [rlid])]
        members = [{k: v for k, v in m.items() if k != "resource_links"} for m in members]
        size = self.page_size
        pages = max(1, -(-len(members) // size))
        chunk = members[(page - 1) * size: page * size]
        base = self.memberships_url(ctx)
        keep = {k: v for k, v in request.args.items() if k in ("rlid", "since")}

        def page_url(n: int) -> str:
            params = dict(keep, page=str(n))
            if n > 1:
                params["cursor"] = f"Pg{n}Xy"
            return f"{base}?{urlencode(params)}"

        def link(url: str, rel: str) -> str:
            return f'<{url}>; rel="{rel}"' if self.link_quoted else f"<{url}>; rel={rel}"

        links = []
        if self.flavor == "canvas":
            links.append(link(page_url(page), "current"))
        if page < pages:
            links.append(link(page_url(page + 1), "next"))
        if self.flavor == "canvas":
            links += [link(page_url(1), "first"), link(page_url(pages), "last")]
        if page >= pages:
            links.append(link(f"{base}?{urlencode({'since': marker})}", "differences"))
        body = {"id": request.url, "context": {"id": ctx, "title": f"Course {ctx}"}, "members": chunk}
        resp = Response(json.dumps(body), status=200,
                        content_type="application/vnd.ims.lti-nrps.v2.membershipcontainer+json")
        if links:
            resp.headers["Link"] = ",".join(links) if self.flavor == "canvas" else ", ".join(links)
        return resp

    # AGS
    def _moodle_query_ok(self) -> bool:
        return self.flavor != "moodle" or request.args.get("type_id") == "1"

    def _lineitems(self, ctx: str) -> Response:
        if not self._moodle_query_ok():
            return Response("missing type_id", status=404)
        with self._lock:
            items = self.lineitems.setdefault(ctx, {})
            if request.method == "POST":
                data = request.get_json(force=True, silent=True) or {}
                if not data.get("label") or data.get("scoreMaximum") is None:
                    return Response("label and scoreMaximum are required", status=400)
                li = str(next(self._ids) + 1000)
                item = {**data, "id": self.lineitem_url(ctx, li)}
                items[li] = item
                return Response(json.dumps(item), status=201,
                                content_type="application/vnd.ims.lis.v2.lineitem+json")
            found = list(items.values())
        filters = {"resource_id": "resourceId", "tag": "tag", "resource_link_id": "resourceLinkId"}
        for arg, key in filters.items():
            if request.args.get(arg):
                found = [i for i in found if str(i.get(key)) == request.args[arg]]
        return Response(json.dumps(found), status=200,
                        content_type="application/vnd.ims.lis.v2.lineitemcontainer+json")

    def _lineitem(self, ctx: str, li: str) -> Response:
        with self._lock:
            item = self._item(ctx, li)
            if request.method == "PUT":
                item.update({k: v for k, v in (request.get_json(force=True, silent=True) or {}).items()
                             if k != "id"})
            return jsonify(item)

    def _score(self, ctx: str, li: str) -> Response:
        if not self._moodle_query_ok():
            return Response("missing type_id", status=404)
        if "score+json" not in (request.content_type or ""):
            return Response("unsupported content type", status=415)
        data = request.get_json(force=True, silent=True) or {}
        user = data.get("userId")
        ts = _parse_ts(data.get("timestamp"))
        if not user or ts is None:
            return Response("userId and a valid timestamp are required", status=400)
        if data.get("scoreGiven") is not None and data.get("scoreMaximum") is None:
            return Response("ScoreMaximum not supplied when ScoreGiven present.", status=422)
        with self._lock:
            if user in self.rejected_users:
                status, message = self.rejected_users[user]
                return Response(message, status=status)
            self._item(ctx, li)
            key = (ctx, str(li), user)
            prev = self.results.get(key)
            now = dt.datetime.now(dt.UTC)
            if self.flavor == "moodle" and prev and int(prev["timestamp"].timestamp()) >= int(ts.timestamp()):
                return Response("Refusing score with an earlier timestamp for item and user", status=409)
            if self.flavor == "canvas" and prev and prev["updated_at"] > ts:
                return Response(
                    f"Provided timestamp of {data['timestamp']} before last updated timestamp of "
                    f"{prev['updated_at'].isoformat(timespec='milliseconds')}", status=400)
            if prev and prev["timestamp"] > ts:  # AGS: never update a result with an older score
                self.ignored_scores.append(data)
                return Response("", status=200)
            self.results[key] = {"resultScore": data.get("scoreGiven"), "resultMaximum": data.get("scoreMaximum"),
                                 "comment": data.get("comment"), "timestamp": ts, "updated_at": now}
        if self.flavor == "canvas":
            return jsonify({"resultUrl": f"{self.lineitem_url(ctx, li)}/results/{user}"})
        return Response("", status=200)

    def _results(self, ctx: str, li: str) -> Response:
        if not self._moodle_query_ok():
            return Response("missing type_id", status=404)
        with self._lock:
            rows = [
                {"id": f"{self.lineitem_url(ctx, li)}/results/{k[2]}", "scoreOf": self.lineitem_url(ctx, li),
                 "userId": k[2], "resultScore": v["resultScore"], "resultMaximum": v["resultMaximum"],
                 **({"comment": v["comment"]} if v.get("comment") else {})}
                for k, v in self.results.items() if k[0] == ctx and k[1] == str(li)
            ]
        return Response(json.dumps(rows), status=200,
                        content_type="application/vnd.ims.lis.v2.resultcontainer+json")

    # ---- serving alone --------------------------------------------------------------------------
    @contextmanager
    def serve(self, host: str = "127.0.0.1") -> Iterator[LmsServices]:
        """Serve only these services on a loopback port (tests): ``with services.serve(): ...``."""
        app = Flask("fake_lms_services")
        app.register_blueprint(self.blueprint())
        server = make_server(host, 0, app, threaded=True)
        self.url = f"http://{host}:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
