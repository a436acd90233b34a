"""Wall-clock benchmark: envdoctor's precision step (probes/step.py) against a minimal hand-written script.

Usage (from the repository root, with the dev venv; builds the train-cpu test bed if needed):

    .venv/bin/python bench/bench_train.py [--rounds N] [--python PY]

Both run in one process of the target, importing torch and accelerate once, and do the same three steps
(fp32, fp16, bf16 through ``Accelerator(mixed_precision=...)``, accelerate's state reset between them).
envdoctor's probe runs through envdoctor.runner (its launcher, JSON request and result, device facts,
the checks of each step, five timed repeat steps per precision); the hand-written script runs with
subprocess.run. The two alternate round by round; the median of each is reported with the ratio.
Asserts nothing about speed; see bench/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HAND_WRITTEN = """
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState

for precision in ("no", "fp16", "bf16"):
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    torch.manual_seed(0)
    accelerator = Accelerator(mixed_precision=precision)
    model = torch.nn.Sequential(torch.nn.Linear(128, 512), torch.nn.ReLU(), torch.nn.Linear(512, 128))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = torch.utils.data.TensorDataset(torch.randn(32, 128), torch.randn(32, 128))
    loader = torch.utils.data.DataLoader(data, batch_size=32)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    for x, y in loader:
        with accelerator.autocast():
            loss = torch.nn.functional.mse_loss(model(x).float(), y)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
    print(precision, loss.item())
"""


def envdoctor_probe(python: str) -> float:
    from envdoctor import runner

    start = time.perf_counter()
    result = runner.run_probe(python, "step", {"precisions": ["no", "fp16", "bf16"]}, timeout=600)
    elapsed = time.perf_counter() - start
    if not result.ok or result.payload is None or not all(s["ran"] for s in result.payload["steps"]):
        raise SystemExit(f"envdoctor's probe failed: {result.message}")
    return elapsed


def hand_written(python: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run([python, "-c", HAND_WRITTEN], capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"the hand-written script failed: {proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", help="target interpreter with torch and accelerate (default: the train-cpu bed)")
    args = parser.parse_args()
    if args.python is None:
        from tests import beds

        args.python = str(beds.build("train-cpu").python)
    times: dict[str, list[float]] = {"envdoctor": [], "hand-written": []}
    envdoctor_probe(args.python), hand_written(args.python)  # untimed warm-up: page cache, bytecode
    for i in range(args.rounds):
        order = [("envdoctor", envdoctor_probe), ("hand-written", hand_written)]
        for name, run in order if i % 2 == 0 else reversed(order):
            times[name].append(run(args.python))
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"{name:<13} median {med[name]:6.2f} s  min {min(t):6.2f} s  ({', '.join(f'{x:.2f}' for x in t)})")
    print(f"ratio envdoctor / hand-written (medians): {med['envdoctor'] / med['hand-written']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
