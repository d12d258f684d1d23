"""``adaptive-lti dev``: the tool and the LMS simulator side by side, for a newcomer's first launch."""

from __future__ import annotations

import threading
from pathlib import Path

import click
from werkzeug.serving import make_server

from lti_tool.cli import Ctx, pass_ctx

KEY_FILE = "devlms-platform-key.pem"


def _platform_key(instance: Path):
    """The simulator's RSA key, kept in the instance folder so restarts keep the same kid."""
    import hashlib
    import json

    from cryptography.hazmat.primitives import serialization
    from jwt.algorithms import RSAAlgorithm

    from lti_tool.devlms.platform import RsaKey

    path = instance / KEY_FILE
    if path.exists():
        pem = path.read_bytes()
        private = serialization.load_pem_private_key(pem, password=None)
        kid = hashlib.sha256(pem).hexdigest()[:16]
        jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))  # type: ignore[arg-type]
        jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
        return RsaKey(kid=kid, private_pem=pem, public_jwk=jwk)
    key = RsaKey.generate()
    instance.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_pem)
    path.chmod(0o600)
    return _platform_key(instance)


def _load_demo_content(session) -> str | None:
    try:
        from lti_tool.services.items import load_sample_bank  # provided by the item bank subsystem
    except ImportError:
        return None
    bank = load_sample_bank(session)
    return getattr(bank, "title", None) or getattr(bank, "slug", None) or "sample bank"


@click.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True, help="The tool's port; the LMS uses PORT+1")
@pass_ctx
def dev(obj: Ctx, host: str, port: int) -> None:
    """Run the tool and a built-in LMS simulator (development only), registered with each other."""
    from lti_tool.app import create_app
    from lti_tool.devlms.app import create_devlms_app
    from lti_tool.devlms.platform import Platform
    from lti_tool.services import keys

    settings = obj.settings
    if settings.is_production:
        raise click.ClickException("`adaptive-lti dev` refuses to run with ADAPTIVE_LTI_ENV=production: "
                                   "it registers a simulated LMS that anyone could use to sign in.")
    public_host = "localhost" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - display only
    tool_url = f"http://{public_host}:{port}"
    lms_url = f"http://{public_host}:{port + 1}"
    settings = settings.model_copy(update={"base_url": tool_url})
    platform = Platform(tool_url=tool_url, keys=[_platform_key(settings.instance_path)],
                        client_id="adaptive-lti-devlms", deployment_id="devlms-deployment-1",
                        name="LMS simulator (development)")
    platform.attach_url(lms_url)
    with obj.db.session() as session:
        keys.ensure_active_key(session, settings.secret())
        reg = platform.register_in(session)
        reg.jwks_cache = None  # the simulator may have a new key; fetch it on the first launch
        reg.jwks_fetched_at = None
        demo = _load_demo_content(session)

    tool_server = make_server(host, port, create_app(settings, database=obj.db), threaded=True)
    lms_server = make_server(host, port + 1, create_devlms_app(tool_url, platform=platform), threaded=True)
    thread = threading.Thread(target=tool_server.serve_forever, daemon=True)
    thread.start()
    click.echo(
        "\nadaptive-lti is running (development mode).\n"
        f"  Tool:          {tool_url}\n"
        f"  LMS simulator: {lms_url}\n"
        + (f"  Demo content:  {demo}\n" if demo else "")
        + f"\n  Open {lms_url}/course and click \"Launch as student\" or \"Launch as instructor\".\n"
        "  Press Ctrl+C to stop.\n"
    )
    try:
        lms_server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        tool_server.shutdown()
        tool_server.server_close()
        lms_server.server_close()
        thread.join(5)
