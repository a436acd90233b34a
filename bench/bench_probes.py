"""Wall-clock benchmark: the whole watched import-probe set against the single slowest probe run alone.

Usage (from the repository root, with the dev venv):

    .venv/bin/python bench/bench_probes.py [--python PATH] [--rounds N] [--json out.json]

Default target: the real "hf-stack" test bed (built or reused by tests/beds.py). Each round runs, in the
same round: the set as `check --probes` runs it (a shared parent pays for the `share` probes once and
forks the others, envdoctor.runtime.shared), the set with one process per statement (no sharing), and the
statement that was slowest in the unshared set, alone in its own process. Reports the medians and the
ratio set / slowest alone (the issue's goal: at most 1.2x), for both ways. Asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envdoctor.inventory import Inventory  # noqa: E402
from envdoctor.runtime.imports import load_probes, run_imports, select  # noqa: E402
from envdoctor.target import Target  # noqa: E402

TIMEOUT = 600.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", help="target interpreter (default: the hf-stack test bed)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args()
    if args.python is None:
        from tests import beds

        args.python = str(beds.build("hf-stack").python)
    target = Target.resolve(args.python)
    inv = Inventory.from_payload(target.probe("inventory", {}, timeout=120))
    probes = select(load_probes(), inv)
    print(f"{target.python}: {len(inv.winners)} distributions, {len(probes)} probes, {os.cpu_count()} CPUs")
    sets: list[float] = []
    unshared: list[float] = []
    alone: list[float] = []
    slowest = ""
    for round_ in range(1, args.rounds + 1):
        start = time.perf_counter()
        results = run_imports(target.python, probes, timeout=TIMEOUT)
        sets.append(time.perf_counter() - start)
        start = time.perf_counter()
        fresh = run_imports(target.python, probes, timeout=TIMEOUT, share=False)
        unshared.append(time.perf_counter() - start)
        bad = [r.probe.statement for r in [*results, *fresh] if not r.ok]
        if bad:
            print(f"  failed: {bad}")
        worst = max(fresh, key=lambda r: r.seconds)
        slowest = worst.probe.statement
        start = time.perf_counter()
        run_imports(target.python, [worst.probe], timeout=TIMEOUT)
        alone.append(time.perf_counter() - start)
        counts = {p: sum(1 for r in results if r.process == p) for p in ("shared", "forked", "fresh")}
        print(
            f"  round {round_}: set {sets[-1]:.2f} s ({counts}); one process each {unshared[-1]:.2f} s; "
            f"slowest `{slowest}` alone {alone[-1]:.2f} s"
        )
    set_median, unshared_median, alone_median = (
        statistics.median(sets),
        statistics.median(unshared),
        statistics.median(alone),
    )
    ratio, before = set_median / alone_median, unshared_median / alone_median
    print(
        f"set {set_median:.2f} s, one process each {unshared_median:.2f} s, slowest alone {alone_median:.2f} s: "
        f"ratio {ratio:.2f}x shared, {before:.2f}x unshared (goal 1.2x); load average {os.getloadavg()[0]:.1f}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "python": target.python,
                    "probes": [p.statement for p in probes],
                    "cpus": os.cpu_count(),
                    "set_seconds": sets,
                    "unshared_set_seconds": unshared,
                    "unshared_ratio": before,
                    "load_average": os.getloadavg()[0],
                    "slowest": slowest,
                    "slowest_alone_seconds": alone,
                    "ratio": ratio,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
