"""The response check PyCap lacks: status codes and HTML pages, before any parsing.

The sandbox covers every status it can send (see test_pull_faults.py); a proxy's
*200* HTML page (a login or maintenance page) it cannot send, so that case is a
`requests.Response` built here.
"""

from __future__ import annotations

import pytest
import requests

from registry.errors import RedcapRefused
from registry.pulling import pull_site
from registry.redcap.responses import HttpStatus, check_response, error_text
from registry.settings import Site
from registry.store import Store
from tests.redcap.pull_support import settings_for


def _response(status: int, body: str, ctype: str) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body.encode()
    response.headers["Content-Type"] = ctype
    return response


def test_a_200_html_page_is_refused_before_parsing():
    page = _response(200, "<!DOCTYPE html><html><body>Log in</body></html>",
                     "text/html; charset=utf-8")
    with pytest.raises(HttpStatus) as caught:
        check_response(page)
    assert "HTML page" in caught.value.detail


def test_bare_text_and_json_answers_pass():
    check_response(_response(200, "15.7.6", "text/html; charset=utf-8"))  # content=version
    check_response(_response(200, '[{"record_id": "1"}]', "application/json"))


def test_error_bodies_give_redcaps_own_message():
    assert error_text(_response(403, '{"error":"You do not have permissions to use the API"}',
                                 "application/json")) == \
        "You do not have permissions to use the API"
    assert error_text(_response(400, "ERROR: bad fields", "text/csv")) == "bad fields"
    assert "HTML page" in error_text(_response(502, "<html><body>502</body></html>",
                                                "text/html"))


def test_a_site_naming_an_unknown_dag_is_refused_with_the_known_ones(served, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("PULLTEST_DAG", served.tokens.project)
    site = Site(name="nantes", url=served.url, token_env="PULLTEST_DAG", dag="nantes")
    settings = settings_for(tmp_path, [site])
    with Store.open(settings.store.url) as store, pytest.raises(RedcapRefused) as caught:
        pull_site(site, settings, store, clock=served.clock.now)
    message = str(caught.value)
    assert "'nantes'" in message and "paris, lyon, lille" in message
