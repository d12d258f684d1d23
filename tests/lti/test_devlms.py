"""The LMS simulator (as a newcomer uses it) and the `adaptive-lti dev` command."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import requests
from click.testing import CliRunner

from lti_tool import migrate
from lti_tool.cli import main
from lti_tool.devlms.app import create_devlms_app
from lti_tool.devlms.platform import Platform, parse_html, session_token_of
from lti_tool.lti.session import verify_token

from ..conftest import TEST_SECRET


def _follow_button(http, lms_url, page, label):
    href = re.search(r'href="([^"]+)">' + re.escape(label), page).group(1)
    resp = http.get(lms_url + href.replace("&amp;", "&"))  # -> tool login -> platform auth -> autopost form
    form = parse_html(resp.text).forms[0]
    return http.post(form["action"], data=form["fields"])


def test_simulator_course_page_buttons_launch_the_tool(tool_server, db, rsa_keys, http):
    platform = Platform(tool_url=tool_server.url, keys=[rsa_keys[2]])
    with platform.serve(create_devlms_app(tool_server.url, platform=platform)) as lms_url:
        with db.session() as s:
            platform.register_in(s)
        page = http.get(lms_url + "/course").text
        assert "Launch as student" in page
        student = _follow_button(http, lms_url, page, "Launch as student")
        assert student.status_code == 200
        assert "Ada Lovelace" in student.text
        assert session_token_of(student.text)
        chinese = _follow_button(http, lms_url, page, "Launch as student (中文)")
        assert chinese.status_code == 200
        assert verify_token(session_token_of(chinese.text), secret=TEST_SECRET).locale == "zh-CN"
        assert "检查答案" in chinese.text
        teacher = _follow_button(http, lms_url, page, "Launch as instructor")
        assert "instructor-home" in teacher.text
        picker = _follow_button(http, lms_url, page, "Deep link as instructor")
        chosen = next(f for f in parse_html(picker.text).forms if f["fields"].get("activity"))
        answer = http.post(tool_server.url + chosen["action"], data=dict(chosen["fields"], title="Quiz A"))
        back = parse_html(answer.text).forms[0]
        done = http.post(back["action"], data=back["fields"])
        assert "Quiz A" in done.text
        assert "Quiz A" in http.get(lms_url + "/course").text  # the new link has its own launch buttons


def test_dev_refuses_production(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_LTI_ENV", "production")
    monkeypatch.setenv("ADAPTIVE_LTI_BASE_URL", "https://tool.example")
    monkeypatch.setenv("ADAPTIVE_LTI_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("ADAPTIVE_LTI_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    result = CliRunner().invoke(main, ["dev"])
    assert result.exit_code != 0
    assert "production" in result.output


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
        with socket.socket() as b:
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


def _wait_for(url: str, proc: subprocess.Popen) -> requests.Response | None:
    """GET ``url`` once the server answers; None when the process has exited first (or after 60 s)."""
    deadline = time.time() + 60
    while True:
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            if proc.poll() is not None or time.time() > deadline:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(10)
                return None
            time.sleep(0.2)


def test_dev_command_end_to_end(tmp_path):
    """What `make run` does after `db upgrade`: both servers up, the printed URL launches the tool."""
    url = f"sqlite:///{tmp_path}/dev.db"
    migrate.upgrade(url)
    env = {**os.environ, "ADAPTIVE_LTI_DATABASE_URL": url, "ADAPTIVE_LTI_INSTANCE_PATH": str(tmp_path),
           "ADAPTIVE_LTI_ENV": "development", "ADAPTIVE_LTI_LOG_LEVEL": "WARNING"}
    env.pop("ADAPTIVE_LTI_BASE_URL", None)
    for attempt in range(3):  # a port found free can be taken (e.g. as another socket's local port) before use
        port = _free_port_pair()
        cmd = [sys.executable, "-c", "from lti_tool.cli import main; main()", "dev", "--port", str(port)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lms_url = f"http://127.0.0.1:{port + 1}"
        page = _wait_for(lms_url + "/course", proc)
        if page is not None:
            break
        out = proc.stdout.read() if proc.stdout else ""
        if "Address already in use" not in out or attempt == 2:
            raise AssertionError(out)
    try:
        with requests.Session() as http:
            student = _follow_button(http, lms_url, page.text, "Launch as student")
            assert student.status_code == 200, student.text
            assert "Signed in as" in student.text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"{lms_url}/course" in out
    assert "Launch as student" in out
