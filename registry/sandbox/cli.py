"""`registry sandbox`: serve the synthetic registry, or a project folder, until stopped.

Without `--project` it generates the synthetic anti-MDA5 registry; with `--project DIR`
it serves the REDCap project kept in DIR (`registry.sandbox.folder`). It prints the
API URL and the tokens (project-wide and one per DAG), writes the tokens to an
owner-only file (atomically, mode 600 from creation), optionally the ground truth CSV
(synthetic only) and a settings.toml pointing this tool at the sandbox
(`registry.sandbox.starter`), then serves until Ctrl-C or SIGTERM and exits 0 with one
line.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from registry.errors import RegistryError
from registry.sandbox.server import SandboxServer
from registry.sandbox.starter import (
    settings_text,
    token_file_text,
    write_private,
    write_sandbox_settings,
)

__all__ = ["DEFAULT_TOKEN_FILE", "serve_command", "settings_text", "stop_on_signals",
           "token_file_text", "write_private", "write_sandbox_settings"]

#: Where the tokens go without --write-settings (the repository's settings.toml reads it).
DEFAULT_TOKEN_FILE = Path("var/sandbox/tokens")


def _generate(**params: Any) -> Any:
    try:
        from registry.sandbox.generator import GeneratorParams, generate
    except ImportError as exc:
        raise RegistryError("the synthetic registry generator (registry.sandbox.generator) "
                            "is not available in this build") from exc
    return generate(GeneratorParams(**params))


def serve_command(*, seed: int, patients: int, sites: int, error_rate: float, true_hr: float,
                  host: str = "127.0.0.1", port: int = 8765, truth: Path | None = None,
                  write_settings: Path | None = None, rate_limit: int = 0,
                  project: Path | None = None) -> None:
    """Generate (or read `project`), serve, print URL and tokens, and block until
    SIGINT/SIGTERM."""
    if rate_limit < 0:
        raise RegistryError(f"--rate-limit should be >= 0, got {rate_limit}")
    if project is not None and truth is not None:
        raise RegistryError("--truth is for the synthetic registry; a --project folder has "
                            "no injected errors")
    with stop_on_signals() as stop:  # first: a SIGTERM right after "serving" must count
        _serve(stop, seed=seed, patients=patients, sites=sites, error_rate=error_rate,
               true_hr=true_hr, host=host, port=port, truth=truth,
               write_settings=write_settings, rate_limit=rate_limit, folder=project)
    print("registry: sandbox stopped", flush=True)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event that SIGINT or SIGTERM sets, for a server that runs until stopped.

    Its own handlers, so Ctrl-C counts even when the process started with SIGINT ignored
    (a background job of a non-interactive shell): Python then raises no
    KeyboardInterrupt. The previous handlers come back on leaving."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(stop: threading.Event, *, seed: int, patients: int, sites: int, error_rate: float,
           true_hr: float, host: str, port: int, truth: Path | None,
           write_settings: Path | None, rate_limit: int, folder: Path | None) -> None:
    registry = None
    if folder is not None:
        server = SandboxServer.from_folder(folder, host=host, port=port,
                                           rate_limit=rate_limit).start()
        what = f"project {folder}"
    else:
        registry = _generate(seed=seed, patients=patients, sites=sites,
                             error_rate=error_rate, true_hr=true_hr)
        server = SandboxServer(registry, host=host, port=port, rate_limit=rate_limit).start()
        what = f"seed {seed}"
    try:
        notes = []
        if server.folder is not None and server.folder.ignored_columns:
            cols = server.folder.ignored_columns
            notes.append(f"records.csv columns the dictionary lacks, not served: "
                         f"{', '.join(cols[:5])}{' ...' if len(cols) > 5 else ''}")
        if truth is not None and registry is not None:
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
        design = project.design
        events = (f"{len(design.events)} events in {len(design.arms)} arms, "
                  if design.longitudinal else "")
        print(f"REDCap sandbox at {server.url}  ({len(project.records)} records, "
              f"{len(project.dags)} DAGs, {events}{what})", flush=True)
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
