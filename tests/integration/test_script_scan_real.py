"""`envdoctor check --script` on real training scripts against real installed transformers 4.x and 5.x (and trl).

Each break was run for real in the bed (tests/beds/README.md quotes them), e.g. on hf-stack (transformers 5.23.0):
``Trainer(model=None, tokenizer=None)`` -> ``TypeError: Trainer.__init__() got an unexpected keyword argument
'tokenizer'``; on transformers-gated-accelerate (4.40.2) the same with ``processing_class``; on hf-stack-2024
(4.46.3) ``from transformers.deepspeed import HfDeepSpeedConfig`` -> ``ModuleNotFoundError``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import beds

ROOT = Path(__file__).resolve().parents[2]

OLD_STYLE = """\
from transformers import Trainer, TrainingArguments
from transformers.file_utils import TRANSFORMERS_CACHE
from transformers.deepspeed import HfDeepSpeedConfig
from trl import SFTTrainer

args = TrainingArguments(output_dir="out")
trainer = Trainer(model=None, args=args, tokenizer=None)
sft = SFTTrainer(model=None, max_seq_length=512)
"""
NEW_STYLE = """\
import transformers as tf

trainer = tf.Trainer(model=None, processing_class=None)
"""


def scan(bed: beds.Bed, *scripts: Path) -> list[dict[str, object]]:
    args = [a for s in scripts for a in ("--script", str(s))]
    proc = subprocess.run(
        [sys.executable, "-m", "envdoctor", "check", "--python", str(bed.python), "--format", "json", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode in (0, 1), proc.stderr
    return [f for f in json.loads(proc.stdout)["findings"] if f["check"] == "script"]


def as_notebook(path: Path, code: str) -> Path:
    """The same code as a notebook: a markdown cell, a `%pip` cell, then one code cell per paragraph."""
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# train\n"]}]
    cells.append({"cell_type": "code", "metadata": {}, "source": ["%pip install -q trl\n"], "outputs": []})
    for block in code.split("\n\n"):
        cells.append({"cell_type": "code", "metadata": {}, "source": block.splitlines(True), "outputs": []})
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


@pytest.mark.venv
def test_transformers_5_rejects_the_old_keywords_and_names(hf_stack: beds.Bed, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(OLD_STYLE)
    found = {(f["title"].split(": ", 1)[0], f["severity"]): f for f in scan(hf_stack, script)}
    where = str(script)
    names = found[(f"{where}:2", "error")]
    assert "transformers 5.23.0 does not define TRANSFORMERS_CACHE in transformers.file_utils" in names["title"]
    assert names["fix"] == ["transformers<5.0.0"]
    module = found[(f"{where}:3", "error")]
    assert "transformers 5.23.0 has no module transformers.deepspeed" in module["title"]
    assert module["fix"] == ["transformers<4.46.1"]
    tokenizer = next(f for f in scan(hf_stack, script) if "Trainer(tokenizer=...)" in f["title"])
    assert tokenizer["severity"] == "error" and tokenizer["fix"] == ["transformers<4.46.1"]
    assert tokenizer["advice"] == ["pass processing_class= instead of tokenizer= (what transformers 5.23.0 calls it)"]
    sft = found[(f"{where}:8", "error")]
    assert (
        "`SFTTrainer(max_seq_length=...)` fails: trl 1.16.0 does not accept the keyword max_seq_length" in sft["title"]
    )
    assert sft["fix"] == ["trl>=0.4.2,<0.13.0"]

    notebook = as_notebook(tmp_path / "train.ipynb", OLD_STYLE)
    in_cells = sorted(f["title"].split(": ", 1)[1] for f in scan(hf_stack, notebook))
    assert in_cells == sorted(f["title"].split(": ", 1)[1] for f in scan(hf_stack, script))
    titles = [f["title"] for f in scan(hf_stack, notebook)]
    assert any(t.startswith(f"{notebook} cell 3 line 2: `from transformers.file_utils") for t in titles)
    assert any(t.startswith(f"{notebook} cell 4 line 2: `Trainer(tokenizer=...)`") for t in titles)


@pytest.mark.venv
def test_transformers_4_40_rejects_processing_class(transformers_gated_accelerate: beds.Bed, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(NEW_STYLE)
    [finding] = scan(transformers_gated_accelerate, script)
    assert finding["title"] == (
        f"{script}:3: `Trainer(processing_class=...)` fails: transformers 4.40.2 does not accept the keyword "
        "processing_class"
    )
    assert finding["fix"] == ["transformers>=4.46.1"]
    assert finding["advice"] == ["pass tokenizer= instead of processing_class= (what transformers 4.40.2 calls it)"]


@pytest.mark.venv
def test_transformers_4_46_warns_on_the_deprecated_keyword_and_a_removed_module(
    hf_stack_2024: beds.Bed, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(OLD_STYLE)
    found = scan(hf_stack_2024, script)
    assert [(f["severity"], f["title"].split(": ", 1)[0]) for f in found] == [
        ("error", f"{script}:3"),  # transformers.deepspeed is gone since 4.46.1
        ("warning", f"{script}:7"),
    ]
    assert "transformers 4.46.3 accepts tokenizer= only as a deprecated alias of processing_class=" in found[1]["title"]
