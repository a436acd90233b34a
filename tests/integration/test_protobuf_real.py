"""Old-protoc `_pb2.py` files under protobuf >= 4.21, on real beds: envdoctor says so, and the import really fails."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import beds, peers

OLD_CODE = "your generated code is out of date and must be regenerated with protoc >= 3.19.0"


def _findings(python: Path) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = peers.envdoctor_report(python)[1]["findings"]
    return findings


def _run(bed: beds.Bed, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bed.python), "-c", code], capture_output=True, text=True, timeout=600, env={"PATH": "/usr/bin:/bin"}
    )


def _checkers_clean(bed: beds.Bed) -> None:
    rc, out = peers.pip_check(bed.python)
    assert rc == 0, out
    if peers.uv_binary():
        rc, out = peers.uv_check(bed.python)
        assert rc == 0, out


@pytest.mark.venv
def test_googleapis_common_protos_old_protos(
    googleapis_protos_protobuf4: beds.Bed, googleapis_protos_protobuf4_ok: beds.Bed
) -> None:
    code = "from google.rpc import status_pb2; import google.api.annotations_pb2; print('ok')"
    bed = googleapis_protos_protobuf4
    _checkers_clean(bed)  # 1.56.0 asks for protobuf>=3.12.0: nothing to see in metadata
    errors = [f for f in _findings(bed.python) if f["severity"] == "error"]
    assert [f["id"] for f in errors] == ["googleapis-common-protos-old-protos-under-protobuf4"]
    assert errors[0]["title"] == "googleapis-common-protos 1.56.0 ships protobuf code too old for protobuf 4.21.12"
    assert errors[0]["fix"] == ["googleapis-common-protos>=1.56.1", "protobuf<4"]
    proc = _run(bed, "from google.rpc import status_pb2")
    assert proc.returncode == 1
    assert "TypeError: Descriptors cannot not be created directly." in proc.stderr and OLD_CODE in proc.stderr
    assert 'google/rpc/status_pb2.py", line 52' in proc.stderr
    proc = _run(bed, "import google.api.annotations_pb2")
    assert proc.returncode == 1 and "Descriptors cannot not be created directly" in proc.stderr
    # the control: the first regenerated release, same protobuf
    ok = googleapis_protos_protobuf4_ok
    _checkers_clean(ok)
    assert [f for f in _findings(ok.python) if f["severity"] == "error"] == []
    proc = _run(ok, code)
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]


# Train a tiny SentencePiece model in the bed, then build a fast Llama tokenizer from it: transformers converts it
# through convert_slow_tokenizer.import_protobuf, which imports sentencepiece's own sentencepiece_model_pb2.
CONVERT = """
import io, sys, sentencepiece as spm
text = [f"the quick brown fox {i} jumps over the lazy dog number {i}" for i in range(200)]
buf = io.BytesIO()
spm.SentencePieceTrainer.train(
    sentence_iterator=iter(text), model_writer=buf, vocab_size=60, model_type="bpe", minloglevel=2
)
with open(sys.argv[1], "wb") as f:
    f.write(buf.getvalue())
from transformers import LlamaTokenizerFast
print(len(LlamaTokenizerFast(vocab_file=sys.argv[1])("the quick brown fox").input_ids))
"""


@pytest.mark.venv
def test_sentencepiece_old_protos(
    sentencepiece_protobuf4: beds.Bed, sentencepiece_protobuf4_ok: beds.Bed, tmp_path: Path
) -> None:
    def convert(bed: beds.Bed) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
        model = str(tmp_path / f"{bed.name}.model")
        return subprocess.run(
            [str(bed.python), "-c", CONVERT, model], capture_output=True, text=True, timeout=600, env=env
        )

    bed = sentencepiece_protobuf4
    _checkers_clean(bed)  # sentencepiece declares no requirement at all
    data = _findings(bed.python)
    assert [f for f in data if f["severity"] == "error"] == []
    [f] = [f for f in data if f["id"] == "sentencepiece-old-protos-under-protobuf4"]
    assert f["severity"] == "warning"
    assert f["title"] == "sentencepiece 0.1.99 ships a sentencepiece_model_pb2 too old for protobuf 5.28.3"
    assert f["fix"] == ["sentencepiece>=0.2.0", "protobuf<4"]
    assert _run(bed, "import sentencepiece").returncode == 0  # the module itself imports ...
    proc = _run(bed, "from sentencepiece import sentencepiece_model_pb2")  # ... its protos do not
    assert proc.returncode == 1
    assert "TypeError: Descriptors cannot be created directly." in proc.stderr and OLD_CODE in proc.stderr
    assert 'sentencepiece/sentencepiece_model_pb2.py", line 34' in proc.stderr
    proc = convert(bed)  # what a transformers user hits
    assert proc.returncode == 1
    assert "in import_protobuf" in proc.stderr and "Descriptors cannot be created directly" in proc.stderr
    # the control: sentencepiece 0.2.0, same protobuf and transformers
    ok = sentencepiece_protobuf4_ok
    _checkers_clean(ok)
    data = _findings(ok.python)
    assert [f for f in data if f["severity"] == "error"] == []
    assert [f for f in data if f["id"].startswith("sentencepiece-")] == []
    proc = convert(ok)
    assert proc.returncode == 0 and int(proc.stdout.strip().splitlines()[-1]) > 1, proc.stderr[-2000:]


# What a tensorboardX user runs first: one scalar into an event file.
WRITE = """
import glob, sys
from tensorboardX import SummaryWriter
w = SummaryWriter(sys.argv[1])
w.add_scalar("loss", 0.5, 1)
w.close()
print(len(glob.glob(sys.argv[1] + "/events.out.tfevents.*")))
"""


@pytest.mark.venv
def test_tensorboardx_old_protos(
    tensorboardx_protobuf4: beds.Bed, tensorboardx_protobuf4_ok: beds.Bed, tmp_path: Path
) -> None:
    def write(bed: beds.Bed) -> subprocess.CompletedProcess[str]:
        logdir = str(tmp_path / bed.name)
        return subprocess.run(
            [str(bed.python), "-c", WRITE, logdir],
            capture_output=True,
            text=True,
            timeout=600,
            env={"PATH": "/usr/bin:/bin"},
        )

    bed = tensorboardx_protobuf4
    _checkers_clean(bed)  # tensorboardX 2.5 asks for protobuf>=3.8.0: nothing to see in metadata
    errors = [f for f in _findings(bed.python) if f["severity"] == "error"]
    assert [f["id"] for f in errors] == ["tensorboardx-old-protos-under-protobuf4"]
    assert errors[0]["title"] == "tensorboardX 2.5 ships protobuf code too old for protobuf 4.21.12"
    assert errors[0]["fix"] == ["tensorboardX>=2.6.2.2", "protobuf<4"]
    proc = _run(bed, "import tensorboardX")  # the package itself does not import
    assert proc.returncode == 1
    assert "TypeError: Descriptors cannot not be created directly." in proc.stderr and OLD_CODE in proc.stderr
    assert 'tensorboardX/proto/resource_handle_pb2.py", line 36' in proc.stderr
    proc = write(bed)
    assert proc.returncode == 1 and "Descriptors cannot not be created directly" in proc.stderr
    # the control: the first regenerated release that accepts protobuf 4.21.12, same protobuf and numpy
    ok = tensorboardx_protobuf4_ok
    _checkers_clean(ok)
    assert [f for f in _findings(ok.python) if f["severity"] == "error"] == []
    proc = write(ok)
    assert proc.returncode == 0 and proc.stdout.strip() == "1", proc.stderr[-2000:]
