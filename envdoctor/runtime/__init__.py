"""The runtime layer: what envdoctor learns by running code in the target, not only by reading it.

Everything else in envdoctor reads the environment (metadata, sources, compiled files). This package
runs things there, always in subprocesses of the target interpreter started through envdoctor.runner
(own process group, time limit, capped output, nothing written into the target), never in envdoctor's
own process:

- ``imports``: import probes, the imports a training script makes (``matrix/probes/imports.toml``) and
  the user's own, each in its own process, in parallel; their outcomes as values, and as findings
  merged with the static ones.
- ``diagnosis``: error text or a whole traceback -> cause, packages, fix (pure functions), shared by
  the probes and ``envdoctor explain --text``.
- ``step``: one real training step per precision through Accelerate (``check --train``), with the
  device facts and a verdict per precision.
- ``stack``: one step of the installed stack (Trainer, resume from a checkpoint, LoRA, SFTTrainer), its
  failures diagnosed into findings with fixes.
- ``config_lint``: the accelerate config and its DeepSpeed JSON (read in the target) against the device
  facts and each other.
- ``followed``: a probe's live progress, through a file it appends to.
"""
