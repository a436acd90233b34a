"""Every id a finding can carry, with the help a CI tool shows for it: the built-in findings here, the
compatibility rules from the matrix (``rules``). SARIF's rule catalog and the configuration's ``ignore``
read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envdoctor.knowledge.matrix import Matrix


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
    "call-keyword-missing": "An installed package calls another with a keyword argument the installed release of "
    "the callee does not accept (TypeError at the call, after every import worked).",
    "call-attribute-missing": "An installed package uses a method or attribute that the installed release of "
    "another package's class does not define (AttributeError at the call).",
    "call-override-keyword": "A class that subclasses another package's class overrides a method the base class "
    "calls with an argument the override does not accept (TypeError when the base calls it).",
    "symbols-unverified": "Distributions whose imports could not be checked (no RECORD).",
    "files-unread": "Installed files a check could not read or parse.",
    "module-stale": "A module this process (a notebook kernel) loaded was replaced by an install since: "
    "restart it before training.",
    "kernel-modules-partial": "The notebook kernel was checked from a `!` shell: only its compiled modules can be "
    "seen from there.",
    "requirement-unmet": "assert_compatible(require=...) names a version the installed distribution does not have.",
    "script-import-missing": "A script (check --script) imports a module or a name the installed release lacks.",
    "script-keyword": "A script (check --script) passes a keyword argument the installed release does not "
    "accept (or accepts only as a deprecated alias).",
    "what-if": "What an install (--install / --requirements) would change.",
    "install-unresolvable": "pip's resolver would refuse the install.",
    "matrix-invalid": "envdoctor's compatibility matrix is damaged; its rules were not checked.",
    "import-failed": "An import a training script makes fails when run for real (check --probes).",
    "import-warning": "An import works but prints a warning with a known cause (check --probes).",
    "train-step-fails": "The training step failed.",
    "stack-step-fails": "One step of the installed training stack (Trainer, resume, LoRA, SFTTrainer) failed.",
    "accelerate-config-invalid": "The accelerate config (or the DeepSpeed JSON it names) is missing or does not parse.",
    "accelerate-config-bf16-unsupported": "The accelerate / DeepSpeed config asks for bf16 on a GPU without "
    "native bf16.",
    "accelerate-config-set-twice": "A setting is in the accelerate config and in the DeepSpeed JSON: accelerate "
    "refuses it.",
    "accelerate-config-grad-accum-mismatch": "The accelerate config and the DeepSpeed JSON disagree on gradient "
    "accumulation.",
    "accelerate-config-too-many-processes": "The accelerate config starts more processes than there are GPUs.",
    "accelerate-config-multi-gpu-on-one": "The accelerate config is multi-GPU, and one GPU is visible.",
    "deepspeed-ops-no-cuda-home": "DeepSpeed must compile ops the config uses, and there is no CUDA_HOME / nvcc.",
    "shm-too-small": "/dev/shm is too small for NCCL between processes.",
    "train-step-timeout": "The training step did not finish within the timeout.",
    "train-step-crashed": "The training-step probe crashed.",
    "train-cuda-unusable": "torch is a CUDA build but CUDA cannot be used.",
    "train-driver-too-old": "The NVIDIA driver is older than the CUDA runtime torch was built with needs.",
    "train-precision-fallback": "A precision fell back to another dtype.",
    "train-precision-emulated": "A precision ran emulated, not natively.",
    "train-precision-not-attempted": "The precision asked for (fp8) was not attempted: the hardware does not claim it.",
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
    """The catalog with the shipped matrix. Stored in envdoctor's cache, keyed by the matrix files' names,
    sizes and modification times, so a warm check that writes SARIF loads neither the matrix nor packaging."""
    return _catalog() or rules(None)


def known_ids() -> set[str] | None:
    """The ids an ignore may name; None when the matrix is damaged (its rule ids are then unknown, and an
    ignore naming one must not become an error: check reports ``matrix-invalid`` instead)."""
    catalog = _catalog()
    return None if catalog is None else set(catalog)


_STORED = {"rules": [{"id": str, "title": str, "help": str}]}


def _catalog() -> dict[str, RuleHelp] | None:
    """The whole catalog (from the cache when the matrix files are unchanged); None when the matrix is damaged."""
    import os
    import zlib

    from envdoctor._version import __version__
    from envdoctor.cache import Cache, default_dir
    from envdoctor.errors import EnvdoctorError
    from envdoctor.resources import data_dir

    store = Cache(default_dir())
    try:
        with os.scandir(data_dir("matrix")) as entries:
            stamp = sorted(
                (e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries if e.name.endswith(".toml")
            )
    except (OSError, EnvdoctorError):
        stamp = []
    key = f"catalog-{__version__}-{len(stamp)}-{zlib.crc32(repr(stamp).encode()):08x}" if stamp else ""
    stored = store.get(key, _STORED) if key else None
    if stored is not None:
        return {r["id"]: RuleHelp(r["id"], r["title"], r["help"]) for r in stored["rules"]}
    matrix = _matrix()
    if matrix is None:
        return None
    catalog = rules(matrix)
    if key:
        store.put(key, {"rules": [{"id": r.id, "title": r.title, "help": r.help} for r in catalog.values()]})
    return catalog


def _matrix() -> Matrix | None:
    from envdoctor.cache import Cache, default_dir
    from envdoctor.diagnose import load_matrix
    from envdoctor.knowledge.matrix import MatrixError

    matrix = load_matrix(Cache(default_dir()))
    return None if isinstance(matrix, MatrixError) else matrix
