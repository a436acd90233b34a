"""Benchmark: `envdoctor pin --verify` against trying the same plan by hand, in the same run.

Usage (from the repository root, with the dev venv; needs the package index):

    .venv/bin/python bench/bench_verify.py [--rounds N] [--json out.json]

The environment: a copy of the real hf-stack test bed (torch 2.13.0 CPU, transformers 5.23.0, accelerate, peft,
datasets, trl: 50 distributions) broken as in bench_pin.py: accelerate 0.31.0 installed over it with --no-deps.

Measured in the same run, tools alternating, medians:
- pin-verify: the whole `envdoctor pin --verify` process (check, plan, pip's dry run, the re-check, then the
  throwaway copy: a venv, pip installing the moved distributions, the links, the import probes and the stack step).
- by-hand: what a careful user does to try the same plan: a fresh venv that sees the target's site folder
  through a `.pth` file, `pip install --no-deps` of only the moved distributions (exactly the file's releases),
  then one run of the same import probes and the same stack step there (envdoctor's runners, called directly).
The goal (issue 15) is pin-verify / by-hand <= 1.5. Asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from broken import broken_hf_stack  # noqa: E402

from envdoctor.runtime import stack  # noqa: E402
from envdoctor.runtime.imports import load_probes, run_imports, select, share_levels  # noqa: E402
from envdoctor.target import Target  # noqa: E402
from tests import beds  # noqa: E402

ENVDOCTOR = [sys.executable, "-m", "envdoctor"]


def by_hand(target: beds.Bed, moved: list[str], work: Path) -> tuple[float, dict[str, str]]:
    """The plan tried by hand: seconds, and each stack step's status."""
    start = time.perf_counter()
    folder = work / "by-hand"
    shutil.rmtree(folder, ignore_errors=True)
    venv.EnvBuilder(with_pip=False, symlinks=True).create(folder)
    fresh = beds.Bed("by-hand", folder)
    (fresh.site / "target.pth").write_text(f"{target.site}\n")
    beds.pip("install", "--no-deps", "--no-compile", *moved, python=fresh.python)
    inv = Target.resolve(str(target.python)).inventory(timeout=120, fresh=True)
    probes = select(load_probes(), inv)
    run_imports(str(fresh.python), probes, timeout=300, levels=share_levels(inv, probes))
    done = stack.run(str(fresh.python), timeout=600)
    seconds = time.perf_counter() - start
    shutil.rmtree(folder, ignore_errors=True)
    return seconds, {r.step: r.status for r in (done.stack.results if done.stack else ())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="envdoctor-bench-verify-"))
    try:
        bed = broken_hf_stack(work)
        py = str(bed.python)
        times: dict[str, list[float]] = {"pin-verify": [], "by-hand": []}
        header: list[str] = []
        steps: dict[str, str] = {}
        for _ in range(args.rounds):
            start = time.perf_counter()
            out = subprocess.run(
                [*ENVDOCTOR, "pin", "--python", py, "--verify", "--changes-only", "-q"],
                capture_output=True,
                text=True,
                check=False,
                timeout=1800,
            )
            times["pin-verify"].append(time.perf_counter() - start)
            header = [line for line in out.stdout.splitlines() if line.startswith("# ")]
            moved = [line.split("  #")[0] for line in out.stdout.splitlines() if line and not line.startswith("#")]
            seconds, steps = by_hand(bed, moved, work)
            times["by-hand"].append(seconds)
        med = {k: statistics.median(v) for k, v in times.items()}
        result = {"header": header, "by_hand_steps": steps, "median_s": med, "rounds": times}
        result["ratio_pin_verify_to_by_hand"] = med["pin-verify"] / med["by-hand"]
        print("\n".join(header))
        print("by hand, stack step:", steps)
        for k, v in med.items():
            print(f"{k:>11}: {v:8.1f} s (median of {args.rounds})")
        print(f"pin --verify / by hand = {result['ratio_pin_verify_to_by_hand']:.2f}x")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
