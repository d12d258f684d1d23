"""TeX in items renders with the bundled KaTeX: files are served by the app (no CDN) and a real browser renders."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from flask import render_template_string

from tests.conftest import LiveServer

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">{% include "items/_katex.html" %}</head>
<body><div class="item-content" id="stem">{{ stem | safe }}</div>
<p id="plain">Costs $5 and $6, \\(not rendered\\) outside item content.</p></body></html>"""

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def page_app(app):
    from lti_tool.services import items as svc
    from lti_tool.services.answers import make_variant

    @app.get("/_test/katex")
    def katex_page():
        from lti_tool.db import get_session

        session = get_session()
        bank = svc.load_sample_bank(session)
        session.commit()
        item = next(i for i in svc.bank_items(session, bank.id) if i.key == "simplify-template")
        return render_template_string(PAGE, stem=make_variant(item, 3).stem["zh_CN"])

    return app


def test_partial_links_only_local_assets(page_app):
    client = page_app.test_client()
    html = client.get("/_test/katex").get_data(as_text=True)
    for asset in ("vendor/katex/katex.min.css", "vendor/katex/katex.min.js",
                  "vendor/katex/contrib/auto-render.min.js", "items.js"):
        assert f"/static/{asset}" in html
        resp = client.get(f"/static/{asset}")
        assert resp.status_code == 200
        assert len(resp.data) > 500
        resp.close()
    assert "cdn" not in html.lower()
    assert "onload" not in html
    assert "<script>" not in html
    font = client.get("/static/vendor/katex/fonts/KaTeX_Main-Regular.woff2")
    assert font.status_code == 200
    font.close()


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed")
def test_chromium_renders_the_maths(page_app, tmp_path):
    with LiveServer(page_app) as server:
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
             f"{server.url}/_test/katex"],
            capture_output=True, text=True, timeout=90, check=False,
        )
    dom = out.stdout
    assert 'id="stem"' in dom, out.stderr[-2000:]
    stem = dom.split('id="stem"', 1)[1].split('id="plain"', 1)[0]
    assert 'class="katex"' in stem  # rendered
    assert "<math" in stem  # MathML for screen readers
    assert "mfrac" in stem
    assert "\\frac" not in stem.split("<annotation", 1)[0]  # the source is gone from the visible part
    plain = dom.split('id="plain"', 1)[1]
    assert "\\(not rendered\\)" in plain.split("</p>", 1)[0]  # only item content is rendered
