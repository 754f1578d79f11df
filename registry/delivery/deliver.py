"""The delivery step of a run: compose every message, send it (or write it), record it.

`deliver_run` is what the nightly's `send` stage and `registry send --run` call. It
never raises: a message that cannot be composed or sent is recorded `failed` for each
of its recipients with a one-line reason, and the run goes on. A site or study whose
results did not change since the last run is `skipped` (recorded, nothing sent) unless
`[delivery] send_unchanged = true`. With `dry_run` a folder, each message is written
there as `<n>-<kind>-<name>.eml` instead, and nothing is recorded.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.policy import SMTP
from pathlib import Path

from registry.delivery.changes import site_change, study_change
from registry.delivery.compose import Outgoing, site_message, study_message
from registry.delivery.config import DeliverySettings
from registry.delivery.recipients import redcap_coordinators
from registry.delivery.smtp import Attempted, redact, send
from registry.errors import SettingsError
from registry.log import event, get_logger, register_secret
from registry.settings import Settings, Site
from registry.store import DeliveryInfo, Store

__all__ = ["DeliveryReport", "deliver_run", "smtp_password"]

_log = get_logger("delivery")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class DeliveryReport:
    """What the delivery step did: one line per message, the rows recorded, failures."""

    run_id: str
    lines: list[str] = field(default_factory=list)
    rows: list[DeliveryInfo] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(r.status == "failed" for r in self.rows)

    @property
    def sent(self) -> int:
        return sum(r.status == "sent" for r in self.rows)

    def counts(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed,
                "skipped": sum(r.status == "skipped" for r in self.rows),
                "written": len(self.written)}


def smtp_password(cfg: DeliverySettings) -> str | None:
    """The SMTP password from `password_env` (None when no login is set)."""
    if not cfg.password_env:
        return None
    value = os.environ.get(cfg.password_env)
    if not value:
        raise SettingsError(f"environment variable {cfg.password_env} is not set (it should "
                            "hold the SMTP password, delivery.password_env)")
    register_secret(value)
    return value


def _study_names(settings: Settings) -> dict[str, tuple[tuple[str, ...], str]]:
    """study name (`[study] name`, else the file's stem) -> its PIs and its title."""
    out: dict[str, tuple[tuple[str, ...], str]] = {}
    for path in settings.studies:
        name = title = path.stem
        try:
            study = tomllib.loads(path.read_text(encoding="utf-8")).get("study") or {}
            name = str(study.get("name") or name)
            title = str(study.get("title") or name)
        except (OSError, tomllib.TOMLDecodeError):
            pass  # the analyses stage said so already; the stem still names its outputs
        out[name] = (tuple(settings.study_pis.get(path, ())), title)
    return out


def _coordinators(settings: Settings, site: Site, notes: list[str]) -> tuple[str, ...]:
    """The site's coordinators: from settings, and from REDCap when roles are named."""
    cfg = settings.delivery
    assert cfg is not None
    found, why = redcap_coordinators(site, cfg, settings.pull)
    if why is not None:
        notes.append(f"send: {why}; only the coordinators in settings get its report")
    known = {a.lower() for a in site.coordinators}
    return site.coordinators + tuple(a for a in found if a.lower() not in known)


def _compose(settings: Settings, store: Store, run_id: str, folder: Path,
             notes: list[str]) -> list[Outgoing]:
    cfg = settings.delivery
    assert cfg is not None
    out: list[Outgoing] = []
    validated = set(store.flag_sites(run_id))
    for site in settings.sites:
        if site.name not in validated:
            continue
        recipients = _coordinators(settings, site, notes)
        if recipients:
            out.append(site_message(cfg.sender, recipients, run_id, site.display_name,
                                    site_change(store, run_id, site.name), folder))
    studies = set(store.result_studies(run_id))
    for study, (pis, title) in _study_names(settings).items():
        if study in studies and pis:
            out.append(study_message(cfg.sender, pis, run_id, title,
                                     study_change(store, run_id, study), folder))
    return out


def _row(run_id: str, o: Outgoing, recipient: str, status: str, attempts: int,
         reason: str | None) -> DeliveryInfo:
    return DeliveryInfo(run_id=run_id, kind=o.kind, target=o.target, recipient=recipient,
                        subject=o.subject, status=status, attempts=attempts, reason=reason,
                        files=list(o.files), at=datetime.now(UTC))


def _eml_name(index: int, o: Outgoing) -> str:
    return f"{index:02d}-{o.kind}-{_SAFE_NAME.sub('_', o.target)[:60]}.eml"


def deliver_run(settings: Settings, store: Store, run_id: str, *,
                dry_run: Path | None = None,
                sleep: Callable[[float], None] | None = None) -> DeliveryReport:
    """Send run `run_id`'s reports to the sites' coordinators and the studies' PIs."""
    report = DeliveryReport(run_id)
    cfg = settings.delivery
    if cfg is None:
        report.lines.append("send: no [delivery] in settings; nothing sent")
        return report
    folder = settings.reports_dir / run_id
    try:
        messages = _compose(settings, store, run_id, folder, report.lines)
    except Exception as exc:  # noqa: BLE001 - sending never fails the run
        why = f"the messages could not be made ({type(exc).__name__}: {exc})"
        _log.exception("event=send.compose_failed run=%s", run_id)
        report.lines.append(f"send: FAILED: {why}")
        return report
    if not messages:
        report.lines.append("send: no recipients set (coordinators in [[sites]], pis in "
                            "[[studies]]); nothing sent")
        return report
    unchanged = [o for o in messages if not o.changed and not cfg.send_unchanged]
    if dry_run is not None:
        dry_run.mkdir(parents=True, exist_ok=True)
        for o in unchanged:
            report.lines.append(f"send: {o.kind} {o.target}: not written: nothing changed")
        for i, o in enumerate([o for o in messages if o not in unchanged], 1):
            path = dry_run / _eml_name(i, o)
            path.write_bytes(o.message.as_bytes(policy=SMTP))
            report.written.append(path)
            report.lines.append(f"send: {o.kind} {o.target}: written to {path} "
                                f"({o.subject})")
        return report
    try:
        password = smtp_password(cfg)
        no_password = None
    except SettingsError as exc:
        password, no_password = None, exc.message
    for o in messages:
        outcomes: list[Attempted]
        if o in unchanged:
            why = "nothing changed since the last run (send_unchanged = true sends anyway)"
            outcomes = [Attempted(r, "skipped", 0, why) for r in o.recipients]
        elif not o.files:
            why = f"no file of this {o.kind} in {folder}: `registry report --run {run_id}`"
            outcomes = [Attempted(r, "failed", 0, why) for r in o.recipients]
        elif no_password is not None:
            outcomes = [Attempted(r, "failed", 0, no_password) for r in o.recipients]
        else:
            try:
                outcomes = send(cfg, o.message, o.recipients, password,
                                **({"sleep": sleep} if sleep is not None else {}))
            except Exception as exc:  # noqa: BLE001 - a bug here must not fail the run
                why = redact(f"{type(exc).__name__}: {exc}", password)
                outcomes = [Attempted(r, "failed", 1, why) for r in o.recipients]
        for a in outcomes:
            report.rows.append(_row(run_id, o, a.recipient, a.status, a.attempts, a.reason))
            event(_log, f"send.{a.status}", logging.INFO if a.status != "failed"
                  else logging.WARNING, run=run_id, kind=o.kind, target=o.target,
                  to=a.recipient, attempts=a.attempts, reason=a.reason)
        report.lines.append(_line(o, outcomes))
    try:
        store.record_deliveries(report.rows)
    except Exception as exc:  # noqa: BLE001 - the messages went; say the record did not
        report.lines.append(f"send: the outcomes could not be recorded in the store "
                            f"({type(exc).__name__})")
    return report


def _line(o: Outgoing, outcomes: list[Attempted]) -> str:
    by: dict[str, list[str]] = {}
    for a in outcomes:
        by.setdefault(a.status, []).append(a.recipient)
    parts = []
    if "sent" in by:
        parts.append(f"sent to {', '.join(by['sent'])}")
    if "skipped" in by:
        parts.append("not sent: nothing changed")
    if "failed" in by:
        reason = next(a.reason for a in outcomes if a.status == "failed")
        parts.append(f"FAILED for {', '.join(by['failed'])} ({reason})")
    return f"send: {o.kind} {o.target}: " + "; ".join(parts)
