"""Wall-clock benchmark: ``check --distributed`` on 2 ranks against one single-process ``envdoctor check``.

Usage (from the repository root, with the dev venv; builds the dist-transformers-5.23.0 test bed if needed):

    .venv/bin/python bench/bench_distributed.py [--rounds N] [--python PY] [--options "--no-cache" ...]

For each set of options (default: none (a warm check), ``--no-cache`` (cold) and ``--train``), in the same run,
alternating round by round:

  single       envdoctor check --python PY --format json OPTIONS
  distributed  PY -m torch.distributed.run --nproc_per_node=2 --no-python
                 envdoctor check --distributed --python PY --format json OPTIONS
  launcher     the same torchrun line running `true` (what torchrun itself costs, envdoctor aside)

Each is a whole process timed with time.perf_counter() around subprocess.run() (wall), and by the CPU time
(user + system) it and every process under it used (getrusage(RUSAGE_CHILDREN) before and after: steadier than
wall time on a shared machine). The medians and the ratios distributed / single and (distributed - launcher) /
single are printed for both. Asserts nothing; see bench/README.md.
"""

from __future__ import annotations

import argparse
import shlex
import socket
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ENVDOCTOR = [sys.executable, "-m", "envdoctor"]

from timing import timed_process  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _timed(argv: list[str], *, ok: tuple[int, ...] = (0, 1)) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole process; an exit status outside ``ok`` stops the benchmark."""
    run = timed_process(argv, ok=ok)
    return run.wall, run.cpu


def torchrun(python: str, command: list[str]) -> list[str]:
    launch = ["--nproc_per_node=2", "--master_addr=127.0.0.1", f"--master_port={free_port()}", "--no-python"]
    return [python, "-m", "torch.distributed.run", *launch, *command]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python", help="target interpreter with torch (default: the dist-transformers-5.23.0 bed)")
    parser.add_argument(
        "--options",
        action="append",
        help='one set of check options, quoted (repeatable; default: "", "--no-cache", "--train")',
    )
    args = parser.parse_args()
    if args.python is None:
        from tests import beds

        args.python = str(beds.build("dist-transformers-5.23.0").python)
    option_sets = args.options if args.options is not None else ["", "--no-cache", "--train"]
    for options in option_sets:
        extra = shlex.split(options)
        check = [*ENVDOCTOR, "check", "--python", args.python, "--format", "json", *extra]
        runs = {
            "single": lambda check=check: _timed(check),
            "distributed": lambda check=check: _timed(torchrun(args.python, [*check[:4], "--distributed", *check[4:]])),
            "launcher": lambda: _timed(torchrun(args.python, ["true"]), ok=(0,)),
        }
        runs["single"]()  # untimed warm-up: page cache, envdoctor's cache (a warm check is warm from here on)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for i in range(args.rounds):
            names = list(runs) if i % 2 == 0 else list(reversed(runs))
            for name in names:
                times[name].append(runs[name]())
        print(f"options: {options or '(none: a warm check)'}")
        for kind, at in (("wall", 0), ("CPU", 1)):
            med = {name: statistics.median(t[at] for t in ts) for name, ts in times.items()}
            for name, ts in times.items():
                each = ", ".join(f"{t[at]:.2f}" for t in ts)
                print(f"  {kind:<4} {name:<12} median {med[name]:7.2f} s  ({each})")
            print(f"  {kind:<4} distributed / single: {med['distributed'] / med['single']:.2f}x")
            less = (med["distributed"] - med["launcher"]) / med["single"]
            print(f"  {kind:<4} (distributed - launcher) / single: {less:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
