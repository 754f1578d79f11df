"""Every command that writes goes through `registry.run`: lock, stale runs, run end.

- a night killed after its validate stage is never the "previous" flag set: the next
  `registry validate` marks it abandoned and ages tonight's flags against the last
  finished night, so a flag the killed night saw first is still NEW;
- pull, validate, analyse and report each mark a stale `running` run abandoned (and
  sweep its partial folder) before doing anything;
- `report --run` of a run that has no outputs (abandoned, failed, unknown) is one line
  and exit 2, and leaves no folder;
- a reports disk that fills up is one line and exit 3, with the earlier outputs intact
  (a real full disk: a tiny tmpfs in a private mount namespace where `unshare` allows
  it, and always a real file-size limit, RLIMIT_FSIZE, in a subprocess);
- a PostgreSQL connection lost mid-run (a loopback TCP proxy cut) gives the real error
  on stderr and in the log, and the next run marks the run abandoned.

Each starts from a copy of the session's good night (`night_dir`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from redcap import Project

from registry.commands.analyse import analyse_command
from registry.commands.pull import pull_command
from registry.commands.quality import validate_command
from registry.commands.report import report_command
from registry.run import run_pull, run_validate
from registry.settings import load_settings
from registry.store import Store
from tests.cli_main import CliRun, run_cli
from tests.nightly.conftest import env, nightly_cli, tree_bytes, wait_for, write_settings
from tests.pg import pg_schema_url


def _store(folder: Path) -> Store:
    return Store.open(load_settings(folder / "settings.toml").store.url)


def _log_since(folder: Path, offset: int) -> str:
    with (folder / "registry.log").open("rb") as fh:
        fh.seek(offset)
        return fh.read().decode("utf-8", "replace")


def _keyed(flags) -> dict[tuple, dict]:
    return {(f["site"], f["record_id"], f["form"], f["instance"], f["field"], f["rule_id"]): f
            for f in flags}


def _typo_target(registry_data) -> dict[str, str]:
    """A treatment row no injected error touched, with a start and a stop date."""
    wrong = {t.record_id for t in registry_data.truth}
    return next(r for r in registry_data.records
                if r["record_id"] not in wrong and r["redcap_repeat_instrument"] == "treatments"
                and r["trt_start"] and r["trt_stop"])


def test_a_night_killed_after_validate_is_never_the_previous_flag_set(
        night_dir, night_sandbox, registry_data, baseline):
    settings = night_dir / "settings.toml"
    row = _typo_target(registry_data)
    key = {"record_id": row["record_id"], "redcap_repeat_instrument": "treatments",
           "redcap_repeat_instance": str(row["redcap_repeat_instance"])}
    project = Project(night_sandbox.url, night_sandbox.tokens.project)
    project.import_records([{**key, "trt_stop": "2001-01-01"}])  # a new blocking error
    try:
        offset = (night_dir / "registry.log").stat().st_size
        proc = nightly_cli(settings)
        try:
            wait_for(lambda: "event=analyse.start" in _log_since(night_dir, offset), 120,
                     "the analyse stage (validate done)", proc)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        killed_id = re.search(r"event=run.start run=(\S+)",
                              _log_since(night_dir, offset)).group(1)
        with _store(night_dir) as store:
            assert store.run(killed_id).status == "running"
            killed = _keyed(store.flags(killed_id))
        seen_first = {k for k, f in killed.items() if f["status"] == "new"}
        assert seen_first and {k[1] for k in seen_first} == {row["record_id"]}

        after = run_validate(load_settings(settings))

        with _store(night_dir) as store:
            assert store.run(killed_id).status == "abandoned"
            assert store.run(after.run_id).status == "succeeded"
            flags = _keyed(store.flags(after.run_id))
            good = _keyed(store.flags(baseline.run_id))
        # aged against the good night, not the killed one: still NEW, first seen tonight
        assert {k for k, f in flags.items() if f["status"] == "new"} == seen_first
        assert all(flags[k]["first_seen"] > killed[k]["first_seen"] for k in seen_first)
        assert {flags[k]["status"] for k in good} == {"open"}
    finally:
        project.import_records([{**key, "trt_stop": row["trt_stop"]}], overwrite="overwrite")


_COMMANDS = {
    "pull": pull_command,
    "validate": validate_command,
    "analyse": analyse_command,
    "report": report_command,
}


@pytest.mark.parametrize("command", sorted(_COMMANDS))
def test_every_writer_abandons_a_stale_run_first(command, night_dir, baseline, capsys):
    """A run a killed process left `running`, with its half-written folder: the next
    command that writes, whichever it is, marks it abandoned and sweeps the folder."""
    with _store(night_dir) as store:
        stale = store.start_run("nightly")
    partial = night_dir / "var" / "reports" / f".{stale}.x1y2.partial"
    partial.mkdir()
    (partial / "site-paris.pdf").write_bytes(b"%PDF half")

    assert _COMMANDS[command](night_dir / "settings.toml") == 0, capsys.readouterr().err
    with _store(night_dir) as store:
        assert store.run(stale).status == "abandoned"
    assert not partial.exists()


def _cli(capsys, *args: str) -> CliRun:
    return run_cli(capsys, *args)


@pytest.mark.parametrize("kind", ["abandoned", "failed", "unknown"])
def test_report_of_a_run_without_outputs_is_refused_with_one_line(kind, night_dir, capsys):
    settings = night_dir / "settings.toml"
    with _store(night_dir) as store:
        run_id = store.start_run("nightly")
        if kind == "failed":
            store.finish_run(run_id, "failed", 3, "no site could be pulled")
        elif kind == "unknown":
            run_id = "20000101-000000-dead"
    code, out, err = _cli(capsys, "report", "--run", run_id, "--settings", str(settings))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and run_id in err, err
    assert "Traceback" not in err
    assert not (night_dir / "var" / "reports" / run_id).exists()


def _hashes(folder: Path) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in tree_bytes(folder).items()}


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "-rm", "sh", "-c",
                           "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null || "
                           "mount -t tmpfs -o size=64k tmpfs /tmp"], capture_output=True)
    return done.returncode == 0


def test_a_full_reports_disk_is_one_line_and_exit_3_the_earlier_outputs_intact(
        night_dir, baseline):
    """A real full disk: the reports folder is a tmpfs (in a private mount namespace)
    holding the good night's outputs and barely more; rebuilding them cannot fit."""
    if not _unshare_works():
        pytest.skip("no private mount namespace here (unshare -rm): the RLIMIT_FSIZE test "
                    "below makes the same fault real")
    reports = night_dir / "var" / "reports"
    good = reports / baseline.run_id
    size = sum(p.stat().st_size for p in good.rglob("*") if p.is_file())
    disk = night_dir / "disk"
    disk.mkdir()
    settings = night_dir / "settings-disk.toml"
    settings.write_text((night_dir / "settings.toml").read_text()
                        .replace('dir = "var/reports"', 'dir = "disk"'))
    script = (f'mount -t tmpfs -o size={size + 96 * 1024} tmpfs "{disk}" && '
              f'cp -a "{good}" "{disk}/" && '
              f'"{sys.executable}" -m registry report --run {baseline.run_id} '
              f'--settings "{settings}"; echo "exit=$?"; '
              f'cd "{disk}" && find . -type f | sort | xargs sha256sum')
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True,
                          text=True, env=env(), cwd=night_dir, timeout=180)
    assert "exit=3" in done.stdout, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"registry: cannot write the outputs of run {baseline.run_id} in "), done.stderr
    assert "No space left on device" in lines[0]
    shown = dict(reversed(line.split(None, 1)) for line in done.stdout.splitlines()[1:])
    expected = {f"./{baseline.run_id}/{k}": v for k, v in _hashes(good).items()}
    assert shown == expected  # the good night's folder, byte for byte, and nothing else


def test_a_file_size_limit_is_one_line_and_exit_3_the_earlier_outputs_intact(
        night_dir, baseline):
    """The same fault through RLIMIT_FSIZE (works without any privilege): no file may
    grow past 40 KiB (room for SQLite's 32 KiB shared-memory index and the site PDFs),
    so the study PDF (~50 KB) fails with EFBIG ("File too large") half-way through."""
    reports = night_dir / "var" / "reports"
    before = _hashes(reports)
    assert (reports / baseline.run_id / "jak_cni.pdf").stat().st_size > 40 * 1024
    settings = night_dir / "settings.toml"  # the log file is past the limit already
    settings.write_text(settings.read_text().replace('[log]\nfile = "registry.log"\n', ""))

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (40 * 1024, 40 * 1024))

    done = subprocess.run([sys.executable, "-m", "registry", "report", "--run",
                           baseline.run_id, "--settings", str(settings)], env=env(),
                          cwd=night_dir, capture_output=True, text=True, timeout=180,
                          preexec_fn=limit)
    assert done.returncode == 3 and done.stdout == "", done.stderr
    assert done.stderr.strip().splitlines() == [
        f"registry: cannot write the outputs of run {baseline.run_id} in {reports}: File too "
        "large; earlier outputs are untouched"]
    assert _hashes(reports) == before
    assert [p.name for p in reports.iterdir()] == [baseline.run_id]


class _Proxy:
    """A loopback TCP proxy to PostgreSQL that can be cut: every connection through it
    drops and new ones are refused, as when the database host goes away mid-run."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = [self.server]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.mark.postgres
def test_a_postgresql_connection_lost_mid_run_is_logged_and_the_run_abandoned_next(
        night_sandbox, tmp_path, capsys, monkeypatch):
    from sqlalchemy.engine import make_url

    import registry.run

    with pg_schema_url("lost", "connection-loss test") as url:
        direct = make_url(url)
        proxy = _Proxy(direct.host or "127.0.0.1", direct.port or 5432)
        settings = write_settings(night_sandbox, tmp_path)
        through = direct.set(host="127.0.0.1", port=proxy.port)
        text = settings.read_text()
        settings.write_text(text.replace('url = "sqlite:///var/registry.sqlite"',
                                         f'url = "{through.render_as_string(False)}"'))
        real_stage = registry.run.Run.stage

        def cut_at_validate(self, name):
            if name == "validate":
                proxy.cut()  # the database host goes away once the pull is stored
            return real_stage(self, name)
        monkeypatch.setattr(registry.run.Run, "stage", cut_at_validate)

        code, out, err = _cli(capsys, "nightly", "--settings", str(settings))
        monkeypatch.undo()
        assert code == 3 and "Traceback" not in err
        mine = [ln for ln in err.splitlines() if ln.startswith("registry: ")]
        log = (tmp_path / "registry.log").read_text()
        run_id = re.search(r"event=run.start run=(\S+)", log).group(1)
        failed = re.search(r"event=validate.failed run=\S+ error=(.*)", log)
        assert failed and "store" in failed.group(1), log
        # the real error, once on stderr, and in the log with the run's end that failed
        logged = failed.group(1).strip('"').replace('\\"', '"')
        assert mine == [f"registry: {logged}"]
        assert f"event=run.failed run={run_id}" in log
        assert f"event=run.end_unrecorded run={run_id}" in log

        # the database is back (here: straight, without the proxy); the next writer
        # finds the run still `running` and marks it abandoned
        settings.write_text(text.replace('url = "sqlite:///var/registry.sqlite"',
                                         f'url = "{url}"'))
        with Store.open(url) as store:
            assert store.run(run_id).status == "running"
        assert all(o.ok for o in run_pull(load_settings(settings)))
        with Store.open(url) as store:
            assert store.run(run_id).status == "abandoned"
