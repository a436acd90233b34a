"""What the compatibility matrix costs `envdoctor check`: loading it and evaluating it, in-process.

Usage (from the repository root, with the dev venv):

    .venv/bin/python bench/bench_matrix.py [--rounds N] [--rules 10000]

On the real "hf-stack" test bed it times, alternating round by round: the metadata check alone, and
the metadata check plus the matrix (load + evaluate, signals with a warm cache), so the difference is
what the matrix adds to `envdoctor check`; then the same with a synthetic matrix of --rules rules (on
random packages of the bed, half of them matching), to show that loading does not grow in a way a user
would notice. Asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envdoctor.cache import Cache  # noqa: E402
from envdoctor.checks.metadata import check_metadata  # noqa: E402
from envdoctor.checks.rules import SIGNALS, check_rules  # noqa: E402
from envdoctor.checks.signals.base import Files  # noqa: E402
from envdoctor.diagnose import load_matrix  # noqa: E402
from envdoctor.inventory import Inventory  # noqa: E402
from envdoctor.knowledge.matrix import Matrix, load  # noqa: E402
from envdoctor.target import Target  # noqa: E402
from tests import beds  # noqa: E402

RULE = """
[[rule]]
id = "synthetic-{i}"
severity = "warning"
title = "synthetic rule {i} on {pkg}"
applies = {{ "{pkg}" = "{spec}" }}
symptom = "nothing"
why = "a synthetic rule for the benchmark"
fix = ["{pkg}>0"]
test = "bench/bench_matrix.py::main"

[[rule.evidence]]
kind = "run"
bed = "none"
command = "none"
observed = "none"
"""


def synthetic(root: Path, inv: Inventory, n: int) -> Path:
    rng = random.Random(1)
    names = sorted(inv.winners)
    text = ['family = "synthetic"']
    for i in range(n):
        pkg = rng.choice(names)
        spec = ">=0" if i % 2 else "<0.0.1"  # half match, half do not
        text.append(RULE.format(i=i, pkg=pkg, spec=spec))
    (root / "synthetic.toml").write_text("\n".join(text))
    return root


def median_ms(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, min(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--rules", type=int, default=10000)
    args = parser.parse_args(argv)
    bed = beds.build("hf-stack")
    inv = Inventory.from_payload(Target.resolve(str(bed.python)).probe("inventory", {}, timeout=120))
    with tempfile.TemporaryDirectory() as tmp:
        files = Files(Cache(Path(tmp) / "cache"))
        shipped = load_matrix()
        assert isinstance(shipped, Matrix), shipped
        check_rules(inv, shipped, files)  # fills the signal cache, as a second `envdoctor check` has it

        def metadata_only() -> object:
            return check_metadata(inv)

        cache = Cache(Path(tmp) / "cache")

        def with_matrix() -> object:
            matrix = load_matrix(cache)
            return check_metadata(inv) + check_rules(inv, matrix, files)

        (Path(tmp) / "big").mkdir()
        big_root = synthetic(Path(tmp) / "big", inv, args.rules)
        first = time.perf_counter()
        load(big_root, signals=SIGNALS, cache=cache)
        print(
            f"first load of the {args.rules}-rule matrix (parse, validate, store): "
            f"{(time.perf_counter() - first) * 1000:.0f} ms; the rounds below read it back"
        )

        def with_big() -> object:
            return check_metadata(inv) + check_rules(inv, load(big_root, signals=SIGNALS, cache=cache), files)

        print(
            f"hf-stack: {len(inv.winners)} distributions; shipped matrix: {len(shipped.rules)} rules; "
            f"synthetic: {args.rules} rules; {args.rounds} rounds, alternating"
        )
        results: dict[str, list[float]] = {"metadata": [], "metadata+matrix": [], f"metadata+{args.rules} rules": []}
        fns = dict(zip(results, (metadata_only, with_matrix, with_big), strict=True))
        for _ in range(args.rounds):
            for name, fn in fns.items():
                results[name].append(median_ms(fn, 1)[0])
    base = statistics.median(results["metadata"])
    for name, times in results.items():
        med = statistics.median(times)
        print(f"  {name:<28} median {med:8.1f} ms   min {min(times):8.1f} ms   added {med - base:+8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
