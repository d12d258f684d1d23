"""`make run` (adaptive-lti dev): a newcomer launches as a student from the LMS simulator, answers, and sees the
score arrive in the simulator's gradebook page, linked from the course page."""

from __future__ import annotations

import re

from lti_tool.devlms.app import create_devlms_app
from lti_tool.devlms.platform import Platform, parse_html, session_token_of
from lti_tool.services import keys
from tests.conftest import TEST_SECRET

from .conftest import run_jobs
from .test_api import right, wrong


def test_simulator_gradebook_shows_the_score_a_student_earned(tool_server, bank, rsa_keys, db, http):
    platform = Platform(tool_url=tool_server.url, keys=[rsa_keys[2]])
    with platform.serve(create_devlms_app(tool_server.url, platform=platform)) as lms_url:
        with db.session() as s:  # what `adaptive-lti dev` does first
            keys.ensure_active_key(s, TEST_SECRET)
            platform.register_in(s)
        course = http.get(lms_url + "/course").text
        href = re.search(r'href="([^"]+)">Launch as student</a>', course).group(1).replace("&amp;", "&")
        login = http.get(lms_url + href)  # -> tool login -> simulator auth -> the autopost form
        form = parse_html(login.text).forms[0]
        page = http.post(form["action"], data=form["fields"])
        token = session_token_of(page.text)
        assert token, page.text[:300]
        gradebook_href = re.search(r'href="([^"]+)">Gradebook</a>', course).group(1)
        assert "No grades yet" in http.get(lms_url + gradebook_href).text

        auth = {"Authorization": f"Bearer {token}"}
        item = http.get(tool_server.url + "/api/v1/practice/next", headers=auth).json()["item"]
        res = {}
        for good in (True, False, True):
            ans = right(db, item["id"]) if good else wrong(db, item["id"])
            res = http.post(tool_server.url + "/api/v1/practice/answer", json={"item_id": item["id"], "answer": ans},
                            headers=auth).json()
            item = res["next"]["item"]
        run_jobs(tool_server)  # `adaptive-lti dev` runs them in the tool's background thread

        book = http.get(lms_url + gradebook_href).text
        row = re.search(r'<th scope="row">Ada Lovelace</th>(.*?)</tr>', book, re.S).group(1)
        assert f'{round(100 * res["score"]["given"])}%' in row
        assert res["score"]["comment"] in row  # "0 of 11 skills mastered"
        assert "Fractions practice" in book  # the column is the activity's
        assert "Alan Turing" in book  # every student has a row, graded or not
        assert "POST /ags/contexts/course-101/lineitems/rl-practice-1/scores" in book
