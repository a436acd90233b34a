"""PyTorch builds: which distributions are tied to one torch build, and the index that serves a local tag.

A PyTorch build with a local tag (``2.13.0+cpu``, ``+cu124``, ``+rocm6.2``) exists only on the PyTorch
index; a bare range on PyPI (``torch>=2.1``) picks PyPI's build instead (on Linux the CUDA one, several GB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from envdoctor.names import canonical

if TYPE_CHECKING:
    from envdoctor.versions import NormalizedName

TORCH_FAMILY = cast(
    "frozenset[NormalizedName]",  # the names are canonical; packaging is not imported for the type
    frozenset(canonical(n) for n in ("torch", "torchvision", "torchaudio", "torchtext", "triton")),
)
PYTORCH_INDEX = "https://download.pytorch.org/whl/"


def pytorch_tag(version: str | None) -> str | None:
    """The PyTorch index tag of a version (``cpu``, ``cu124``, ``rocm6.2``), or None."""
    if not version or "+" not in version:
        return None
    tag = version.split("+", 1)[1]
    return tag if tag == "cpu" or tag.startswith(("cu", "rocm")) else None
