"""Wall-clock benchmark: envdoctor's stack step (probes/stack_step.py, the Trainer step) against a hand-written script.

Usage (from the repository root, with the dev venv; builds the hf-stack test bed if needed):

    .venv/bin/python bench/bench_stack.py [--rounds N] [--python PY]

Both run in one process of the target and do the same thing: import torch, transformers and datasets, build a
one-layer LlamaForCausalLM from a config, and run one ``Trainer`` step on an 8-row ``datasets.Dataset`` that saves
``checkpoint-1`` into a temporary directory. envdoctor's probe runs through envdoctor.runner (launcher, JSON request
and result, offline environment, the checks of the step: loss finite, weights moved, checkpoint saved); the
hand-written script runs with subprocess.run. The two alternate round by round after one untimed warm-up each; the
median of each is reported with the ratio. Asserts nothing about speed; see bench/README.md.
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
import tempfile
import torch, transformers, datasets
torch.manual_seed(0)
config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_attention_heads=2,
                                  num_hidden_layers=1, num_key_value_heads=2, max_position_embeddings=64)
model = transformers.LlamaForCausalLM(config)
ids = torch.randint(3, 64, (8, 16)).tolist()
data = datasets.Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * 16] * 8, "labels": ids})
with tempfile.TemporaryDirectory() as out:
    args = transformers.TrainingArguments(output_dir=out, max_steps=1, per_device_train_batch_size=4,
                                          report_to=[], save_strategy="steps", save_steps=1)
    print(transformers.Trainer(model=model, args=args, train_dataset=data).train().training_loss)
"""


def envdoctor_probe(python: str) -> float:
    from envdoctor import runner
    from envdoctor.runtime.stack import OFFLINE

    start = time.perf_counter()
    env = runner.child_environment(OFFLINE)
    result = runner.run_probe(python, "stack_step", {"steps": ["trainer"]}, timeout=600, env=env)
    elapsed = time.perf_counter() - start
    if not result.ok or result.payload is None or not all(s.get("ran") for s in result.payload["steps"]):
        raise SystemExit(f"envdoctor's probe failed: {result.message} {result.payload}")
    return elapsed


def hand_written(python: str) -> float:
    from envdoctor import runner
    from envdoctor.runtime.stack import OFFLINE

    start = time.perf_counter()
    env = runner.child_environment(OFFLINE)
    proc = subprocess.run([python, "-c", HAND_WRITTEN], capture_output=True, text=True, timeout=600, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"the hand-written script failed: {proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", help="target interpreter with torch, transformers, datasets (default: hf-stack)")
    args = parser.parse_args()
    if args.python is None:
        from tests import beds

        args.python = str(beds.build("hf-stack").python)
    times: dict[str, list[float]] = {"envdoctor": [], "hand-written": []}
    envdoctor_probe(args.python), hand_written(args.python)  # untimed warm-up: page cache
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
