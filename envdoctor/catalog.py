"""Every id a finding can carry, with the help a CI tool shows for it: the built-in findings here, the
compatibility rules from the matrix (``rules``). SARIF's rule catalog and the configuration's ``ignore``
read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envdoctor.matrix import Matrix


@dataclass(frozen=True)
class RuleHelp:
    id: str
    title: str
    """One line: what the finding means."""
    help: str = ""
    """What a person does about it (for a matrix rule: why, the fix, and where the rule is shown in full)."""


_BUILT_IN = {
    "requirement-missing": "A declared requirement (markers evaluated for the target Python) is not installed.",
    "requirement-conflict": "A declared requirement is installed at a version outside the declared range.",
    "wheel-unsupported": "The installed wheel's tags do not fit the target interpreter.",
    "extra-requirement-missing": "A requirement pulled in through an installed extra is not installed.",
    "extra-requirement-conflict": "A requirement pulled in through an installed extra is out of range.",
    "requires-python-mismatch": "The distribution's Requires-Python excludes the target Python.",
    "distribution-duplicate": "Several copies of one project are on sys.path.",
    "metadata-missing": "A dist-info folder has no METADATA file.",
    "metadata-corrupt": "A METADATA file is not UTF-8 or lacks Name or Version.",
    "version-invalid": "A version that is not PEP 440.",
    "requirement-invalid": "A Requires-Dist line that is not PEP 508.",
    "record-missing": "No RECORD file: pip cannot uninstall or upgrade the distribution cleanly.",
    "symbol-missing": "An import of another installed package names something its installed version lacks.",
    "module-missing": "An import of another installed package names a module its installed version lacks.",
    "module-undeclared": "A distribution imports, on a path users reach, a module nothing installed provides "
    "and that it does not declare.",
    "symbols-unverified": "Distributions whose imports could not be checked (no RECORD).",
    "files-unread": "Installed files a check could not read or parse.",
    "what-if": "What an install (--install / --requirements) would change.",
    "install-unresolvable": "pip's resolver would refuse the install.",
    "matrix-invalid": "envdoctor's compatibility matrix is damaged; its rules were not checked.",
    "import-failed": "An import a training script makes fails when run for real (check --probes).",
    "import-warning": "An import works but prints a warning with a known cause (check --probes).",
    "train-step-fails": "The training step failed.",
    "train-step-timeout": "The training step did not finish within the timeout.",
    "train-step-crashed": "The training-step probe crashed.",
    "train-cuda-unusable": "torch is a CUDA build but CUDA cannot be used.",
    "train-driver-too-old": "The NVIDIA driver is older than the CUDA runtime torch was built with needs.",
    "train-precision-fallback": "A precision fell back to another dtype.",
    "train-precision-emulated": "A precision ran emulated, not natively.",
    "distributed-unavailable": "check --distributed: torch.distributed cannot be used in the checked interpreter.",
    "distributed-store-unreachable": "check --distributed: a rank could not reach the rendezvous store "
    "(MASTER_ADDR:MASTER_PORT).",
    "distributed-port-in-use": "check --distributed: MASTER_PORT is already taken on rank 0's node.",
    "distributed-rank-missing": "check --distributed: ranks never joined within the timeout.",
    "distributed-world-size-mismatch": "check --distributed: the ranks were given different WORLD_SIZE values.",
    "distributed-collective-failed": "check --distributed: a gloo collective between the ranks failed.",
    "distributed-timeout": "check --distributed: the collectives did not finish and were stopped.",
    "distributed-nccl-failed": "check --distributed: the NCCL all_gather failed where gloo worked.",
    "rank-drift-package": "check --distributed: an installed distribution differs between ranks.",
    "rank-drift-python": "check --distributed: the Python version differs between ranks.",
    "rank-drift-torch-build": "check --distributed: the torch build (version, CUDA, NCCL) differs between ranks.",
    "rank-drift-gpu": "check --distributed: the GPU model differs between ranks, or a rank has no GPU.",
    "rank-drift-driver": "check --distributed: the NVIDIA driver differs between ranks.",
    "rank-drift-precision": "check --distributed: a precision's training-step verdict differs between ranks.",
    "rank-drift-env": "check --distributed: a behaviour-changing environment variable differs between ranks.",
    "rank-drift-accelerate-config": "check --distributed: the accelerate config file differs between ranks.",
}

BUILT_IN: Mapping[str, RuleHelp] = {
    rid: RuleHelp(rid, title, 'See README.md, "What it checks today".') for rid, title in _BUILT_IN.items()
}


def rules(matrix: Matrix | None) -> dict[str, RuleHelp]:
    """The whole catalog: the built-in finding ids, then the matrix's rules (``None``: a damaged matrix)."""
    out = dict(BUILT_IN)
    for rule in matrix.rules if matrix is not None else ():
        fix = "; or ".join(rule.fix)
        text = f"{rule.why} What you see: {rule.symptom}" + (f" Fix: {fix}." if fix else "")
        out[rule.id] = RuleHelp(rule.id, rule.title, f"{text} `envdoctor explain {rule.id}` shows its evidence.")
    return out


def load() -> dict[str, RuleHelp]:
    """The catalog with the shipped matrix (reads it; the matrix cache is used)."""
    return rules(_matrix())


def known_ids() -> set[str] | None:
    """The ids an ignore may name; None when the matrix is damaged (its rule ids are then unknown, and an
    ignore naming one must not become an error: check reports ``matrix-invalid`` instead)."""
    matrix = _matrix()
    return None if matrix is None else set(rules(matrix))


def _matrix() -> Matrix | None:
    from envdoctor.api import load_matrix
    from envdoctor.cache import Cache, default_dir
    from envdoctor.matrix import MatrixError

    matrix = load_matrix(Cache(default_dir()))
    return None if isinstance(matrix, MatrixError) else matrix
