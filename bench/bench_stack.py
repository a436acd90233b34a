"""Wall-clock benchmark: envdoctor's stack step (probes/stack_step.py, the Trainer step) against a hand-written script.

Usage (from the repository root, with the dev venv; builds the hf-stack test bed if needed):

    .venv/bin/python bench/bench_stack.py [--rounds N] [--python PY]

Both run in one process of the target and do the same thing: import torch, transformers and datasets, build a
one-layer LlamaForCausalLM from a config, and run one ``Trainer`` step on an 8-row ``datasets.Dataset`` that saves
``checkpoint-1`` into a temporary directory. envdoctor's probe runs through envdoctor.runner (launcher, JSON request
and result, offline environment, the checks of the step: loss finite, weights moved, checkpoint saved); the
hand-written script runs with subprocess.run. bench/timing.py alternates them round by round after one untimed
warm-up each and reports the medians with the ratio (bench_train.py runs this comparison too, beside its own).
Asserts nothing about speed; see bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import Comparison, compare, timed_probe, timed_script  # noqa: E402

GOAL = 1.3  # issue 14

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


def stack_comparison(python: str, rounds: int) -> Comparison:
    """(c) the stack probe's Trainer step vs the hand-written Trainer step, both offline."""
    from envdoctor import runner
    from envdoctor.runtime.stack import OFFLINE

    env = runner.child_environment(OFFLINE)
    return compare(
        "stack step (Trainer) vs a hand-written Trainer step",
        lambda: timed_probe(python, "stack_step", {"steps": ["trainer"]}, env=env),
        lambda: timed_script(python, HAND_WRITTEN, env=env),
        rounds,
        GOAL,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", help="target interpreter with torch, transformers, datasets (default: hf-stack)")
    args = parser.parse_args()
    if args.python is None:
        from tests import beds

        args.python = str(beds.build("hf-stack").python)
    print("\n".join(stack_comparison(args.python, args.rounds).lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
