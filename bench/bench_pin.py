"""Benchmark: `envdoctor pin` planning and verification, against a bare pip dry run of the same set.

Usage (from the repository root, with the dev venv; needs the package index):

    .venv/bin/python bench/bench_pin.py [--rounds N] [--json out.json]

The environment: a copy of the real hf-stack test bed (torch 2.13.0 CPU, transformers, accelerate, peft,
datasets, trl: 50 distributions) broken the way the user reports are: accelerate 0.31.0 installed over
it with --no-deps, so peft's `from accelerate.utils.memory import clear_device_cache` fails.

Measured in the same run, tools alternating, medians:
- plan: the planner alone, in this process, on the inventory and findings of that environment (what
  `pin --no-verify` adds to a check); the target is 0.5 s.
- pin-no-verify: the whole `envdoctor pin --no-verify` process.
- pin: the whole `envdoctor pin` process (check, plan, `pip install --dry-run --report`, re-check of the
  resolved set with its new wheels read from envdoctor's cache).
- pip-dry-run: `pip install --dry-run --report` of the file `envdoctor pin` wrote, alone; the target
  is pin / pip-dry-run <= 1.2.
Asserts nothing about speed.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from broken import broken_hf_stack  # noqa: E402
from timing import timed_process  # noqa: E402

from envdoctor.cache import Cache, default_dir  # noqa: E402
from envdoctor.diagnose import check_inventory, load_matrix  # noqa: E402
from envdoctor.fix.planner import Planner  # noqa: E402
from envdoctor.inventory import Inventory  # noqa: E402
from envdoctor.knowledge.wheelfacts import Facts  # noqa: E402
from envdoctor.target import Target  # noqa: E402

ENVDOCTOR = [sys.executable, "-m", "envdoctor"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="envdoctor-bench-pin-"))
    try:
        bed = broken_hf_stack(work)
        py = str(bed.python)
        inv = Inventory.from_payload(Target.resolve(py).probe("inventory", {}, timeout=120))
        cache = Cache(default_dir())
        report = check_inventory(inv, cache=cache)
        errors = [f.id for f in report.findings if f.severity >= 30]
        req = work / "r.txt"
        out = subprocess.run([*ENVDOCTOR, "pin", "--python", py], capture_output=True, text=True, check=False)
        req.write_text(out.stdout)
        moves = [line for line in out.stdout.splitlines() if line.startswith("# moves")]
        pip_dry = [sys.executable, "-m", "pip", "--python", py, "install", "--dry-run", "--quiet"]
        pip_dry += ["--report", str(work / "report.json"), "-r", str(req)]
        times: dict[str, list[float]] = {"plan": [], "pin-no-verify": [], "pin": [], "pip-dry-run": []}
        for _ in range(args.rounds):
            start = time.perf_counter()
            Planner(inv, report.findings, facts=Facts.shipped(), matrix=load_matrix(), cache=cache).plan()
            times["plan"].append(time.perf_counter() - start)
            times["pin-no-verify"].append(timed_process([*ENVDOCTOR, "pin", "--python", py, "--no-verify", "-q"]).wall)
            times["pin"].append(timed_process([*ENVDOCTOR, "pin", "--python", py, "-q"]).wall)
            times["pip-dry-run"].append(timed_process(pip_dry).wall)
        med = {k: statistics.median(v) for k, v in times.items()}
        result = {
            "distributions": len(inv.winners),
            "errors": errors,
            "plan": moves,
            "median_s": med,
            "ratio_pin_to_pip_dry_run": med["pin"] / med["pip-dry-run"],
            "rounds": times,
        }
        print(f"environment: hf-stack + accelerate 0.31.0, {len(inv.winners)} distributions, errors {errors}")
        print("plan:", "; ".join(moves))
        for k, v in med.items():
            print(f"{k:>14}: {v * 1000:8.0f} ms (median of {args.rounds})")
        print(f"pin / pip-dry-run = {result['ratio_pin_to_pip_dry_run']:.2f}x")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
