"""Fixtures for the nightly proofs: one small registry, sandbox and good night per session.

A night costs ~8-20 s here (GX validation and WeasyPrint dominate, a subprocess adds
its imports), so one good night is run once per test session (per xdist worker) as
`baseline`, and every test starts from a byte copy of that folder (`night_dir`):
settings, token file, SQLite store, reports, log. The sandbox is shared the same way
and runs on real time (the CLI in a subprocess pulls with the wall clock); tests that
inject faults or change the project undo it afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry.sandbox.cli import write_sandbox_settings
from registry.sandbox.clock import SystemClock
from registry.sandbox.generator import GeneratorParams, generate
from registry.sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[2]
STUDY = REPO / "registries" / "anti_mda5" / "studies" / "jak_cni.toml"
#: 60 patients over 3 DAG sites, one in five with an injected error: ~60 records.
PARAMS = {"seed": 11, "patients": 60, "sites": 3, "error_rate": 0.2}
#: Fast pull settings: faults past a 2 s timeout, short backoff, no pacing worth the name.
PULL = {"timeout_seconds": 2.0, "backoff_seconds": 0.05, "retries": 3,
        "requests_per_minute": 600000, "batch_size": 200, "min_batch_size": 5}
SEED_REPEATS = 5
PP_BOOTSTRAP = 10      # bootstrap replicates of the per-protocol CI (the study ships 100)


def env() -> dict[str, str]:
    """The environment of a CLI subprocess: this checkout first on the path."""
    out = dict(os.environ)
    out["PYTHONPATH"] = str(REPO) + (os.pathsep + out["PYTHONPATH"]
                                     if out.get("PYTHONPATH") else "")
    return out


def write_settings(server: SandboxServer, folder: Path) -> Path:
    """settings.toml for `server` in `folder`: log file, fast pull, a 5-repeat study copy
    (10 bootstrap replicates)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "settings.toml"
    write_sandbox_settings(server, path)
    study = folder / "jak_cni.toml"
    text = re.sub(r"(?m)^seed_repeats\s*=\s*\d+", f"seed_repeats = {SEED_REPEATS}",
                  STUDY.read_text(encoding="utf-8"))
    study.write_text(re.sub(r"(?m)^pp_bootstrap\s*=\s*\d+", f"pp_bootstrap = {PP_BOOTSTRAP}",
                            text), encoding="utf-8")
    text = path.read_text(encoding="utf-8").replace(json.dumps(str(STUDY)), '"jak_cni.toml"')
    text += '\n[log]\nfile = "registry.log"\n\n[pull]\n'
    text += "".join(f"{key} = {value}\n" for key, value in PULL.items())
    path.write_text(text, encoding="utf-8")
    return path


def nightly_cli(settings: Path, *extra: str, timeout: float = 180) -> subprocess.Popen[str]:
    """Start `python -m registry nightly --settings ...` (stdout/stderr piped), under
    the usual umask 022 (what the tool writes must be owner-only all the same)."""
    return subprocess.Popen([sys.executable, "-m", "registry", "nightly", "--settings",
                             str(settings), *extra], cwd=settings.parent, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            umask=0o022)


@dataclass
class Baseline:
    """The session's first good night: its folder and what the CLI printed."""

    folder: Path
    settings: Path
    run_id: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@pytest.fixture(scope="session")
def registry_data():
    return generate(GeneratorParams(**PARAMS))


@pytest.fixture(scope="session")
def night_sandbox(registry_data) -> Iterator[SandboxServer]:
    """The session's sandbox, on real time (the CLI subprocess pulls with the wall clock)."""
    with SandboxServer(registry_data, clock=SystemClock()) as server:
        yield server


@pytest.fixture(scope="session")
def baseline(night_sandbox, tmp_path_factory) -> Baseline:
    """One good night through the CLI, in a subprocess: the folder every test copies."""
    folder = tmp_path_factory.mktemp("baseline")
    settings = write_settings(night_sandbox, folder)
    started = time.monotonic()
    proc = nightly_cli(settings)
    out, err = proc.communicate(timeout=300)
    seconds = time.monotonic() - started
    match = re.search(r"^run (\S+): ", out, re.M)
    assert proc.returncode == 0 and match, f"baseline night failed:\n{out}\n{err}"
    return Baseline(folder=folder, settings=settings, run_id=match.group(1),
                    returncode=proc.returncode, stdout=out, stderr=err, seconds=seconds)


@pytest.fixture
def night_dir(baseline, night_sandbox, tmp_path) -> Iterator[Path]:
    """A private copy of the baseline folder (store, reports, settings, tokens); the
    sandbox's faults and bans are cleared, and log handlers dropped, after the test."""
    from registry.log import configure_logging

    folder = tmp_path / "night"
    shutil.copytree(baseline.folder, folder)
    try:
        yield folder
    finally:
        night_sandbox.faults.clear()
        configure_logging(None, console=False)  # no handler left on a closed capture


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes), for byte-identity checks."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen[str] | None = None,
             interval: float = 0.02):
    """Poll `predicate` until it is truthy; fail naming `what` (and the process output)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the nightly exited ({proc.returncode}) before {what}:\n{out}\n{err}")
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


#: PDF bytes' digest -> (text, link targets): the same bytes read back once a session
#: (every test's folder is a copy of the baseline's, PDFs and render cache included,
#: and pypdf reads the study PDF's text in about a second).
_PDF_READS: dict[bytes, tuple[str, list[str]]] = {}


def _pdf_read(path: Path) -> tuple[str, list[str]]:
    from tests.reports.pdf_text import links
    from tests.reports.pdf_text import text as pdf_text

    digest = hashlib.sha256(path.read_bytes()).digest()
    if digest not in _PDF_READS:
        _PDF_READS[digest] = (pdf_text(path), links(path))
    return _PDF_READS[digest]


def pdf_text(path: Path) -> str:
    """`tests.reports.pdf_text.text` of `path`, read once per distinct bytes."""
    return _pdf_read(path)[0]


def without_study(folder: Path) -> None:
    """Take the study out of `folder`'s settings: the nights of tests whose claim is not
    about the study skip its analysis and its report (half a night's CPU here)."""
    path = folder / "settings.toml"
    text = path.read_text(encoding="utf-8")
    assert '[[studies]]\nspec = "jak_cni.toml"\n' in text
    path.write_text(text.replace('[[studies]]\nspec = "jak_cni.toml"\n', ""), encoding="utf-8")


def token_leaks(folder: Path, tokens: list[str], texts: dict[str, str]) -> list[str]:
    """Where any of `tokens` shows (case-insensitively) under `folder` or in `texts`.

    Looks at every file's bytes (the SQLite store with its -wal, the log, CSV, JSON,
    PDFs) and at every PDF's extracted text and link targets; only the token file
    itself, which must hold them, is skipped.
    """
    wanted = [t.lower() for t in tokens]
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name == "sandbox.tokens":
            continue
        blobs = [path.read_bytes().decode("latin-1").lower()]
        if path.suffix == ".pdf":
            text, targets = _pdf_read(path)
            blobs += [text.lower(), " ".join(targets).lower()]
        found += [f"{path.relative_to(folder)}" for blob in blobs for t in wanted if t in blob]
    found += [name for name, text in texts.items() for t in wanted if t in text.lower()]
    return sorted(set(found))
