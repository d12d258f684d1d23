"""CPU per LTI launch: our full launch against a bare pylti1p3 2.0.0 validation of the same id_token.

    .venv/bin/python bench/launch_speed.py                  # 300 launches, SQLite
    .venv/bin/python bench/launch_speed.py --profile /tmp/launch.prof   # + cProfile of our launch POSTs
    .venv/bin/python bench/launch_speed.py --profile /tmp/launch.txt    # + pyinstrument tree (pip install pyinstrument)

Everything runs in this process, on one thread, so the figures are that thread's CPU time (``time.thread_time``),
not wall-clock, and do not count waiting for a core on a shared machine:

- **ours, launch**: the id_token POST to ``/lti/launch`` through the Flask app (test client): validation (RS256
  signature, claims, registration, deployment), state and nonce consumed, user/course/membership/link rows
  written, the ``launch_validated`` receivers (grades, roster, practice), the session token, the student page.
- **ours, login**: the OIDC login request before it (``/lti/login``: state and nonce stored).
- **pylti1p3 validate** (the named baseline): pylti1p3 2.0.0 ``MessageLaunch.validate()`` of the same id_token with
  a dict ``ToolConfDict``, a minimal request adapter, state cookie and nonce in a dict session, and public-key
  caching on (its JWKS is fetched once). It writes nothing and renders nothing, and it does not consume the nonce
  or check ``azp``: a floor, not an equivalent.

The platform is ``lti_tool.devlms.platform.Platform`` (real RSA keys, JWKS over loopback HTTP); building and
signing each id_token is not measured. Launches rotate over the demo course's students (repeat launches, the
common case); the first launches (JWKS fetch, template compilation, first rows) are warm-up and not counted.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lti_tool import migrate
from lti_tool.app import create_app
from lti_tool.db import Database
from lti_tool.devlms.platform import STUDENT, LaunchSpec, Platform, RsaKey
from lti_tool.settings import Settings

SECRET = "bench-secret-key-that-is-long-enough-0123456789"
TOOL = "http://tool.bench"


# ------------------------------------------------------------------------------------------- pylti1p3
def pylti1p3_launcher(platform: Platform) -> Any:
    """A callable validating (id_token, state, nonce) with bare pylti1p3 2.0.0."""
    from pylti1p3.cookie import CookieService
    from pylti1p3.launch_data_storage.base import LaunchDataStorage
    from pylti1p3.message_launch import MessageLaunch
    from pylti1p3.request import Request
    from pylti1p3.session import SessionService
    from pylti1p3.tool_config import ToolConfDict

    class DictRequest(Request):
        def __init__(self, params: dict[str, str], session: dict[str, Any]) -> None:
            self._params, self._session = params, session

        @property
        def session(self) -> dict[str, Any]:
            return self._session

        def is_secure(self) -> bool:
            return False

        def get_param(self, key: str) -> str:
            return self._params.get(key, "")

    class DictCookies(CookieService):
        def __init__(self, cookies: dict[str, str]) -> None:
            self._cookies = cookies

        def get_cookie(self, name: str) -> str | None:
            return self._cookies.get(name)

        def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
            self._cookies[name] = str(value)

    class KeyCache(LaunchDataStorage[Any]):
        """Process-wide public-key cache (pylti1p3's ``set_public_key_caching``)."""

        def __init__(self) -> None:
            self.data: dict[str, Any] = {}

        def can_set_keys_expiration(self) -> bool:
            return True

        def get_value(self, key: str) -> Any:
            return self.data.get(self._prepare_key(key))

        def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
            self.data[self._prepare_key(key)] = value

        def check_value(self, key: str) -> bool:
            return self._prepare_key(key) in self.data

    class Launch(MessageLaunch):
        def _get_request_param(self, key: str) -> str:
            return self._request.get_param(key)

    tool_conf = ToolConfDict({platform.issuer: [{
        "default": True, "client_id": platform.client_id, "auth_login_url": platform.auth_login_url,
        "auth_token_url": platform.auth_token_url, "auth_audience": None, "key_set_url": platform.jwks_url,
        "key_set": None, "deployment_ids": [platform.deployment_id],
    }]})
    key_cache = KeyCache()

    def validate(id_token: str, state: str, nonce: str) -> dict[str, Any]:
        session: dict[str, Any] = {f"lti1p3-nonce-{nonce}": True}
        request = DictRequest({"id_token": id_token, "state": state}, session)
        launch = Launch(request, tool_conf, session_service=SessionService(request),
                        cookie_service=DictCookies({state: state}))
        launch.set_public_key_caching(key_cache, cache_lifetime=7200)
        return launch.validate().get_launch_data()

    return validate


# ------------------------------------------------------------------------------------------------ run
class _CProfile:
    def __init__(self) -> None:
        self.profile = cProfile.Profile()
        self.enable, self.disable = self.profile.enable, self.profile.disable

    def save(self, path: str) -> None:
        self.profile.dump_stats(path)


class _PyInstrument:
    def __init__(self) -> None:
        from pyinstrument import Profiler

        self.profiler = Profiler(interval=0.0002)
        self.session: Any = None

    def enable(self) -> None:
        self.profiler.start()

    def disable(self) -> None:
        self.profiler.stop()
        self.session = self.profiler.last_session if self.session is None else \
            type(self.session).combine(self.session, self.profiler.last_session)
        self.profiler.reset()

    def save(self, path: str) -> None:
        from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer

        renderer = HTMLRenderer() if path.endswith(".html") else ConsoleRenderer(unicode=True, short_mode=False)
        Path(path).write_text(renderer.render(self.session))


def make_profiler(path: str | None) -> Any:
    if not path:
        return None
    return _CProfile() if path.endswith(".prof") else _PyInstrument()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return (ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=300, help="measured launches (default 300)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile", metavar="FILE",
                        help="profile our launch POSTs: FILE.prof (cProfile) or FILE.txt/.html (pyinstrument)")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the platform's JWKS requests

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        settings = Settings(env="test", database_url=url, secret_key=SECRET, base_url=TOOL,
                            instance_path=Path(tmp) / "instance", log_level="WARNING")
        database = Database(url)
        app = create_app(settings, database=database)
        platform = Platform(tool_url=TOOL, keys=[RsaKey.generate(kid="bench-key")])
        students = [m.sub for m in platform.course.members if "Learner" in m.roles[0]]
        with platform.serve(), database.session() as s:
            platform.register_in(s)
            s.commit()
            pylti = pylti1p3_launcher(platform)
            client = app.test_client()
            profiler = make_profiler(args.profile)
            ours_login: list[float] = []
            ours_launch: list[float] = []
            bare: list[float] = []
            for i in range(args.warmup + args.n):
                spec = LaunchSpec(role=STUDENT, sub=students[i % len(students)])
                params = platform.login_params(platform.new_spec(spec))
                t0 = time.thread_time()
                login = client.get("/lti/login", query_string=params)
                t1 = time.thread_time()
                query = {k: v[0] for k, v in parse_qs(urlparse(login.headers["Location"]).query).items()}
                token = platform.sign(platform.claims_for(spec, query["nonce"]))
                form = {"id_token": token, "state": query["state"]}
                profiling = profiler is not None and i >= args.warmup
                if profiling:
                    profiler.enable()
                t2 = time.thread_time()
                response = client.post("/lti/launch", data=form)
                t3 = time.thread_time()
                if profiling:
                    profiler.disable()
                if response.status_code != 200 or b"adaptive-lti-session" not in response.data:
                    raise SystemExit(f"launch {i} failed: HTTP {response.status_code}\n{response.text[:800]}")
                t4 = time.thread_time()
                claims = pylti(token, query["state"], query["nonce"])
                t5 = time.thread_time()
                assert claims["sub"] == spec.sub
                if i >= args.warmup:
                    ours_login.append(t1 - t0)
                    ours_launch.append(t3 - t2)
                    bare.append(t5 - t4)
        database.dispose()
    if profiler is not None:
        profiler.save(args.profile)

    ours_total = [a + b for a, b in zip(ours_login, ours_launch, strict=True)]
    print(f"{args.n} launches (after {args.warmup} warm-up), SQLite, CPU time of this thread, ms")
    print(f"{'':34}{'p50':>8}{'p99':>8}{'mean':>8}")
    rows = [("ours: launch (id_token POST)", ours_launch), ("ours: login + launch", ours_total),
            ("ours: login", ours_login), ("pylti1p3 2.0.0 validate (baseline)", bare)]
    for name, values in rows:
        print(f"{name:34}{pct(values, 50):8.2f}{pct(values, 99):8.2f}{statistics.fmean(values) * 1000:8.2f}")
    print(f"ratio ours launch / pylti1p3 (p50): {pct(ours_launch, 50) / pct(bare, 50):.2f}x; "
          f"login + launch / pylti1p3: {pct(ours_total, 50) / pct(bare, 50):.2f}x")


if __name__ == "__main__":
    main()
