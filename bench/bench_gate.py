"""Wall-clock benchmark of the CI gate and the bug-report bundle on the real hf-stack bed, whole processes.

Usage (from the repository root, with the dev venv):

    .venv/bin/python bench/bench_gate.py [--rounds N] [--json out.json]

Commands, interleaved round by round (the order rotates each round) after one untimed warm-up each (so
envdoctor's cache, in a fresh folder, is warm for every timed run):

  check         envdoctor check --python PY           (stdout not a terminal: the text view, as in CI)
  check-all     the same, plus -o json:F -o junit:F -o github:F -o sarif:F -o markdown:F (all five files)
  report        envdoctor report --python PY                         (Markdown, with the device facts)
  device-facts  PY -B probes/_launch.py step  with {"facts_only": true} (what report adds: imports torch)
  transformers-env   PY/bin/transformers env                         (the command report replaces)

Ratios printed (medians): check-all / check (goal <= 1.10), report / (check + device-facts) (goal <= 1.2),
report / transformers-env (goal < 1). Asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench_check import BIN, ROOT, rotated
from timing import timed_process

FORMATS = ("json", "junit", "github", "sarif", "markdown")


def commands(python: Path, out: Path) -> dict[str, list[str]]:
    envdoctor = str(BIN / "envdoctor")
    check = [envdoctor, "check", "--python", str(python)]  # stdout is not a terminal: the text view, as in CI
    request = out / "request.json"
    request.write_text(json.dumps({"facts_only": True}))
    return {
        "check": check,
        "check-all": [*check, *(a for f in FORMATS for a in ("-o", f"{f}:{out / f'report.{f}'}"))],
        "report": [envdoctor, "report", "--python", str(python)],
        "device-facts": [str(python), "-B", str(ROOT / "probes" / "_launch.py"), "step", str(request), str(out / "r")],
        "transformers-env": [str(python.parent / "transformers"), "env"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tests import beds

    python = beds.build("hf-stack").python
    with tempfile.TemporaryDirectory(prefix="envdoctor-bench-gate-") as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"},
            "ENVDOCTOR_CACHE_DIR": str(Path(tmp) / "cache"),
            "HF_HUB_OFFLINE": "1",
        }
        cmds = commands(python, Path(tmp))
        for name, argv_ in cmds.items():  # warm-up: also says whether each command works at all
            print(f"warm-up {name}: exit {timed_process(argv_, env).returncode}", file=sys.stderr)
        wall: dict[str, list[float]] = {name: [] for name in cmds}
        cpu: dict[str, list[float]] = {name: [] for name in cmds}
        for r in range(args.rounds):
            for name in rotated(list(cmds), r):
                run = timed_process(cmds[name], env)
                w, c = run.wall, run.cpu
                wall[name].append(w)
                cpu[name].append(c)
    out: dict[str, object] = {"rounds": args.rounds, "wall": wall, "cpu": cpu}
    for label, times in (("wall", wall), ("cpu", cpu)):
        med = {name: statistics.median(ts) for name, ts in times.items()}
        ratios = {
            "check-all / check": med["check-all"] / med["check"],
            "report / (check + device-facts)": med["report"] / (med["check"] + med["device-facts"]),
            "report / transformers-env": med["report"] / med["transformers-env"],
        }
        print(f"{label} time, median of {args.rounds} rounds (min):")
        for name, m in med.items():
            print(f"  {name:<18} {m * 1000:8.0f} ms  ({min(times[name]) * 1000:.0f} ms)")
        for ratio, value in ratios.items():
            print(f"  {ratio:<34} {value:.2f}")
        out[f"{label}_ratios"] = ratios
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
