"""A second registry declared only as data: registries/hf_cohort/ through the whole nightly.

A longitudinal heart-failure cohort (four events, a repeating medication log on the
enrolment event, two DAGs) with its own profile, suite and study (SGLT2 inhibitor
start -> first heart-failure hospitalisation or death), served from its folder by the
sandbox and run by `registry nightly` as a user runs it; and no Python file of the
tool names one of its fields, forms or events.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tokenize
from pathlib import Path

import pytest

from registry.sandbox.folder import read_folder
from registry.sandbox.server import SandboxServer
from registry.sandbox.starter import write_sandbox_settings
from tests.reports.pdf_text import text as pdf_text
from tests.scenarios.e2e import PULL, _cli
from tests.scenarios.inject import inject_errors

REPO = Path(__file__).resolve().parents[2]
HF = REPO / "registries" / "hf_cohort"
#: The sandbox's synthetic registry generator may name the anti-MDA5 fields; nothing else.
GENERATOR = {"registry/sandbox/dictionary.py", "registry/sandbox/generator.py",
             "registry/commands/demo.py",  # the demo's data entry into the synthetic registry
             "registry/sandbox/cohort.py", "registry/sandbox/inject/kinds.py",
             "registry/sandbox/inject/context.py"}


def _settings(server: SandboxServer, folder: Path) -> Path:
    """What a data manager writes: the sandbox's settings pointed at the registry's own
    profile, suites and study (its seed repeats cut to 5 for the test)."""
    path = folder / "settings.toml"
    write_sandbox_settings(server, path)
    study = folder / "sglt2i.toml"
    text = re.sub(r"(?m)^seed_repeats\s*=\s*\d+", "seed_repeats = 5",
                  (HF / "studies" / "sglt2i.toml").read_text(encoding="utf-8"))
    study.write_text(re.sub(r"(?m)^pp_bootstrap\s*=\s*\d+", "pp_bootstrap = 10", text),
                     encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    for key, value in (("profile", "profile.toml"), ("suites", "expectations")):
        text = text.replace(f'{key} = "{value}"', f"{key} = {json.dumps(str(HF / value))}")
    text += '\n[[studies]]\nspec = "sglt2i.toml"\n\n[pull]\n'
    text += "".join(f"{k} = {v}\n" for k, v in PULL.items())
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """One nightly of the heart-failure cohort, with 6 errors injected into a copy."""
    from registry.log import configure_logging

    work = tmp_path_factory.mktemp("hf")
    errors = inject_errors(HF, work / "project", n=6, seed=3,
                           kinds=["impossible_date", "unknown_code", "out_of_range"])
    with SandboxServer.from_folder(work / "project") as server:
        settings = _settings(server, work)
        try:
            done = _cli(["nightly", "--settings", str(settings)])
        finally:
            configure_logging(None, console=False)
    match = re.search(r"outputs in (\S+)", done.stdout)
    assert done.code == 0 and match, (done.stdout, done.stderr)
    return Path(match.group(1)), errors, done


def test_the_nightly_writes_every_output_with_a_finite_estimate(night):
    out, _, done = night
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "flags-nord.csv", "flags-nord.xlsx", "flags-sud.csv", "flags-sud.xlsx",
        "sglt2i-matched.csv", "sglt2i.json", "sglt2i.pdf", "site-nord.pdf", "site-sud.pdf"]
    study = json.loads((out / "sglt2i.json").read_text(encoding="utf-8"))
    main = study["analyses"][0]
    assert main["name"] == "main" and main["n_exposed"] > 20
    assert math.isfinite(main["hr"]) and main["ci_low"] < main["hr"] < main["ci_high"], main
    text = pdf_text(out / "sglt2i.pdf")
    assert "SGLT2 inhibitors and heart-failure hospitalisation or death" in text
    assert f"{main['hr']:.2f}" in text
    # the outcome and day 0 in words from the dictionary's labels, not from column names
    # or another registry's words (its day 0 is enrolment, not diagnosis)
    assert "first heart-failure hospitalisation or death" in text
    assert main["estimand"].startswith("hazard ratio of first heart-failure "
                                       "hospitalisation or death within 365 days")
    assert "Days from enrolment to the index day" in text
    assert "with a date of enrolment and follow-up" in text
    flat = " ".join(text.split())
    for words in ("hf hosp", "diagnosis", "enrol date", "ICU"):
        assert words not in flat, words


def test_injected_errors_are_flagged_in_the_site_outputs(night):
    out, errors, _ = night
    flagged = set()
    for path in out.glob("flags-*.csv"):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            flagged |= {(r["record_id"], r["form"], r["instance"], r["field"], r["rule_id"])
                        for r in csv.DictReader(fh)}
    for e in errors:
        kind = {"impossible_date": "type", "unknown_code": "choices", "out_of_range": "range"}
        want = (e.record, e.form, "" if e.instance is None else str(e.instance), e.field,
                f"dictionary.{e.field}.{kind[e.kind]}")
        assert want in flagged, (e, sorted(f for f in flagged if f[0] == e.record))
    sites = {e.record.split("-")[0] for e in errors}
    text = " ".join(pdf_text(out / f"site-{s}.pdf") for s in ("nord", "sud"))
    assert sites and all(e.record in text for e in errors)


def _code_strings(path: Path) -> set[str]:
    """The identifier-like words inside the string literals of a Python file (names
    used as data: keys, columns, field names), docstrings and comments excluded."""
    words: set[str] = set()
    tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text("utf-8")).readline))
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.STRING:
            continue
        before = next((t for t in reversed(tokens[:i]) if t.type not in (
            tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.COMMENT)), None)
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        docstring = (before is None or before.string in (":", "")) and \
            after is not None and after.type in (tokenize.NEWLINE, tokenize.NL)
        if not docstring:
            words |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", tok.string))
    return words


def test_no_python_file_names_a_field_form_or_event_of_the_registry():
    folder = read_folder(HF)
    names = {m["field_name"] for m in folder.metadata} | {
        m["form_name"] for m in folder.metadata} | set(folder.design.event_names)
    # names any program uses for its own things are no sign of a registry's field
    distinctive = {n for n in names if "_" in n or len(n) > 6}
    assert {"lvef", "med_class", "hf_hosp_date", "closeout_arm_1"} <= names
    offenders = []
    for path in sorted([*(REPO / "registry").rglob("*.py"), *(REPO / "analyses").rglob("*.py")]):
        rel = str(path.relative_to(REPO))
        if rel in GENERATOR:
            continue
        hit = distinctive & _code_strings(path)
        hit |= {n for n in names - distinctive
                if re.search(rf"\b{n}\b", path.read_text("utf-8"))
                and n in _code_strings(path)}
        offenders += [f"{rel}: {n}" for n in sorted(hit)]
    assert not offenders, offenders
