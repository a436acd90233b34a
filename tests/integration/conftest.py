"""Session fixtures: one real venv per lock file in tests/beds/, built once (tests/beds.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests import beds


def _bed(name: str) -> Callable[[], beds.Bed]:
    @pytest.fixture(scope="session")
    def fixture() -> beds.Bed:
        return beds.build(name)

    return fixture


hf_stack = _bed("hf-stack")
hf_stack_2024 = _bed("hf-stack-2024")
conflict_bed = _bed("conflict")
small_clean = _bed("small-clean")
requests_conflict = _bed("requests-conflict")
peft_old_accelerate = _bed("peft-old-accelerate")
peft_new_accelerate = _bed("peft-new-accelerate")
symbol_break_2 = _bed("symbol-break-2")
torchvision_cuda_on_cpu = _bed("torchvision-cuda-on-cpu")
torchaudio_cuda_on_cpu = _bed("torchaudio-cuda-on-cpu")
xformers_cuda_on_cpu = _bed("xformers-cuda-on-cpu")
torchtext_newer_torch = _bed("torchtext-newer-torch")
numpy2_abi_break = _bed("numpy2-abi-break")
numpy2_abi_ok = _bed("numpy2-abi-ok")
numpy2_removed_name = _bed("numpy2-removed-name")
numpy2_removed_name_ok = _bed("numpy2-removed-name-ok")
datasets_fsspec_protocol = _bed("datasets-fsspec-protocol")
datasets_fsspec_protocol_ok = _bed("datasets-fsspec-protocol-ok")
tensorboard_protobuf4 = _bed("tensorboard-protobuf4")
tensorboard_protobuf4_ok = _bed("tensorboard-protobuf4-ok")
googleapis_protos_protobuf4 = _bed("googleapis-protos-protobuf4")
googleapis_protos_protobuf4_ok = _bed("googleapis-protos-protobuf4-ok")
sentencepiece_protobuf4 = _bed("sentencepiece-protobuf4")
sentencepiece_protobuf4_ok = _bed("sentencepiece-protobuf4-ok")
tensorboardx_protobuf4 = _bed("tensorboardx-protobuf4")
tensorboardx_protobuf4_ok = _bed("tensorboardx-protobuf4-ok")
trl_transformers_toplevel = _bed("trl-transformers-toplevel")
diffusers_hub_removed_name = _bed("diffusers-hub-removed-name")
jupyter_stack = _bed("jupyter-stack")
sentence_transformers_6 = _bed("sentence-transformers-6")
sklearn_scipy_numpy2 = _bed("sklearn-scipy-numpy2")
transformers_gated_accelerate = _bed("transformers-gated-accelerate")
diffusers_old_hub = _bed("diffusers-old-hub")
train_cpu = _bed("train-cpu")
trl_undeclared_rich = _bed("trl-undeclared-rich")
jinja2_markupsafe = _bed("jinja2-markupsafe")
torch_old_tensorboard = _bed("torch-old-tensorboard")
jax_newer_jaxlib = _bed("jax-newer-jaxlib")
trainer_accelerate_keyword = _bed("trainer-accelerate-keyword")
trainer_accelerate_removed_keyword = _bed("trainer-accelerate-removed-keyword")
nearest_accelerate_unwrap = _bed("nearest-accelerate-unwrap")
nearest_transformers_dispatch = _bed("nearest-transformers-dispatch")
dist_transformers_new = _bed("dist-transformers-5.23.0")
dist_transformers_old = _bed("dist-transformers-5.22.0")
