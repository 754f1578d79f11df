"""A project's design as the last pull kept it, reused while REDCap's log shows no change.

Every pull used to ask REDCap again for what only a design change alters: the data
dictionary, the project information, the repeating setup, the instruments, the events,
arms and form-event mapping, and the DAG list. On an incremental night that was most
of the pull's requests (6 of 10 at 100x), each waiting its turn at the pace REDCap
allows. REDCap logs every design change as a "Manage/Design" event (logtype `manage`:
fields, instruments, the dictionary upload, the repeating setup, events, DAGs, project
settings, a production change's approval), so one log request says whether the kept
answers still hold.

The rules, so that a dictionary change is never missed:

- Only on an incremental night: a forced, first or scheduled full pull fetches
  everything (`pull.full_pull_every_days` also bounds how long answers are reused).
- Only with a project-wide token: REDCap scopes a DAG member's log to its DAG's records,
  and whether it still shows design events is uncertain (REDCAP_API.md §4).
- Only for the same source: the kept answers name the URL and token they came from (a
  keyed digest, `source_digest`, never the token); another URL or token (a rotated
  token, another project) fetches everything.
- Only when every kept answer is there (an older snapshot lacks some: fetch).
- Any log entry that is not known to be harmless counts as a change. Harmless: what
  REDCap logs under the same type for reading, not changing (`Download data dictionary
  (API)`, `Export ...`) and field comments (the Data Resolution Workflow's).
- A refused log (no Logging right) or an unreadable one fetches everything.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry.errors import RedcapBanned, RedcapDown, RedcapRefused, RedcapUnreachable
from registry.log import event, get_logger
from registry.redcap.client import RedcapClient
from registry.settings import Site

__all__ = ["HARMLESS", "StoredDesign", "design_changes", "source_digest", "stored_design",
           "unchanged_design"]

_log = get_logger("pull")

#: How "Manage/Design" entries that change nothing begin (lower case): reads REDCap
#: logs under that type, and field comments.
HARMLESS = ("download ", "export ", "add field comment", "edit field comment",
            "delete field comment")

#: The details keys a snapshot must hold for its answers to be reused.
_KEPT = ("repeating_forms", "dags", "instruments", "events", "arms", "form_event_mapping",
         "redcap_version", "source")


@dataclass(frozen=True)
class StoredDesign:
    """The project-level answers kept with a site's last snapshot."""

    metadata: Sequence[Mapping[str, Any]]
    project_info: Mapping[str, Any]
    version: str | None
    repeating_forms: Sequence[Mapping[str, Any]]
    dags: Sequence[Mapping[str, Any]] | None   # None: they came through a DAG token
    instruments: Sequence[Mapping[str, Any]]
    events: Sequence[Mapping[str, Any]]
    arms: Sequence[Mapping[str, Any]]
    form_event_mapping: Sequence[Mapping[str, Any]]
    source: str                                # `source_digest` of the URL and token


def source_digest(site: Site) -> str:
    """A digest naming the site's URL and token, kept with the snapshot so that answers
    are reused only from the same source. Keyed BLAKE2b, 128 bits: the token (itself
    128 random bits) cannot be recovered from it."""
    digest = hashlib.blake2b(key=b"registry.redcap.design", digest_size=16)
    digest.update(site.url.encode("utf-8") + b"\0" + site.token().reveal().encode("utf-8"))
    return digest.hexdigest()


def stored_design(metadata: Sequence[Mapping[str, Any]] | None, project_info: Any,
                  details: Mapping[str, Any] | None) -> StoredDesign | None:
    """The kept answers of a snapshot, or None if any is missing (an older snapshot)."""
    details = details or {}
    if not metadata or not isinstance(project_info, Mapping) or \
            any(k not in details for k in _KEPT) or not details.get("source"):
        return None
    return StoredDesign(
        metadata=metadata, project_info=project_info, version=details["redcap_version"],
        repeating_forms=details["repeating_forms"] or [], dags=details["dags"],
        instruments=details["instruments"] or [], events=details["events"] or [],
        arms=details["arms"] or [], form_event_mapping=details["form_event_mapping"] or [],
        source=str(details["source"]))


def design_changes(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The log entries that may be design changes (their details, or action): every
    entry but the harmless ones."""
    out = []
    for row in rows:
        details = str(row.get("details") or "").strip()
        text = details or str(row.get("action") or "").strip()
        if not details.lower().startswith(HARMLESS):
            out.append(text or "an entry without details")
    return out


def unchanged_design(client: RedcapClient, site: Site, stored: StoredDesign | None,
                     since: datetime) -> tuple[StoredDesign | None, str]:
    """`stored` if it may be reused for this pull (see the module's rules), with why;
    else None and why not (the pull then fetches every project-level answer)."""
    if stored is None:
        return None, "the last snapshot does not keep every project-level answer"
    if stored.dags is None:
        return None, "a DAG token (its log may not show design changes)"
    if stored.source != source_digest(site):
        return None, "the site's URL or token changed since the last snapshot"
    try:
        rows = client.design_log(since)
    except (RedcapBanned, RedcapDown):
        raise
    except (RedcapRefused, RedcapUnreachable) as exc:
        event(_log, "pull.design_log_unread", logging.WARNING, site=site.name,
              error=exc.message)
        return None, "REDCap's log could not be read"
    changes = design_changes(rows)
    if changes:
        event(_log, "pull.design_changed", site=site.name, n=len(changes),
              example=changes[0][:80])
        return None, f"REDCap's log shows {len(changes)} design event(s) since " \
                     f"{since:%Y-%m-%d %H:%M}"
    return stored, f"REDCap's log shows no design change since {since:%Y-%m-%d %H:%M}"
