"""The e-mails of a run: one per site for its coordinators, one per study for its PIs.

A site's message carries only that site's files from the run's output folder, picked
by their exact names (`site_files`): `site-<site>.pdf`, `flags-<site>.xlsx`,
`flags-<site>.csv`. A study's carries `<study>.pdf`. The subject and the first line
say what changed. The body holds counts and file names only, never a record's data.
"""

from __future__ import annotations

import mimetypes
import textwrap
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from registry.delivery.changes import SiteChange, StudyChange

__all__ = ["Outgoing", "site_files", "site_message", "study_files", "study_message"]

_TYPES = {".pdf": ("application", "pdf"), ".csv": ("text", "csv"),
          ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
_WHAT = {"site-": "the report: what to fix, with links to the REDCap forms",
         "study": "the study report: results, methods and what changed",
         ".xlsx": "the same flags as a spreadsheet, one sheet per form",
         ".csv": "the same flags as CSV, for other tools"}


@dataclass(frozen=True)
class Outgoing:
    """One message to send: for a site or a study, to its recipients."""

    kind: str                      # site | study
    target: str                    # the site or study name
    recipients: tuple[str, ...]
    subject: str
    message: EmailMessage
    files: tuple[str, ...]
    changed: bool


def site_files(folder: Path, site: str) -> list[Path]:
    """The site's own files in a run folder (exact names: never another site's)."""
    names = (f"site-{site}.pdf", f"flags-{site}.xlsx", f"flags-{site}.csv")
    return [folder / n for n in names if (folder / n).is_file()]


def study_files(folder: Path, study: str) -> list[Path]:
    path = folder / f"{study}.pdf"
    return [path] if path.is_file() else []


def _message(sender: str, recipients: tuple[str, ...], subject: str, body: str,
             files: list[Path]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg.set_content("\n".join(textwrap.fill(line, 72, subsequent_indent="    "
                                             if line.startswith("  ") else "")
                               if line else "" for line in body.splitlines()) + "\n")
    for path in files:
        maintype, subtype = _TYPES.get(path.suffix) or tuple(
            (mimetypes.guess_type(path.name)[0] or "application/octet-stream").split("/", 1))
        # a text file says its charset (the flags CSV is UTF-8 with a BOM), or mail
        # clients read it as ASCII
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype,
                           filename=path.name,
                           params={"charset": "utf-8"} if maintype == "text" else {})
    return msg


def _attached(files: list[Path], kind: str) -> list[str]:
    def what(p: Path) -> str:
        key = p.suffix if p.suffix != ".pdf" else ("site-" if kind == "site" else "study")
        return _WHAT.get(key, "attached")
    return [f"  {p.name}: {what(p)}" for p in files]


def site_message(sender: str, recipients: tuple[str, ...], run_id: str, label: str,
                 change: SiteChange, folder: Path) -> Outgoing:
    """The coordinators' message for one site: its PDF and flags spreadsheet(s)."""
    files = site_files(folder, change.site)
    subject = f"Registry {change.site}: {change.summary()}"  # short: the counts stay in view
    lines = [f"{change.summary()[0].upper()}{change.summary()[1:]} at {label} "
             f"in the registry's run {run_id}.", ""]
    if change.open:
        lines.append(f"{_plural(change.open, 'flag')} open on "
                     f"{_plural(change.records, 'record')}; {change.blocking} of the flags "
                     "keep their record out of the analyses until fixed in REDCap.")
    else:
        lines.append("No flag is open: nothing to fix.")
    lines += ["", "Attached:", *_attached(files, "site"), "",
              "Each flag links to its form in REDCap; a fixed value is checked again on the "
              "next night's run.", "", "-- sent by registry"]
    return Outgoing("site", change.site, recipients, subject,
                    _message(sender, recipients, subject, "\n".join(lines) + "\n", files),
                    tuple(p.name for p in files), change.changed)


def study_message(sender: str, recipients: tuple[str, ...], run_id: str, title: str,
                  change: StudyChange, folder: Path) -> Outgoing:
    """The PIs' message for one study: its PDF."""
    files = study_files(folder, change.study)
    subject = f"Registry study {change.study}: {change.summary()}"
    if change.previous_run is None:
        first = f"First results of {title} (run {run_id})."
    elif change.changed:
        first = (f"Results changed since run {change.previous_run}: {change.moved} "
                 f"({title}, run {run_id}).")
    else:
        first = f"Results unchanged since run {change.previous_run} ({title}, run {run_id})."
    lines = [first, "", f"Headline: {change.headline}.", "", "Attached:",
             *_attached(files, "study"), "", "-- sent by registry"]
    return Outgoing("study", change.study, recipients, subject,
                    _message(sender, recipients, subject, "\n".join(lines) + "\n", files),
                    tuple(p.name for p in files), change.changed)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
