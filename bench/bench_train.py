"""Wall-clock benchmark of ``check --train``'s probes against minimal hand-written scripts, in one run.

Usage (from the repository root, with the dev venv; builds the train-cpu and hf-stack test beds if needed):

    .venv/bin/python bench/bench_train.py [--rounds N] [--python PY] [--stack-python PY] [--only facts,steps,stack]

Three comparisons, each in the same target and the same run (issue 14's goals in brackets):

(a) facts [<= 1.2x]: the device facts alone (probes/step.py with ``facts_only``: torch imported, CUDA, driver,
    CPU flags, /dev/shm) vs ``python -c "import torch; torch.cuda.is_available()"``;
(b) steps [<= 1.5x]: the precision step as ``check --train`` asks for it (device facts, then fp32, fp16 and bf16
    through ``Accelerator(mixed_precision=...)`` with the checks of each and five timed repeat steps; fp8 only on a
    GPU of compute capability 8.9+) vs a minimal script that imports torch and accelerate once and runs the same
    three steps, accelerate's state reset between them;
(c) stack [<= 1.3x]: bench_stack.py's comparison (the stack probe's Trainer step vs a hand-written Trainer step).

envdoctor's side runs through envdoctor.runner (launcher, JSON request and result); the hand-written side with
subprocess.run. bench/timing.py alternates them round by round after one untimed warm-up each and reports the
medians with the ratio. Asserts nothing about speed; see bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_stack import stack_comparison  # noqa: E402
from timing import Comparison, compare, timed_probe, timed_script  # noqa: E402

CUDA_AVAILABLE = "import torch; torch.cuda.is_available()"

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

STEP_REQUEST = {"precisions": ["no", "fp16", "bf16"], "fp8": {"min_capability": [8, 9]}}  # what check --train sends


def facts_comparison(python: str, rounds: int) -> Comparison:
    return compare(
        "(a) device facts vs `import torch; torch.cuda.is_available()`",
        lambda: timed_probe(python, "step", {"facts_only": True}),
        lambda: timed_script(python, CUDA_AVAILABLE),
        rounds,
        1.2,
    )


def steps_comparison(python: str, rounds: int) -> Comparison:
    return compare(
        "(b) the three precision steps vs a hand-written script",
        lambda: timed_probe(python, "step", STEP_REQUEST),
        lambda: timed_script(python, HAND_WRITTEN),
        rounds,
        1.5,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", help="target with torch and accelerate for (a), (b) (default: the train-cpu bed)")
    parser.add_argument("--stack-python", help="target with transformers and datasets for (c) (default: hf-stack)")
    parser.add_argument("--only", default="facts,steps,stack", help="which comparisons (default: all three)")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    from tests import beds

    python = args.python or str(beds.build("train-cpu").python)
    runs = {"facts": facts_comparison, "steps": steps_comparison}
    for name, comparison in runs.items():
        if name in wanted:
            print("\n".join(comparison(python, args.rounds).lines()), flush=True)
    if "stack" in wanted:
        stack_python = args.stack_python or str(beds.build("hf-stack").python)
        print("\n".join(stack_comparison(stack_python, args.rounds).lines()).replace("stack step", "(c) stack step", 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
