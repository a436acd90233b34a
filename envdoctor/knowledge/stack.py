"""The training stack: the distributions a PyTorch / Hugging Face training run imports. One list, used by
``envdoctor report`` (each one installed is listed with its version and build, in this order) and by
``check --distributed`` (a distribution of the stack at another release on some ranks is an error, any other
a warning)."""

from __future__ import annotations

STACK = (
    "torch",
    "torchvision",
    "torchaudio",
    "triton",
    "numpy",
    "transformers",
    "accelerate",
    "peft",
    "trl",
    "datasets",
    "tokenizers",
    "safetensors",
    "huggingface-hub",
    "diffusers",
    "sentence-transformers",
    "bitsandbytes",
    "deepspeed",
    "flash-attn",
    "xformers",
    "evaluate",
    "fsspec",
    "protobuf",
    "tensorboard",
    "wandb",
)
"""Canonical names (PEP 503), in the order a bug report lists them."""
