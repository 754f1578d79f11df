"""A scenario project end to end as a user runs it, and the ground truth it is judged by.

`Night(folder, work)` serves `folder` (`SandboxServer.from_folder`), writes the
settings `registry sandbox --write-settings` writes (plus a fast pull), and runs
`registry pull`, `validate` and `report` through `registry.cli.main`, in-process (a
subprocess per command would cost its imports three times per scenario), keeping
each command's exit code and output. `flags()` reads the flags CSVs it wrote.

`clean_flags(night, errors, source)` is the oracle for "untouched cells are not
flagged": the same night's snapshot with the injected cells put back to their values
in the clean `source` folder, tidied with the same schema and validated by the same
`validate` call the quality stage makes. A flag of the injected night that is neither
on an injected cell nor among these was caused by the injection elsewhere: a defect
unless `explained` (a rule whose field reads an injected field: a calc formula or a
branching condition).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from registry.cli import main
from registry.fieldtypes import checkbox_columns
from registry.sandbox.folder import read_dictionary
from registry.sandbox.server import SandboxServer
from registry.sandbox.starter import write_sandbox_settings
from tests.scenarios.inject import InjectedError

__all__ = ["Night", "cell", "clean_flags", "explained", "RULE_OF_KIND"]

#: Fast pull settings: the sandbox is on loopback, nothing to pace.
PULL = {"backoff_seconds": 0.05, "retries": 2, "requests_per_minute": 600000}
#: The dictionary-derived rule an injected error of each kind breaks.
RULE_OF_KIND = {"not_a_number": "type", "impossible_date": "type", "unknown_code": "choices",
                "out_of_range": "range", "missing_required": "required",
                "no_box_ticked": "required"}
#: A flag's cell: (record, event, instance, field).
Cell = tuple[str, str, str, str]


def cell(record: str, event: str, instance: object, field_name: str) -> Cell:
    return (record, event, "" if instance in (None, "") else str(instance), field_name)


@dataclass
class Command:
    args: list[str]
    code: int
    stdout: str
    stderr: str


@dataclass
class Night:
    """pull -> validate -> report of one project folder over HTTP (see module doc)."""

    folder: Path
    work: Path
    commands: Sequence[str] = ("pull", "validate", "report")
    results: dict[str, Command] = field(default_factory=dict)

    def run(self) -> Night:
        from registry.log import configure_logging

        with SandboxServer.from_folder(self.folder) as server:
            self.server_url = server.url
            self.settings = self.work / "settings.toml"
            write_sandbox_settings(server, self.settings)
            with self.settings.open("a", encoding="utf-8") as fh:
                fh.write("\n[pull]\n" + "".join(f"{k} = {v}\n" for k, v in PULL.items()))
            try:
                for name in self.commands:
                    self.results[name] = _cli([name, "--settings", str(self.settings)])
            finally:
                configure_logging(None, console=False)
        return self

    @property
    def out_dir(self) -> Path:
        reports = self.work / "var" / "reports"
        runs = sorted(p for p in reports.iterdir() if p.is_dir() and not p.name.startswith("."))
        return runs[-1]

    def flags(self) -> list[dict[str, str]]:
        """Every row of every flags-<site>.csv of the last run folder."""
        rows: list[dict[str, str]] = []
        for path in sorted(self.out_dir.glob("flags-*.csv")):
            with path.open(encoding="utf-8-sig", newline="") as fh:
                rows += list(csv.DictReader(fh))
        return rows


def _cli(args: list[str]) -> Command:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return Command(args, code, out.getvalue(), err.getvalue())


def flag_keys(rows: Iterable[dict[str, str]]) -> set[tuple[Cell, str]]:
    """(cell, rule_id) of flags-CSV rows."""
    return {(cell(r["record_id"], r["event"], r["instance"], r["field"]), r["rule_id"])
            for r in rows}


def _source_rows(source: Path) -> list[dict[str, str]]:
    with (source / "records.csv").open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def clean_flags(night: Night, errors: Sequence[InjectedError],
                source: Path) -> set[tuple[Cell, str]]:
    """(cell, rule_id) of the flags the night would have raised without the injection."""
    from registry.profile import load_profile
    from registry.quality.runner import validate
    from registry.schema import schema_from_snapshot
    from registry.settings import load_settings
    from registry.snapshot_frames import snapshot_frame
    from registry.store import Store
    from registry.tidy import tidy

    settings = load_settings(night.settings)
    clean = _source_rows(source)
    meta = {m["field_name"]: m for m in read_dictionary(source / "dictionary.csv")}
    id_field = next(iter(meta))
    with Store.open(settings.store.url) as store:
        snaps = {s.name: last.id for s in settings.sites
                 if (last := store.latest_snapshot(s.name)) is not None}
        newest = max(snaps.values())
        metadata = store.snapshot_metadata(newest)
        info = store.snapshot(newest)
        profile = load_profile(settings.profile) if settings.profile else None
        schema = schema_from_snapshot(metadata, info.project_info, info.details, profile)
        rows = {site: snapshot_frame(store, sid) for site, sid in sorted(snaps.items())}
    for e in errors:
        src = next(r for r in clean if r[id_field] == e.record
                   and r.get("redcap_event_name", "") == e.event
                   and r.get("redcap_repeat_instance", "") == ("" if e.instance is None
                                                              else str(e.instance))
                   and (e.instance is None or r.get("redcap_repeat_instrument", "") in
                        ("", e.form)))
        for frame in rows.values():
            hit = frame[id_field] == e.record
            for col, want in (("redcap_event_name", e.event),
                              ("redcap_repeat_instance",
                               "" if e.instance is None else str(e.instance))):
                if col in frame.columns:
                    hit &= frame[col] == want
            for column in checkbox_columns(meta[e.field]) or [e.field]:
                if column in frame.columns:
                    frame.loc[hit, column] = src[column]
    result = validate(tidy(rows, schema), metadata, settings.quality.suites, site_links={},
                      sites=sorted(snaps))
    return {(cell(str(r.record_id), str(r.event), r.instance, str(r.field)), str(r.rule_id))
            for r in result.failures.itertuples()}


_REF = re.compile(r"\[([a-z0-9_]+)(?:\([^)]*\))?\]")


def explained(flag_field: str, injected: set[str], metadata: Sequence[dict[str, str]]) -> bool:
    """Whether a flag on `flag_field` can follow from a change of an `injected` field:
    its calc formula or its branching logic reads one."""
    meta = {m["field_name"]: m for m in metadata}
    m = meta.get(flag_field)
    if m is None:
        return False
    reads = set(_REF.findall(m["branching_logic"]))
    if m["field_type"] == "calc":
        reads |= set(_REF.findall(m["select_choices_or_calculations"]))
    return bool(reads & injected)
