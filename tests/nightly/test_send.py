"""`registry send` and the nightly's send stage, against real SMTP servers on loopback.

On a copy of the session's good night: every site's coordinators get their own files
only (the record ids in the attachments are checked), the PIs the study PDF, each
recipient's outcome is recorded; a server that refuses (550, a bad login) or hangs up
leaves the run as it was and the failure recorded and shown by `registry status`; the
SMTP password shows nowhere. The commands run in-process (`registry.cli.main`, what
`python -m registry` calls): what is checked is what they send and write, not a new
interpreter's imports.
"""

from __future__ import annotations

import csv
import io
import re
from email import message_from_bytes, policy
from pathlib import Path

import openpyxl
import pytest

from registry.commands.nightly import nightly_command
from registry.run import run_send
from registry.settings import load_settings
from registry.store import Store
from tests.cli_main import CliRun, run_cli
from tests.nightly.conftest import pdf_text, token_leaks
from tests.nightly.delivery_settings import (
    PASSWORD,
    PASSWORD_ENV,
    PIS,
    SENDER,
    add_delivery,
    coordinators,
)
from tests.smtp_server import Inbox, hang_up_server, start_inbox

SITES = ("paris", "lyon", "lille")
REFUSED = "second.lyon@lyon.example.org"


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return PASSWORD


def _record_ids(store: Store, run_id: str) -> dict[str, set[str]]:
    run = store.run(run_id)
    return {site: set(store.snapshot_record_ids(used.snapshot_id))
            for site, used in run.snapshots.items()}


def _mentions(text: str, record_id: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(record_id)}(?![\w-])", text) is not None


def _cli(folder: Path, capsys, monkeypatch, *args: str) -> CliRun:
    """`registry ARGS --settings ...` at 80 columns, in-process: exit code, stdout, stderr."""
    monkeypatch.setenv("COLUMNS", "80")
    return run_cli(capsys, *args, "--settings", str(folder / "settings.toml"))


def test_each_site_gets_only_its_own_files_and_the_pis_the_study(
        night_dir, baseline, password, capsys):
    inbox = Inbox(password=password, refuse={REFUSED: "550 5.1.1 no such user here"})
    with start_inbox(inbox) as port:
        settings = load_settings(add_delivery(night_dir / "settings.toml", port))
        report = run_send(settings, baseline.run_id)
    folder = settings.reports_dir / baseline.run_id
    with Store.open(settings.store.url) as store:
        ids = _record_ids(store, baseline.run_id)
        flags = store.flags(baseline.run_id)
        recorded = store.deliveries(baseline.run_id)
    assert all(ok for _, ok in inbox.logins) and inbox.logins

    for site in SITES:
        got = [r for r in inbox.received if set(r.recipients) & set(coordinators(site))]
        assert len(got) == 1, (site, [r.recipients for r in inbox.received])
        mail = got[0]
        expected_to = [a for a in coordinators(site) if a != REFUSED]
        assert mail.recipients == expected_to and mail.sender == SENDER
        mine = [f for f in flags if f["site"] == site]
        new = sum(f["status"] in ("new", "reopened") for f in mine)
        blocking = sum(f["severity"] == "blocking" for f in mine
                       if f["status"] in ("new", "open", "reopened"))
        words = f"{new} new flag{'' if new == 1 else 's'}, 0 resolved, {blocking} blocking"
        assert mail.message["Subject"].endswith(words)
        assert mail.message.get_body().get_content().startswith("First report, " + words)
        files = mail.attachments()
        own = {p.name for p in folder.iterdir()
               if p.name in (f"site-{site}.pdf", f"flags-{site}.csv", f"flags-{site}.xlsx")}
        assert set(files) == own and f"site-{site}.pdf" in own
        assert files[f"site-{site}.pdf"] == (folder / f"site-{site}.pdf").read_bytes()
        text = pdf_text(_saved(night_dir, files, f"site-{site}.pdf"))
        sheet = files[f"flags-{site}.csv"]  # text/csv: read back as text
        rows = list(csv.DictReader(io.StringIO(sheet.lstrip("\ufeff") if isinstance(sheet, str)
                                               else sheet.decode("utf-8-sig"))))
        assert {r["site"] for r in rows} <= {site}
        assert {r["record_id"] for r in rows} == {f["record_id"] for f in mine
                                                  if f["status"] != "resolved"}
        assert {r["record_id"] for r in rows} <= ids[site]
        assert all(_mentions(text, r["record_id"]) for r in rows)
        others = set().union(*(ids[s] for s in SITES if s != site))
        assert not [rid for rid in others if _mentions(text, rid)], site
        assert f"flags-{site}.xlsx" in files  # the spreadsheet, loaded back
        book = openpyxl.load_workbook(_saved(night_dir, files, f"flags-{site}.xlsx"))
        cells = " ".join(str(c.value) for sheet in book.worksheets for row in sheet.iter_rows()
                         for c in row if c.value is not None)
        assert all(_mentions(cells, r["record_id"]) for r in rows)
        assert not [rid for rid in others if _mentions(cells, rid)], site

    study = [r for r in inbox.received if set(r.recipients) == set(PIS)]
    assert len(study) == 1 and set(study[0].attachments()) == {"jak_cni.pdf"}
    assert "First results of JAK inhibitor" in study[0].message.get_body().get_content()
    assert "calcineurin" in pdf_text(_saved(night_dir, study[0].attachments(), "jak_cni.pdf"))

    by_recipient = {(r.target, r.recipient): r for r in recorded}
    assert len(by_recipient) == 2 * len(SITES) + len(PIS)
    refused = by_recipient[("lyon", REFUSED)]
    assert refused.status == "failed" and "550" in (refused.reason or "")
    assert all(r.status == "sent" and r.attempts == 1 for k, r in by_recipient.items()
               if k[1] != REFUSED)
    assert report.failed == 1

    out = capsys.readouterr()
    raw = {f"message {i}": r.raw.decode("latin-1") for i, r in enumerate(inbox.received)}
    assert token_leaks(night_dir, [PASSWORD], {"stdout": out.out, "stderr": out.err,
                                               "lines": "\n".join(report.lines), **raw}) == []


def _saved(folder: Path, files: dict[str, bytes], name: str) -> Path:
    path = folder / "received" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(files[name])
    return path


def test_dry_run_writes_one_eml_per_message_and_sends_nothing(night_dir, baseline, password,
                                                              capsys, monkeypatch):
    with hang_up_server() as (port, accepted):
        add_delivery(night_dir / "settings.toml", port)
        out = night_dir / "outbox"
        done = _cli(night_dir, capsys, monkeypatch, "send", "--run", baseline.run_id,
                    "--dry-run", str(out))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert accepted == []
    emls = sorted(out.glob("*.eml"))
    assert [p.name for p in emls] == ["01-site-paris.eml", "02-site-lyon.eml",
                                      "03-site-lille.eml", "04-study-jak_cni.eml"]
    for path in emls:
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        names = {p.get_filename() for p in msg.iter_attachments()}  # type: ignore[attr-defined]
        site = path.stem.split("-", 2)[2]
        assert names == ({"jak_cni.pdf"} if "study" in path.name
                         else {f"site-{site}.pdf", f"flags-{site}.csv"}
                         | ({f"flags-{site}.xlsx"} if (night_dir / "var" / "reports"
                            / baseline.run_id / f"flags-{site}.xlsx").exists() else set()))
    settings = load_settings(night_dir / "settings.toml")
    with Store.open(settings.store.url) as store:
        assert store.deliveries(baseline.run_id) == []
    assert token_leaks(night_dir, [PASSWORD], {"stdout": done.stdout}) == []


def test_refusing_and_hanging_up_servers_are_recorded_and_shown_by_status(
        night_dir, baseline, monkeypatch, capsys):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    inbox = Inbox(password="not-the-password")
    with start_inbox(inbox) as port:
        settings = load_settings(add_delivery(night_dir / "settings.toml", port))
        refused = run_send(settings, baseline.run_id)
    assert inbox.received == [] and inbox.logins
    assert {r.status for r in refused.rows} == {"failed"}
    assert all("login refused (535" in (r.reason or "") and r.attempts == 1
               for r in refused.rows)  # a refused login is not tried again

    with hang_up_server() as (port, accepted):
        settings = load_settings(add_delivery(night_dir / "settings.toml", port))
        dropped = run_send(settings, baseline.run_id)
    messages = 1 + len(SITES)
    assert len(accepted) == messages * (settings.delivery.retries + 1)  # type: ignore[union-attr]
    assert {r.status for r in dropped.rows} == {"failed"}
    assert all("closed the connection" in (r.reason or "") and r.attempts == 3
               for r in dropped.rows)
    with Store.open(settings.store.url) as store:
        run = store.run(baseline.run_id)
    assert run.status == "succeeded" and run.exit_code == 0  # sending changed nothing

    done = _cli(night_dir, capsys, monkeypatch, "status")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert f"E-mails of run {baseline.run_id}" in done.stdout
    shown = " ".join(done.stdout.split())
    for site in SITES:
        for address in coordinators(site):
            assert address in shown
    assert shown.count("failed") >= len(dropped.rows) and "closed the connection" in shown
    assert all(len(line) <= 80 for line in done.stdout.splitlines())
    assert token_leaks(night_dir, [PASSWORD], {"status": done.stdout}) == []


def test_the_nightly_sends_after_its_reports_and_skips_what_did_not_change(
        night_dir, baseline, password, capsys):
    inbox = Inbox(password=PASSWORD, refuse={REFUSED: "550 5.1.1 no such user here"})
    with start_inbox(inbox) as port:
        settings_path = add_delivery(night_dir / "settings.toml", port,
                                     extra="send_unchanged = true\n")
        code = nightly_command(settings_path)
        out, err = capsys.readouterr()
    assert code == 0, err  # a refused recipient never fails the night
    run_id = re.search(r"^run (\S+): ", out, re.M).group(1)  # type: ignore[union-attr]
    assert f"send: site lyon: sent to coord.lyon@lyon.example.org; FAILED for {REFUSED}" \
        in out
    assert len(inbox.received) == 1 + len(SITES)
    settings = load_settings(settings_path)
    with Store.open(settings.store.url) as store:
        run = store.run(run_id)
        stage = next(s for s in run.stages if s.stage == "send")
        assert stage.status == "partial" and stage.counts["failed"] == 1
        assert [s.stage for s in run.stages][-2:] == ["report", "send"]
    assert run.status == "succeeded"

    # the second night changed nothing: without send_unchanged nothing goes out
    with hang_up_server() as (port, accepted):
        settings = load_settings(add_delivery(night_dir / "settings.toml", port))
        again = run_send(settings, run_id)
    assert accepted == [] and {r.status for r in again.rows} == {"skipped"}
    assert all("nothing changed" in (r.reason or "") for r in again.rows)


def test_coordinators_from_redcap_are_the_site_dag_users_in_the_roles_named(
        night_dir, baseline):
    roles = ('coordinators_from_redcap = ["Site coordinator"]\n'
             'users_token_file = "sandbox.tokens"\nusers_token_key = "REGISTRY_TOKEN_PROJECT"\n')
    settings = load_settings(add_delivery(night_dir / "settings.toml", 25, login=False,
                                          extra=roles))
    report = run_send(settings, baseline.run_id, dry_run=night_dir / "outbox")
    to = {p.stem.split("-", 2)[2]: message_from_bytes(p.read_bytes(), policy=policy.default)
          ["To"] for p in (night_dir / "outbox").glob("*-site-*.eml")}
    assert set(to) == set(SITES)
    for site in SITES:
        # the settings' two, then the DAG's coordinator; not data entry, not expired rights
        assert to[site].split(", ") == [*coordinators(site),
                                        f"coordinator.{site}@sandbox.example.org"], to[site]
    assert not [line for line in report.lines if "could not be read" in line]

    # without a token with User Rights, a DAG's own token is refused: settings' only
    settings = load_settings(add_delivery(night_dir / "settings.toml", 25, login=False,
                                          extra='coordinators_from_redcap = ["Data entry"]\n'))
    report = run_send(settings, baseline.run_id, dry_run=night_dir / "outbox2")
    notes = [line for line in report.lines if "could not be read" in line]
    assert len(notes) == len(SITES) and "User Rights" in notes[0]
    for path in (night_dir / "outbox2").glob("*-site-*.eml"):
        site = path.stem.split("-", 2)[2]
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert msg["To"].split(", ") == list(coordinators(site))
