"""`registry sandbox`: generate the synthetic registry and serve it until stopped.

Prints the API URL and the tokens (project-wide and one per DAG), writes the tokens
to an owner-only file (atomically, mode 600 from creation), optionally the ground
truth CSV and a settings.toml pointing this tool at the sandbox, then serves until
Ctrl-C or SIGTERM and exits 0 with one line.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

from registry.errors import RegistryError
from registry.sandbox.project import Tokens
from registry.sandbox.server import SandboxServer

__all__ = ["DEFAULT_TOKEN_FILE", "serve_command", "settings_text", "token_file_text",
           "write_private", "write_sandbox_settings"]

#: Where the tokens go without --write-settings (the repository's settings.toml reads it).
DEFAULT_TOKEN_FILE = Path("var/sandbox/tokens")
_REPO = Path(__file__).resolve().parents[2]
_ANTI_MDA5 = _REPO / "registries" / "anti_mda5"  # the synthetic registry's folder


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by its owner only from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def token_file_text(tokens: Tokens) -> str:
    lines = ["# API tokens of a running `registry sandbox` (synthetic data only)."]
    lines += [f"{key}={value}" for key, value in tokens.env().items()]
    return "\n".join(lines) + "\n"


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def settings_text(server: SandboxServer, token_file: str) -> str:
    """A settings.toml for this sandbox: one [[sites]] per DAG, stores under its folder."""
    lines = [
        "# Written by `registry sandbox --write-settings`: points registry at a running sandbox.",
        "[store]", 'url = "sqlite:///var/registry.sqlite"', "",
        "[reports]", 'dir = "var/reports"', "",
        "[registry]", f"profile = {_q(str(_ANTI_MDA5 / 'profile.toml'))}", "",
        "[quality]", f"suites = {_q(str(_ANTI_MDA5 / 'expectations'))}", "",
        "[[studies]]", f"spec = {_q(str(_ANTI_MDA5 / 'studies' / 'jak_cni.toml'))}", "",
    ]
    for dag in server.project.dags:
        name = dag["unique_group_name"]
        lines += ["[[sites]]", f"name = {_q(name)}", f"label = {_q(dag['data_access_group_name'])}",
                  f"url = {_q(server.url)}", f"dag = {_q(name)}",
                  f"token_file = {_q(token_file)}",
                  f"token_key = {_q('REGISTRY_TOKEN_' + name.upper())}", ""]
    return "\n".join(lines)


def write_sandbox_settings(server: SandboxServer, path: Path) -> Path:
    """Write a settings.toml for `server` at `path` and its tokens next to it, in
    `sandbox.tokens` (mode 600); return the token file's path. Used by the CLI and
    usable by the demo with an in-process server."""
    token_path = path.parent / "sandbox.tokens"
    write_private(token_path, token_file_text(server.tokens))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(settings_text(server, token_path.name), encoding="utf-8")
    return token_path


def _generate(**params: Any) -> Any:
    try:
        from registry.sandbox.generator import GeneratorParams, generate
    except ImportError as exc:
        raise RegistryError("the synthetic registry generator (registry.sandbox.generator) "
                            "is not available in this build") from exc
    return generate(GeneratorParams(**params))


def serve_command(*, seed: int, patients: int, sites: int, error_rate: float, true_hr: float,
                  host: str = "127.0.0.1", port: int = 8765, truth: Path | None = None,
                  write_settings: Path | None = None, rate_limit: int = 0) -> None:
    """Generate, serve, print URL and tokens, and block until SIGINT/SIGTERM."""
    if rate_limit < 0:
        raise RegistryError(f"--rate-limit should be >= 0, got {rate_limit}")
    stop = threading.Event()  # handlers first: a SIGTERM right after "serving" must count
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _serve(stop, seed=seed, patients=patients, sites=sites, error_rate=error_rate,
               true_hr=true_hr, host=host, port=port, truth=truth,
               write_settings=write_settings, rate_limit=rate_limit)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("registry: sandbox stopped", flush=True)


def _serve(stop: threading.Event, *, seed: int, patients: int, sites: int, error_rate: float,
           true_hr: float, host: str, port: int, truth: Path | None,
           write_settings: Path | None, rate_limit: int) -> None:
    registry = _generate(seed=seed, patients=patients, sites=sites, error_rate=error_rate,
                         true_hr=true_hr)
    server = SandboxServer(registry, host=host, port=port, rate_limit=rate_limit).start()
    try:
        notes = []
        if truth is not None:
            registry.truth_csv(truth)
            notes.append(f"ground truth written to {truth}")
        if write_settings is not None:
            token_path = write_sandbox_settings(server, write_settings)
            notes.append(f"settings written to {write_settings} (tokens in {token_path}, "
                         "mode 600)")
        else:
            write_private(DEFAULT_TOKEN_FILE, token_file_text(server.tokens))
            notes.append(f"tokens written to {DEFAULT_TOKEN_FILE} (mode 600)")
        project = server.project
        print(f"REDCap sandbox at {server.url}  ({len(project.records)} records, "
              f"{len(project.dags)} DAGs, seed {seed})", flush=True)
        width = max([len("project-wide")] + [len(d) for d in project.dag_ids])
        print(f"  {'project-wide'.ljust(width)}  {server.tokens.project}")
        for dag in project.dag_ids:
            print(f"  {dag.ljust(width)}  {server.tokens[dag]}")
        for note in notes:
            print(note)
        print("serving; Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
