"""The `registry` command: parses the command line and calls `registry.commands`.

Nothing else lives here: each command's printing is in `registry.commands.<name>`,
the runs they start in `registry.run`.

Expected failures (`RegistryError`) print one line on stderr and exit with the
error's code (2 bad settings, 3 run failed); anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from registry.errors import RegistryError

__all__ = ["app", "main"]

app = typer.Typer(
    name="registry",
    help="Nightly pull, validation, analysis and reports for a REDCap registry.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    epilog="Exit codes: 0 all good, 1 partial (a site or a study failed), 2 bad usage or "
    "settings, 3 the run failed or another run is going on. Every command takes "
    "--settings PATH.",
    # click's plain help: flags read as plain switches, and `--help` starts fast
    rich_markup_mode=None,
)

SettingsOption = Annotated[
    Path, typer.Option("--settings", metavar="PATH", help="Path to settings.toml.",
                       show_default=True)
]
DEFAULT_SETTINGS = Path("settings.toml")
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also print the log lines on stderr.")
]
SitesOption = Annotated[
    list[str] | None,
    typer.Option("--site", metavar="NAME", help="Only this site (repeatable)."),
]


@app.callback()
def _root() -> None:
    """Nightly pull, validation, analysis and reports for a REDCap registry."""


@app.command()
def sandbox(
    seed: Annotated[int, typer.Option(help="Seed of the synthetic registry.")] = 2025,
    patients: Annotated[int, typer.Option(help="Number of patients.")] = 234,
    sites: Annotated[int, typer.Option(help="Number of sites (one DAG each).")] = 5,
    error_rate: Annotated[float, typer.Option(help="Injected data errors per patient.")] = 0.1,
    true_hr: Annotated[float, typer.Option(help="True JAK-CNI hazard ratio.")] = 1.0,
    host: Annotated[str, typer.Option(help="Loopback address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = a free one).")] = 8765,
    truth: Annotated[
        Path | None, typer.Option(help="Write the injected errors (ground truth) as CSV here.")
    ] = None,
    write_settings: Annotated[
        Path | None, typer.Option(help="Write a settings.toml pointing at this sandbox here.")
    ] = None,
    rate_limit: Annotated[
        int, typer.Option(help="Requests per minute before the address is banned (0 = off).")
    ] = 0,
    project: Annotated[
        Path | None, typer.Option(help="Serve the REDCap project kept in this folder "
                                       "(dictionary.csv, records.csv, ...) instead.")
    ] = None,
    settings: SettingsOption = DEFAULT_SETTINGS,
) -> None:
    """Serve a synthetic registry (or a project folder) over the REDCap API.

    The synthetic anti-MDA5 DM registry, or the REDCap project in --project DIR, over a
    REDCap-compatible API on loopback.
    """
    from registry.sandbox.cli import serve_command

    serve_command(
        seed=seed, patients=patients, sites=sites, error_rate=error_rate, true_hr=true_hr,
        host=host, port=port, truth=truth, write_settings=write_settings, rate_limit=rate_limit,
        project=project,
    )


@app.command()
def pull(
    site: SitesOption = None,
    full: Annotated[bool, typer.Option("--full", help="Pull every record, not just changes.")]
    = False,
    settings: SettingsOption = DEFAULT_SETTINGS,
    verbose: VerboseOption = False,
) -> None:
    """Pull every site from REDCap into a new snapshot each.

    Incremental after the first pull; full on a schedule or with --full.
    """
    from registry.commands.pull import pull_command

    raise typer.Exit(pull_command(settings, sites=site or None, full=full, verbose=verbose))


@app.command()
def status(
    runs: Annotated[int, typer.Option(min=1, help="How many recent runs to list.")] = 10,
    settings: SettingsOption = DEFAULT_SETTINGS,
) -> None:
    """Show each site's last pull and the last runs.

    Per site the newest snapshot and pull attempt; the last runs' outcomes; the newest
    run's stages. Read-only: it never waits for a run.
    """
    from registry.commands.status import status_command

    raise typer.Exit(status_command(settings, runs=runs))


@app.command()
def validate(
    site: SitesOption = None,
    settings: SettingsOption = DEFAULT_SETTINGS,
    verbose: VerboseOption = False,
) -> None:
    """Check each site's latest snapshot; save the flags.

    Writes flags-<site>.csv into the run's folder.
    """
    from registry.commands.quality import validate_command

    raise typer.Exit(validate_command(settings, site or None, verbose=verbose))


@app.command()
def flags(
    site: SitesOption = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", metavar="STATUS",
                     help="new, open, reopened, resolved or accepted (repeatable)."),
    ] = None,
    settings: SettingsOption = DEFAULT_SETTINGS,
) -> None:
    """Print the current flags, with their REDCap links.

    Each site's last validation: open flags and those resolved that night.
    """
    from registry.commands.quality import flags_command

    raise typer.Exit(flags_command(settings, site or None, status or None))


@app.command()
def analyse(settings: SettingsOption = DEFAULT_SETTINGS, verbose: VerboseOption = False) -> None:
    """Run the studies on each site's latest snapshot.

    Writes <study>.json, <study>-matched.csv and <study>.pdf into the run's folder.
    """
    from registry.commands.analyse import analyse_command

    raise typer.Exit(analyse_command(settings, verbose=verbose))


@app.command()
def report(
    run: Annotated[
        str | None, typer.Option("--run", metavar="RUN_ID",
                                 help="Run to (re)build the outputs of (default: the newest "
                                 "finished run).")
    ] = None,
    settings: SettingsOption = DEFAULT_SETTINGS,
    verbose: VerboseOption = False,
) -> None:
    """Rebuild a run's output folder from the store.

    The PDFs, CSVs and JSON, identical to the night's.
    """
    from registry.commands.report import report_command

    raise typer.Exit(report_command(settings, run, verbose=verbose))


@app.command()
def send(
    run: Annotated[
        str | None, typer.Option("--run", metavar="RUN_ID",
                                 help="Run whose reports to send (default: the newest "
                                 "finished run).")
    ] = None,
    dry_run: Annotated[
        Path | None, typer.Option("--dry-run", metavar="DIR",
                                  help="Write one .eml file per message into DIR instead "
                                  "of sending.")
    ] = None,
    settings: SettingsOption = DEFAULT_SETTINGS,
    verbose: VerboseOption = False,
) -> None:
    """E-mail a run's reports: sites' coordinators, studies' PIs.

    Uses [delivery] in settings; each recipient's outcome is recorded and shown by
    `registry status`.
    """
    from registry.commands.send import send_command

    raise typer.Exit(send_command(settings, run, dry_run=dry_run, verbose=verbose))


@app.command()
def nightly(
    full: Annotated[bool, typer.Option("--full", help="Pull every record, not just changes.")]
    = False,
    settings: SettingsOption = DEFAULT_SETTINGS,
    verbose: VerboseOption = False,
) -> None:
    """Pull, validate, analyse and report, as one run.

    Exit codes: 0 all good, 1 partial (a site or study failed), 2 bad usage or
    settings, 3 run failed (or another run is going on).
    """
    from registry.commands.nightly import nightly_command

    raise typer.Exit(nightly_command(settings, full=full, verbose=verbose))


@app.command()
def demo(
    nights: Annotated[int, typer.Option(min=1, help="Nights to run (data entry in between).")]
    = 2,
    settings: Annotated[
        Path, typer.Option("--settings", metavar="PATH",
                           help="Where the demo writes the settings it runs with; its store, "
                           "reports and log go beside them.", show_default=True)
    ] = Path("var/demo/settings.toml"),
    keep_serving: Annotated[
        bool, typer.Option("--keep-serving", help="Keep the sandbox up after the nights, so "
                           "the reports' REDCap links and `registry status` work; Ctrl-C "
                           "stops it.")
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Two nights against the embedded sandbox, end to end.

    Starts the sandbox, runs the nightly around a day of data entry, writes the
    e-mails it would send, and says where the PDFs are. An earlier demo is moved
    aside, never deleted.
    """
    from registry.commands.demo import demo_command

    raise typer.Exit(demo_command(nights=nights, settings_path=settings, verbose=verbose,
                                  keep_serving=keep_serving))


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; expected failures become one line on stderr and an exit code."""
    try:
        app(args=argv)
    except RegistryError as exc:
        print(f"registry: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("registry: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception:  # a bug: its traceback stays, with any token in it hidden
        import traceback

        from registry.log import redact
        sys.stderr.write(redact(traceback.format_exc()))
        sys.exit(1)


if __name__ == "__main__":
    main()
