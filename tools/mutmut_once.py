"""mutmut 3 for `tools/mutate.py`, without the work a `make mutate` run would repeat.

    python tools/mutmut_once.py generate               # make mutants/ (no tests run)
    python tools/mutmut_once.py run [--max-children N] NAME...   # `mutmut run NAME...`

`generate` makes every mutant (what `mutmut run` does first) so that `tools/mutate.py`
can pick a group's sample by the mutants' names before the one `mutmut run`; before,
a first run called mutmut twice, each time running the groups' tests once more unmutated.

`run` is `mutmut run`, less one step: when mutmut has just run every test for its
stats (a first run, or its cache reset), it runs the same tests again unmutated ("clean
tests", one process, minutes for these groups) to check they pass. The stats run
already stops mutmut when a test fails (`failed to collect stats`), so that second pass
is skipped then; when the stats come from the cache, the clean tests run as usual.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any


def generate(max_children: int) -> None:
    """mutmut's mutant generation step (the first lines of `mutmut run`)."""
    import mutmut.__main__ as mm

    mm.set_mutant_under_test("mutant_generation")
    os.makedirs("mutants", exist_ok=True)
    mm.copy_src_dir()
    mm.copy_also_copy_files()
    mm.setup_source_paths()
    mm.store_lines_covered_by_tests()
    print(mm.create_mutants(max_children))


def run(args: list[str]) -> None:
    """`mutmut run ARGS`, the clean tests skipped right after a full stats run."""
    import mutmut.__main__ as mm

    full_stats: list[bool] = []
    stats_collection = mm.run_stats_collection
    runner_of = mm.get_mutant_runner

    def run_stats_collection(runner: Any, tests: Iterable[str] | None = None) -> None:
        stats_collection(runner, tests)
        full_stats.append(tests is None)

    def get_mutant_runner(max_workers: int = 1) -> Any:
        runner: Any = runner_of(max_workers)
        clean = runner.run_clean_tests

        def run_clean_tests(tests: Iterable[str]) -> int:
            if full_stats and all(full_stats):
                # past mutmut's output catcher, which shows only a failing step
                print("    clean tests: passed in the stats run just before", file=sys.__stdout__)
                return 0
            return int(clean(tests))

        runner.run_clean_tests = run_clean_tests
        return runner

    mm.run_stats_collection = run_stats_collection
    mm.get_mutant_runner = get_mutant_runner
    mm.cli(["run", *args])


def main() -> None:
    step, args = sys.argv[1], sys.argv[2:]
    if step == "generate":
        generate(int(args[0]) if args else os.cpu_count() or 2)
    elif step == "run":
        run(args)
    else:
        sys.exit(f"unknown step {step!r}: generate or run")


if __name__ == "__main__":
    main()
