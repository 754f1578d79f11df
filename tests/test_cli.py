"""The `registry` command line as a new user meets it: help, bad usage, exit codes.

Exit codes as the README documents them: 0 all good, 1 partial, 2 bad usage or
settings, 3 the run failed or another run holds the lock. Each bad usage is one line on
stderr (click's own usage errors add the usage line and a hint, as every click tool).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_main import CliRun, run_cli

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("sandbox", "pull", "status", "validate", "flags", "analyse", "report", "send",
            "nightly", "demo")


def _cli(capsys, *args: str) -> CliRun:
    return run_cli(capsys, *args)


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    """A valid settings file: two sites nobody serves, no study (nothing is reached);
    one quick retry, so a refused connection fails in well under a second."""
    path = tmp_path / "settings.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "registry.sqlite"}"\n'
        '[reports]\ndir = "reports"\n[pull]\nretries = 1\nbackoff_seconds = 0.01\n'
        + "".join(f'[[sites]]\nname = "{s}"\nurl = "http://127.0.0.1:9/api/"\n'
                  f'token_env = "REGISTRY_TOKEN_{s.upper()}"\ndag = "{s}"\n'
                  for s in ("paris", "lyon")), encoding="utf-8")
    return path


def test_help_lists_every_command_and_the_exit_codes(capsys) -> None:
    code, out, _ = _cli(capsys, "--help")
    assert code == 0
    listed = [ln.split()[0] for ln in out.split("Commands:")[1].splitlines() if ln.strip()
              and not ln.startswith("  Exit") and ln.startswith("  ") and not ln.startswith("   ")]
    assert tuple(listed[:len(COMMANDS)]) == COMMANDS
    assert "2 bad usage or settings" in " ".join(out.split())
    assert all(len(ln) <= 80 for ln in out.splitlines())


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_settings_and_shows_plain_switches(command, capsys) -> None:
    code, out, _ = _cli(capsys, command, "--help")
    assert code == 0 and "--settings PATH" in out
    assert "<bool>" not in out and "BOOLEAN" not in out  # --full, --verbose: plain switches
    if command in ("pull", "nightly"):
        assert any(ln.split()[:1] == ["--full"] for ln in out.splitlines())


def test_no_settings_file_says_how_to_get_one(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(capsys, "status")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "settings.toml not found" in lines[0]
    assert "--settings" in lines[0] and "registry sandbox --write-settings" in lines[0]
    assert not (tmp_path / "var").exists()


def _bad_usage(tmp_path: Path, settings: Path) -> dict[str, list[str]]:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not the demo's")
    s = str(settings)
    return {
        "sandbox": ["sandbox", "--seed", "many"],
        "pull": ["pull", "--site", "pariss", "--settings", s],
        "status": ["status", "--runs", "0", "--settings", s],
        "validate": ["validate", "--site", "pariss", "--settings", s],
        "flags": ["flags", "--status", "bogus", "--settings", s],
        "analyse": ["analyse", "--settings", s],  # settings without [[studies]]
        "report": ["report", "--run", "20000101-000000-dead", "--settings", s],
        "nightly": ["nightly", "--settings", str(tmp_path / "missing.toml")],
        "demo": ["demo", "--settings", str(foreign / "settings.toml")],
        "send": ["send", "--run", "20000101-000000-dead", "--settings", s],  # no [delivery]
    }


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_usage_exits_2_for_every_command(command, tmp_path, settings, capsys) -> None:
    code, out, err = _cli(capsys, *_bad_usage(tmp_path, settings)[command])
    assert code == 2, err
    assert out == "" and "Traceback" not in err
    mine = [ln for ln in err.splitlines() if ln.startswith("registry: ")]
    if mine:  # ours: exactly one line; click's usage errors end with their one "Error:" line
        assert err.strip().splitlines() == mine
    else:
        assert err.strip().splitlines()[-1].startswith("Error: ")
    assert not (tmp_path / "reports").exists()  # nothing written (report looked the run up)
    assert command == "report" or not (tmp_path / "registry.sqlite").exists()


def test_unknown_sites_and_statuses_fail_with_one_line_naming_the_known_ones(
        settings, capsys) -> None:
    for args, wanted in [
        (["flags", "--site", "pariss"], "no site named 'pariss' (sites: paris, lyon)"),
        (["flags", "--site", "paris", "--site", "nice"], "no site named 'nice'"),
        (["flags", "--status", "open", "--status", "closed"],
         "unknown status 'closed': use new, open, reopened, resolved, accepted"),
    ]:
        code, out, err = _cli(capsys, *args, "--settings", str(settings))
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and wanted in err, err


def test_a_failed_pull_is_one_line_on_stderr_the_log_line_only_in_the_log(settings) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), REGISTRY_TOKEN_PARIS="A" * 32,
               REGISTRY_TOKEN_LYON="B" * 32)
    done = subprocess.run([sys.executable, "-m", "registry", "pull", "--site", "paris",
                           "--settings", str(settings)], capture_output=True, text=True,
                          env=env, timeout=120, cwd=settings.parent)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("registry pull: site 'paris': "), lines
    log = (settings.parent / "var" / "registry.log").read_text()
    assert "event=pull.failed site=paris" in log


def test_help_loads_no_heavy_library() -> None:
    """`registry --help` (and a refused run) start fast: no rich, pandas, GX or WeasyPrint
    is imported before a command needs it (benchmarks/cli_startup.py times it)."""
    code = ("import sys\nfrom registry.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\n"
            "heavy = {'rich', 'pandas', 'numpy', 'great_expectations', 'weasyprint', "
            "'lifelines', 'sqlalchemy', 'redcap'}\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
