"""`registry sandbox` as a person runs it: a subprocess serving until SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import redcap

from registry.sandbox.cli import write_private
from registry.sandbox.server import SandboxServer
from registry.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _start(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "registry", "sandbox", "--patients", "40",
                             *args], cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("serving"):
            break
    else:
        proc.wait(10)
        pytest.fail(f"sandbox did not start: {lines} {proc.stderr.read() if proc.stderr else ''}")
    return proc, lines


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    return proc.returncode, out


def test_serve_write_settings_and_stop_on_sigterm(tmp_path):
    """The written settings.toml loads, its token file is mode 600, each site's token sees
    its DAG only; SIGTERM ends with exit 0 and one line."""
    settings_path = tmp_path / "conf" / "settings.toml"
    proc, lines = _start(["--port", "0", "--seed", "7", "--write-settings", str(settings_path),
                          "--truth", str(tmp_path / "truth.csv")], tmp_path)
    try:
        url = lines[0].split()[3]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/")
        assert [ln.split()[0] for ln in lines[1:7]] == ["project-wide", "paris", "lyon", "lille",
                                                        "marseille", "bordeaux"]
        settings = load_settings(settings_path)
        token_file = settings.sites[0].token_file
        assert token_file is not None
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert [s.name for s in settings.sites] == ["paris", "lyon", "lille", "marseille",
                                                    "bordeaux"]
        assert settings.store.url == f"sqlite:///{settings_path.parent}/var/registry.sqlite"
        assert settings.quality.suites == REPO / "registries" / "anti_mda5" / "expectations"
        assert settings.studies == (REPO / "registries" / "anti_mda5" / "studies" / "jak_cni.toml",)
        lyon = settings.site("lyon")
        project = redcap.Project(lyon.url, lyon.token().reveal())
        rows = project.export_records(fields=["record_id"], export_data_access_groups=True)
        assert "redcap_data_access_group" not in rows[0]  # ignored for a DAG user (§4)
        ids = {r["record_id"] for r in project.export_records(fields=["record_id"])}
        assert ids and all(i.startswith("4102-") for i in ids)
        assert (tmp_path / "truth.csv").read_text().startswith(
            "record_id,form,instance,field,error_kind")
    finally:
        code, out = _stop(proc)
    assert (code, out.strip()) == (0, "registry: sandbox stopped")


def test_default_token_file_for_the_repository_settings(tmp_path):
    """Without --write-settings the tokens go to var/sandbox/tokens (mode 600), keyed
    REGISTRY_TOKEN_<DAG>, which the repository's settings.toml reads."""
    proc, _ = _start(["--port", "0"], tmp_path)
    try:
        path = tmp_path / "var" / "sandbox" / "tokens"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        keys = [ln.split("=")[0] for ln in path.read_text().splitlines() if "=" in ln]
        assert keys == ["REGISTRY_TOKEN_PROJECT", "REGISTRY_TOKEN_PARIS", "REGISTRY_TOKEN_LYON",
                        "REGISTRY_TOKEN_LILLE", "REGISTRY_TOKEN_MARSEILLE",
                        "REGISTRY_TOKEN_BORDEAUX"]
    finally:
        assert _stop(proc)[0] == 0


def test_port_in_use_is_one_line_and_non_zero(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "registry", "sandbox", "--patients", "5",
                               "--port", str(port)], cwd=tmp_path, env=_env(),
                              capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"registry: cannot serve the sandbox on 127.0.0.1:{port}")
    assert "Traceback" not in done.stderr


def test_write_private_is_owner_only_and_atomic(tmp_path):
    path = tmp_path / "deep" / "tokens"
    path.parent.mkdir()
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "A=1\n")
    assert path.read_text() == "A=1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["tokens"]


def test_written_settings_reach_every_site_in_process(sandbox, tmp_path):
    """`write_sandbox_settings` (for the demo): each [[sites]] entry's token sees its DAG."""
    from registry.sandbox.cli import write_sandbox_settings

    token_path = write_sandbox_settings(sandbox, tmp_path / "settings.toml")
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    settings = load_settings(tmp_path / "settings.toml")
    for site in settings.sites:
        project = redcap.Project(site.url, site.token().reveal())
        dags = {sandbox.project.records[r["record_id"]].dag
                for r in project.export_records(fields=["record_id"])}
        assert dags == {site.dag}


CLASSIC = REPO / "tests" / "scenarios" / "classic"


def test_serve_a_project_folder_and_write_its_settings(tmp_path):
    """`--project DIR`: the folder's project is served; --write-settings gives one site (no
    DAGs), its token file, the default severities and a starting profile to complete."""
    settings_path = tmp_path / "conf" / "settings.toml"
    proc, lines = _start(["--port", "0", "--project", str(CLASSIC),
                          "--write-settings", str(settings_path)], tmp_path)
    try:
        assert lines[0].endswith(f"(8 records, 0 DAGs, project {CLASSIC})")
        settings = load_settings(settings_path)
        assert [(s.name, s.dag) for s in settings.sites] == [
            ("classic_scenario_one_row_per_record", None)]
        assert settings.studies == ()
        assert settings.quality.suites == settings_path.parent / "expectations"
        assert (settings.quality.suites / "_dictionary.json").exists()
        project = redcap.Project(settings.sites[0].url, settings.sites[0].token().reveal())
        assert len(project.export_records(fields=["record_id"])) == 8
        profile = tomllib.loads((settings_path.parent / "profile.toml").read_text())
        assert profile["patient"] == {"form": "demographics"}
        assert profile["roles"] == {"birth": "dob", "entry": "enrol_date",
                                    "last_follow_up": "last_contact", "death": "death_date"}
    finally:
        assert _stop(proc)[0] == 0


def test_a_bad_project_folder_is_one_line_and_non_zero(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "dictionary.csv").write_text("field_name,form_name,field_type\n"
                                                   "record_id,f,text\n")
    done = subprocess.run([sys.executable, "-m", "registry", "sandbox", "--port", "0",
                           "--project", str(tmp_path / "p")], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (f"registry: {tmp_path / 'p' / 'records.csv'}: missing (a project "
                           "folder needs dictionary.csv and records.csv)\n")


def test_written_settings_for_a_dag_folder_project_have_one_site_per_dag(tmp_path):
    from registry.sandbox.cli import write_sandbox_settings

    with SandboxServer.from_folder(REPO / "tests" / "scenarios" / "dags") as server:
        write_sandbox_settings(server, tmp_path / "settings.toml")
        settings = load_settings(tmp_path / "settings.toml")
        assert [(s.name, s.label, s.dag) for s in settings.sites] == [
            ("hpital_nord_lille", "Hôpital Nord (Lille)", "hpital_nord_lille"),
            ("universittskliniku", "Universitätsklinikum Köln", "universittskliniku"),
            ("ospedale_san_raffa", "Ospedale San Raffaele – Milano", "ospedale_san_raffa"),
            # records 1 and 2 are in no DAG: a site of their own, project-wide token
            ("no_dag", "Records in no data access group", "")]
        assert settings.sites[-1].token_key == "REGISTRY_TOKEN_PROJECT"
        for site in settings.sites[:-1]:
            project = redcap.Project(site.url, site.token().reveal())
            ids = {r["record_id"] for r in project.export_records(fields=["record_id"])}
            assert ids and {server.project.records[i].dag for i in ids} == {site.dag}
        profile = tomllib.loads((tmp_path / "profile.toml").read_text())
        assert profile["patient"] == {"form": "intake"}
        assert profile["registry"]["title"] == "DAG scenario: three hospitals"
