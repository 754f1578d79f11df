"""`registry pull` as a command, and the token never leaking anywhere.

The command runs against a sandbox served from this process: once in a subprocess, as
a user runs it (its stderr holds no log line), the other times in-process through
`registry.cli.main` (what `python -m registry` calls); a wrong token or an unreachable
server gives exit 1 and one line per failed site, naming the site, with no traceback.
A pull with faults, retries and a refusal logged at DEBUG leaves the token in no log
line, nowhere in the store's bytes and in no message.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry.errors import RegistryError
from registry.log import configure_logging
from registry.pulling import pull_all
from registry.settings import Site
from registry.store import Store
from tests.cli_main import CliRun, run_cli
from tests.redcap.pull_support import settings_for

ROOT = Path(__file__).resolve().parents[2]


def _settings_file(tmp_path: Path, sites: list[tuple[str, str, str]]) -> Path:
    lines = [
        '[store]\nurl = "sqlite:///var/store.sqlite"\n',
        "[pull]\nrequests_per_minute = 60000\nretries = 1\nbackoff_seconds = 0\n"
        "timeout_seconds = 5\n",
        '[log]\nfile = "var/registry.log"\n',
    ]
    for name, url, env in sites:
        lines.append(f'[[sites]]\nname = "{name}"\nurl = "{url}"\ntoken_env = "{env}"\n'
                     f'dag = "{name}"\n')
    path = tmp_path / "settings.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _run(settings: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-m", "registry", "pull", "--settings", str(settings),
                           *args], capture_output=True, text=True, env=full_env, timeout=120,
                          check=False)


def _main(settings: Path, env: dict[str, str], monkeypatch, capsys,
          *args: str) -> CliRun:
    """`registry pull` in-process: its exit code and what it printed."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return run_cli(capsys, "pull", "--settings", str(settings), *args)


def test_pull_command_pulls_every_site(served, tmp_path, monkeypatch, capsys):
    path = _settings_file(tmp_path, [("paris", served.url, "T_P"), ("lyon", served.url, "T_L")])
    result = _run(path, {"T_P": served.tokens.project, "T_L": served.tokens["lyon"]})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["paris", "lyon"]
    assert all("full pull -> snapshot" in ln for ln in lines)
    assert result.stderr == ""  # log lines go to the log file only ...
    assert (tmp_path / "var" / "registry.log").read_text().count("event=pull.snapshot") == 2
    verbose = _main(path, {"T_P": served.tokens.project, "T_L": served.tokens["lyon"]},
                    monkeypatch, capsys, "--verbose")
    assert verbose.returncode == 0 and "event=pull.done site=lyon" in verbose.stderr  # ... or too


def test_wrong_token_and_unreachable_server_fail_one_line_per_site(served, tmp_path,
                                                                   monkeypatch, capsys):
    wrong = "0123456789ABCDEF0123456789ABCDEF"
    path = _settings_file(tmp_path, [("paris", served.url, "T_WRONG"),
                                     ("lyon", "http://127.0.0.1:9/api/", "T_OK"),
                                     ("lille", served.url, "T_OK")])
    result = _main(path, {"T_WRONG": wrong, "T_OK": served.tokens.project}, monkeypatch, capsys)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and wrong not in result.stderr
    failed = [ln for ln in result.stderr.splitlines() if ln.startswith("registry pull:")]
    assert len(failed) == 2
    assert "site 'paris'" in failed[0] and "403" in failed[0] and "token" in failed[0]
    assert "site 'lyon'" in failed[1] and "connection" in failed[1]
    assert result.stdout.startswith("lille: full pull")  # the others went on


def test_unknown_site_is_a_settings_error(served, tmp_path, monkeypatch, capsys):
    path = _settings_file(tmp_path, [("paris", served.url, "T_P")])
    result = _main(path, {"T_P": served.tokens.project}, monkeypatch, capsys, "--site",
                   "nowhere")
    assert result.returncode == 2
    assert "no site named 'nowhere'" in result.stderr and "Traceback" not in result.stderr


def test_the_token_appears_in_no_log_line_store_byte_or_message(served, tmp_path, monkeypatch):
    token, wrong = served.tokens.project, "FEDCBA9876543210FEDCBA9876543210"
    monkeypatch.setenv("PULLTEST_SECRET", token)
    monkeypatch.setenv("PULLTEST_SECRET_WRONG", wrong)
    sites = [Site(name="paris", url=served.url, token_env="PULLTEST_SECRET", dag="paris"),
             Site(name="lyon", url=served.url, token_env="PULLTEST_SECRET_WRONG", dag="lyon"),
             Site(name="lille", url=served.url, token_env="PULLTEST_SECRET", dag="lille")]
    settings = settings_for(tmp_path, sites)
    configure_logging(settings.log_file, level=logging.DEBUG, console=False)
    served.faults.add("status", status=503, content="record", after=1, count=2)
    served.faults.add("drop_rows", content="record", after=4, count=1)
    served.faults.add("status", status=500, content="record", after=7, count=None)  # lille
    try:
        with Store.open(settings.store.url) as store:
            outcomes = pull_all(settings, store, clock=served.clock.now)
            with pytest.raises(RegistryError) as caught:
                from registry.pulling import pull_site
                pull_site(sites[1], settings, store, clock=served.clock.now)
    finally:
        configure_logging(console=False)
    assert [o.ok for o in outcomes] == [True, False, False]
    log_text = settings.log_file.read_text(encoding="utf-8")
    assert "event=redcap.retry" in log_text and "event=pull.short_batch" in log_text
    assert "event=pull.failed site=lyon" in log_text
    messages = [o.error or "" for o in outcomes] + [str(caught.value), repr(caught.value)]
    store_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("store.sqlite*"))
    for secret in (token, wrong):
        assert secret not in log_text
        for variant in (secret, secret.lower()):
            assert variant.encode() not in store_bytes
        assert not any(secret in m for m in messages)
