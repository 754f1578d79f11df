"""A 200 answer of the wrong shape fails only its site, with one line (issue 11.4).

Before: the metadata export answering `[1, 2, 3]` was a TypeError traceback that failed
the whole nightly, healthy sites included. The sandbox answers each malformed body
over real HTTP (its handler for one content type replaced); the other site pulls.
"""

from __future__ import annotations

import pytest

from registry.pulling import pull_all
from registry.sandbox import api
from registry.sandbox.formats import text_reply
from registry.settings import Site
from registry.store import Store
from tests.redcap.pull_support import settings_for


@pytest.mark.parametrize(("content", "body"), [
    ("metadata", "[1, 2, 3]"),
    ("metadata", '{"field_name": "record_id"}'),
    ("metadata", '[{"form_name": "x"}]'),
    ("project", "[1, 2, 3]"),
    ("instrument", '"instruments"'),
    ("dag", "[null]"),
])
def test_a_malformed_answer_fails_only_its_site(served, tmp_path, monkeypatch, content, body):
    paris_token, lyon_token = served.tokens["paris"], served.tokens["lyon"]
    monkeypatch.setenv("MALFORMED_PARIS", paris_token)
    monkeypatch.setenv("MALFORMED_LYON", lyon_token)
    real = api.HANDLERS[content]

    def odd(call):  # noqa: ANN001, ANN202 - the sandbox's handler signature
        if call.params.get("token") == paris_token:
            return text_reply(body, 200, "application/json")
        return real(call)

    monkeypatch.setitem(api.HANDLERS, content, odd)
    sites = [Site(name="paris", url=served.url, token_env="MALFORMED_PARIS", dag="paris"),
             Site(name="lyon", url=served.url, token_env="MALFORMED_LYON", dag="lyon")]
    settings = settings_for(tmp_path, sites)
    with Store.open(settings.store.url) as store:
        paris, lyon = pull_all(settings, store, clock=served.clock.now)
        assert not paris.ok and lyon.ok
        assert store.latest_snapshot("paris") is None
    assert paris.error.startswith("site 'paris': ") and "\n" not in paris.error
    assert f"answered the {content} export with a malformed body" in paris.error
