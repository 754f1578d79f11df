"""`make mutate`: mutation testing (mutmut) of the modules whose bugs matter most.

Each group of tools/mutate_groups.toml names the source files it mutates, the functions
in them (mutmut's mutant names, glob patterns) and the test files that guard them.
`pyproject.toml`'s `[tool.mutmut]` lists the files (mutmut reads only that; checked
here). This runs `mutmut run` on the groups' mutants, then prints and writes
(var/mutate/summary.md) the score per group and every surviving mutant.

mutmut runs the tests once with every function instrumented (tests/conftest.py keeps
the groups' test files only) and then gives each mutant the tests that called the
mutated function, among its own group's test files, with `-x`, no xdist, no cache,
derandomized Hypothesis (CI=true).

    python tools/mutate.py              # run every group (results cached in mutants/)
    python tools/mutate.py pull log     # only these groups
    python tools/mutate.py --summary    # summarise the last run without running
    python tools/mutate.py --sample analyses=0.1   # a fixed tenth of a group's mutants
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import re
import resource
import subprocess
import sys
import time
import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GROUPS_FILE = ROOT / "tools" / "mutate_groups.toml"
EQUIVALENT_FILE = ROOT / "tools" / "mutate_equivalent.toml"


@dataclass(frozen=True)
class Group:
    files: tuple[str, ...]
    mutants: tuple[str, ...]       # mutmut names: module.x_function / module.xǁClassǁmethod
    tests: tuple[str, ...]
    target: float                  # share of mutants to kill
    sample: float                  # share of the mutants `make mutate` runs (1: all)


GROUPS: dict[str, Group] = {
    name: Group(tuple(g["files"]), tuple(g["mutants"]), tuple(g["tests"]), float(g["target"]),
                float(g.get("sample", 1.0)))
    for name, g in tomllib.loads(GROUPS_FILE.read_text(encoding="utf-8")).items()}

#: mutmut's statuses that count as caught: a test failed, pytest crashed, the CPU limit
#: (an endless loop) or a crash of the interpreter
CAUGHT = ("killed", "timeout", "segfault")


def _equivalent() -> dict[str, str]:
    """The known equivalent mutants (tools/mutate_equivalent.toml) whose mutated line is
    still the one recorded: mutmut numbers a function's mutants in order, so after the
    function changes a name may be another mutation; such an entry is run as usual."""
    entries = tomllib.loads(EQUIVALENT_FILE.read_text(encoding="utf-8"))["mutant"]
    bodies: dict[str, str] = {}
    out: dict[str, str] = {}
    for e in entries:
        module, func = e["name"].rsplit(".", 1)
        path = ROOT / "mutants" / (module.replace(".", "/") + ".py")
        if not path.exists():
            continue
        text = bodies.setdefault(module, path.read_text(encoding="utf-8"))
        start = text.find(f"def {func}(")
        # the mutant ends at the next statement as indented as its `def` (not a nested def)
        indent = text[text.rfind("\n", 0, start) + 1:start] if start >= 0 else ""
        after = (re.compile(rf"\n{indent}(?:def |@|class |mutants_)").search(text, start + 1)
                 if start >= 0 else None)
        body = text[start:after.start() if after else len(text)] if start >= 0 else ""
        if e["line"] in body:
            out[e["name"]] = e["why"]
        else:
            print(f"tools/mutate_equivalent.toml: {e['name']} is no longer `{e['line']}`;"
                  " run as usual", file=sys.stderr)
    return out


def _check_config() -> None:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    files = sorted({f for g in GROUPS.values() for f in g.files})
    if sorted(conf["only_mutate"]) != files:
        sys.exit(f"pyproject.toml [tool.mutmut] only_mutate should be {files}")


def _results() -> dict[str, int | None]:
    """Every mutant's exit code (None: not run yet) from mutmut's meta files."""
    out: dict[str, int | None] = {}
    for meta in (ROOT / "mutants").rglob("*.py.meta"):
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def _group_of(name: str) -> str | None:
    for gname, g in GROUPS.items():
        if any(fnmatch.fnmatchcase(name, p) for p in g.mutants):
            return gname
    return None


def sampled(name: str, share: float) -> bool:
    """A fixed sample of mutants (by a hash of the name: the same ones every run)."""
    return zlib.crc32(name.encode()) % 10_000 < share * 10_000


def _to_run(groups: list[str], *, fresh: bool, sample: dict[str, float],
            skip: set[str]) -> list[str]:
    """mutmut's arguments: the mutants of the groups' samples not caught yet, or all of
    them when `fresh` (mutmut reruns every mutant named on its command line and resets
    one whose function changed); not those of `skip` (known equivalent)."""
    from mutmut.stats import status_by_exit_code

    res = _results()
    chosen = [n for n in res if _group_of(n) in groups and _chosen(n, sample)
              and n not in skip]
    return sorted(n for n in chosen if fresh or res[n] is None
                  or status_by_exit_code[res[n]] not in CAUGHT)


def _chosen(name: str, sample: dict[str, float]) -> bool:
    """In the run: in its group's sample (`--sample`, else the group's `sample`)."""
    group = _group_of(name)
    return group is not None and sampled(name, sample.get(group, GROUPS[group].sample))


def _wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson interval of a share k / n (a sample's score as an estimate)."""
    if not n:
        return 0.0, 0.0
    z, p = 1.96, k / n
    mid, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (mid - half) / (1 + z * z / n), (mid + half) / (1 + z * z / n)


def summary(groups: list[str], sample: dict[str, float] | None = None,
            equivalent: dict[str, str] | None = None) -> str:
    """The score per group over the mutants of its sample that have a result; a known
    equivalent mutant (not run) counts as a survivor, as it would if it were run."""
    from mutmut.stats import status_by_exit_code

    res = _results()
    sample, equivalent = sample or {}, equivalent or {}
    lines = ["| group | killed / tested | % | 95 % CI | of them equivalent | % of the others"
             " | target |", "|---|---|---|---|---|---|---|"]
    survivors: list[str] = []
    wrong: list[str] = []
    for gname in groups:
        names = sorted(n for n in res if _group_of(n) == gname and _chosen(n, sample))
        share = sample.get(gname, GROUPS[gname].sample)
        # listed equivalent and not run (or run and survived); one run and killed is not
        known = [n for n in names if n in equivalent
                 and (res[n] is None or status_by_exit_code[res[n]] not in CAUGHT)]
        wrong += [n for n in names if n in equivalent and n not in known]
        codes = [res[n] for n in names if n not in known]
        killed = sum(status_by_exit_code[c] in CAUGHT for c in codes)
        total = sum(c is not None for c in codes) + len(known)
        pct = 100 * killed / total if total else 0.0
        others = 100 * killed / (total - len(known)) if total > len(known) else 0.0
        low, high = _wilson(killed, total)
        ci = f"{100 * low:.1f}-{100 * high:.1f}" if share < 1 else "(all run)"
        mark = "" if pct >= 100 * GROUPS[gname].target else " (below)"
        label = (gname if share == 1
                 else f"{gname} ({share:.0%} sample: {len(names)} of {_size(res, gname)})")
        lines.append(f"| {label} | {killed} / {total} | {pct:.1f} | {ci} | {len(known)} |"
                     f" {others:.1f} |"
                     f" {GROUPS[gname].target:.0%}{mark} |")
        survivors += [f"{n} ({status_by_exit_code[res[n]]})" for n in names
                      if n not in known and res[n] is not None
                      and status_by_exit_code[res[n]] not in CAUGHT]
    out = lines + ["", f"Surviving mutants, not known equivalent ({len(survivors)}):"]
    out += [f"- {s}" for s in survivors]
    if wrong:
        out += ["", "Killed although listed in tools/mutate_equivalent.toml (not equivalent):"]
        out += [f"- {n}" for n in wrong]
    return "\n".join(out) + "\n"


def _size(res: dict[str, int | None], group: str) -> int:
    return sum(_group_of(n) == group for n in res)


def _share(text: str) -> tuple[str, float]:
    group, _, share = text.partition("=")
    if group not in GROUPS or not 0 < float(share or 0) <= 1:
        sys.exit(f"--sample {text}: expected GROUP=SHARE with a group of {', '.join(GROUPS)}"
                 " and 0 < SHARE <= 1")
    return group, float(share)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", choices=[[], *GROUPS], default=[])
    parser.add_argument("--summary", action="store_true", help="only summarise the last run")
    parser.add_argument("--fresh", action="store_true",
                        help="run every mutant again, killed ones too")
    parser.add_argument("--sample", action="append", default=[], metavar="GROUP=SHARE",
                        help="run a fixed share of a group's mutants, e.g. analyses=0.1"
                        " (default: the group's `sample` in tools/mutate_groups.toml)")
    parser.add_argument("--equivalent", action="store_true",
                        help="run the known equivalent mutants too (tools/mutate_equivalent.toml)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    groups = args.groups or list(GROUPS)
    _check_config()
    started, load_before = time.monotonic(), os.getloadavg()[0]
    sample = dict(_share(v) for v in args.sample)
    if not args.summary:
        env = {**os.environ, "CI": "true"}
        once = [sys.executable, str(ROOT / "tools" / "mutmut_once.py")]
        if not _results():
            # a first run: make every mutant (no tests) to pick the samples by name
            subprocess.run([*once, "generate", str(args.max_children)], cwd=ROOT, env=env,
                           check=True)
        skip = set() if args.equivalent else set(_equivalent())
        names = _to_run(groups, fresh=args.fresh, sample=sample, skip=skip)
        if names:
            subprocess.run([*once, "run", "--max-children", str(args.max_children), *names],
                           cwd=ROOT, env=env, check=True)
        else:
            print("every chosen mutant is caught already (--fresh runs them again)")
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time of mutmut and its workers: on an idle 2-core machine the wall time is
    # about half of it; the wall time here depends on the machine's other load, so the
    # summary keeps both with the load average at the start and the end of the run
    cost = (f"This run ({' '.join(groups)}): wall {time.monotonic() - started:.0f} s,"
            f" CPU {used.ru_utime + used.ru_stime:.0f} s, load {load_before:.1f} at the"
            f" start, {os.getloadavg()[0]:.1f} at the end.\n")
    text = summary(groups, sample, {} if args.equivalent else _equivalent())
    text += "" if args.summary else "\n" + cost
    out = ROOT / "var" / "mutate" / "summary.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
