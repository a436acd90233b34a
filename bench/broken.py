"""The broken environment bench_pin.py and bench_verify.py share: a copy of the real hf-stack test bed with
accelerate 0.31.0 installed over it with --no-deps, so peft's ``from accelerate.utils.memory import
clear_device_cache`` fails, as the user reports have it. Needs the package index."""

from __future__ import annotations

from pathlib import Path

from tests import beds


def broken_hf_stack(work: Path) -> beds.Bed:
    """The hf-stack bed copied to ``work/venv``, broken by accelerate 0.31.0."""
    bed = beds.copy(beds.build("hf-stack"), work / "venv")
    beds.pip("install", "--no-deps", "accelerate==0.31.0", python=bed.python)
    return bed
