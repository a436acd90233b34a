"""PyTorch builds: which distributions are tied to one torch build, and the index that serves a local tag.

A PyTorch build with a local tag (``2.13.0+cpu``, ``+cu124``, ``+rocm6.2``) exists only on the PyTorch
index; a bare range on PyPI (``torch>=2.1``) picks PyPI's build instead (on Linux the CUDA one, several GB).
"""

from __future__ import annotations

from envdoctor.versions import canonical

TORCH_FAMILY = frozenset(canonical(n) for n in ("torch", "torchvision", "torchaudio", "torchtext", "triton"))
PYTORCH_INDEX = "https://download.pytorch.org/whl/"


def pytorch_tag(version: str | None) -> str | None:
    """The PyTorch index tag of a version (``cpu``, ``cu124``, ``rocm6.2``), or None."""
    if not version or "+" not in version:
        return None
    tag = version.split("+", 1)[1]
    return tag if tag == "cpu" or tag.startswith(("cu", "rocm")) else None
