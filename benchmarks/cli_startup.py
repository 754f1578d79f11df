"""Cold start of the CLI: `registry --help` and `registry nightly --help`, wall seconds.

Runs each command RUNS times in fresh interpreters (min and median printed, with the
load average), alternating with the same commands of a baseline checkout when
`--baseline DIR` is given (DIR on PYTHONPATH), so both see the same machine:

    python benchmarks/cli_startup.py --runs 30 --baseline /tmp/registry-before

`python -X importtime -m registry --help` says where the time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = (["--help"], ["nightly", "--help"])


def _once(tree: Path, args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "registry", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="a checkout to compare with")
    parser.add_argument("--no-warm", action="store_true",
                        help="no warm-up run of each command (the smoke test's tiny run)")
    args = parser.parse_args()
    trees = {"this tree": REPO} | ({"baseline": args.baseline} if args.baseline else {})
    times: dict[tuple[str, str], list[float]] = {}
    for tree in () if args.no_warm else trees.values():  # warm the file cache
        for cmd in COMMANDS:
            _once(tree, cmd)
    for _ in range(args.runs):
        for name, tree in trees.items():
            for cmd in COMMANDS:
                times.setdefault((name, " ".join(cmd)), []).append(_once(tree, cmd))
    bare = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - started)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f}; {args.runs} runs each, python {sys.version.split()[0]}")
    print(f"{'':28} {'min s':>7} {'median s':>9}")
    print(f"{'python -c pass (the floor)':28} {min(bare):7.3f} {statistics.median(bare):9.3f}")
    for (name, cmd), values in times.items():
        label = f"{name}: registry {cmd}"
        print(f"{label:28} {min(values):7.3f} {statistics.median(values):9.3f}")


if __name__ == "__main__":
    main()
