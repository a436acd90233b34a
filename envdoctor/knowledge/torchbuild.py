"""PyTorch builds: which distributions are tied to one torch build, and the index that serves a local tag.
Every list of torch's family lives here.

A PyTorch build with a local tag (``2.13.0+cpu``, ``+cu124``, ``+rocm6.2``) exists only on the PyTorch
index; a bare range on PyPI (``torch>=2.1``) picks PyPI's build instead (on Linux the CUDA one, several GB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from envdoctor.names import canonical

if TYPE_CHECKING:
    from envdoctor.versions import NormalizedName


def _names(*names: str) -> frozenset[NormalizedName]:
    """Canonical names (packaging is not imported for them: the warm path never loads it)."""
    return cast("frozenset[NormalizedName]", frozenset(canonical(n) for n in names))


TORCH_FAMILY = _names("torch", "torchvision", "torchaudio", "torchtext", "triton")
"""Released with torch, one build per torch release (local tags such as ``+cpu`` on the PyTorch index)."""

TORCH_COMPANIONS = _names("xformers", "flash-attn", "deepspeed", "bitsandbytes")
"""Built against torch by others: a pin file pins them with the stack."""

NOT_FETCHED = _names("torch", "torchvision", "torchaudio", "triton", "xformers", "flash-attn", "deepspeed")
"""Builds too large to download only to read them: a what-if reads their metadata only."""

NEVER_MOVED = _names("torch")
"""Packages a plan leaves alone unless the user allows it or no plan exists without moving them (its build is
tied to the machine's CUDA driver)."""
PYTORCH_INDEX = "https://download.pytorch.org/whl/"


def pytorch_tag(version: str | None) -> str | None:
    """The PyTorch index tag of a version (``cpu``, ``cu124``, ``rocm6.2``), or None."""
    if not version or "+" not in version:
        return None
    tag = version.split("+", 1)[1]
    return tag if tag == "cpu" or tag.startswith(("cu", "rocm")) else None
