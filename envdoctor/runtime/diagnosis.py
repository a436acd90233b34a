"""Error text or a whole traceback -> cause, packages, fix. Pure functions: text in, a Diagnosis out.

Shared by the import probes (envdoctor.runtime.imports) and ``envdoctor explain --text``. The packages
involved come from the traceback's file paths, mapped to the distributions whose RECORD lists those
files (``Owners``), and from the module names the message itself states; never from a guess. A text
none of the known shapes matches is still a Diagnosis: its error line and packages, and no cause.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from envdoctor.versions import Version, canonical, version_or_none

if TYPE_CHECKING:
    from envdoctor.knowledge.wheelfacts import Facts

_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)(?:,? in (?P<func>\S+))?')
_ERROR_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning)\b(?::.*)?$")
_SITE = re.compile(r"[\\/](?:site|dist)-packages[\\/](?P<rel>[^\s'\")]+)")
_TORCH_ABI = ("_ZN3c10", "_ZNK3c10", "_ZN2at", "_ZNK2at", "_ZN5torch", "_ZNK5torch")


@dataclass(frozen=True)
class Frame:
    path: str
    line: int
    func: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" + (f" in {self.func}" if self.func else "")


class Owners(Protocol):
    """Which installed distribution owns a file or a top-level module, and at what version."""

    def of_path(self, path: str) -> str | None: ...
    def of_module(self, module: str) -> str | None: ...
    def version(self, name: str) -> str | None: ...


class NoOwners:
    """Nothing installed is known: packages then come only from what the message names."""

    def of_path(self, path: str) -> str | None:
        return None

    def of_module(self, module: str) -> str | None:
        return None

    def version(self, name: str) -> str | None:
        return None


@dataclass(frozen=True)
class TableOwners:
    """Owners from plain tables (absolute path -> distribution, top-level module -> distribution)."""

    paths: Mapping[str, str] = field(default_factory=dict)
    modules: Mapping[str, str] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)

    def of_path(self, path: str) -> str | None:
        return self.paths.get(path)

    def of_module(self, module: str) -> str | None:
        return self.modules.get(module.split(".", maxsplit=1)[0])

    def version(self, name: str) -> str | None:
        return self.versions.get(canonical(name))


@dataclass(frozen=True)
class Diagnosis:
    """What an error text says: ``kind`` of failure, the exception line it was read from, the cause
    (empty when no known shape matched: nothing is invented), the packages involved (canonical names,
    the one to act on first), and fixes as requirement specifiers, best first."""

    kind: str
    error: str
    cause: str = ""
    packages: tuple[str, ...] = ()
    fix: tuple[str, ...] = ()
    frames: tuple[Frame, ...] = ()

    @property
    def known(self) -> bool:
        return self.kind != "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "error": self.error,
            "cause": self.cause,
            "packages": list(self.packages),
            "fix": list(self.fix),
            "frames": [str(f) for f in self.frames],
        }


def frames(text: str) -> list[Frame]:
    """Every ``File "...", line N, in f`` of a traceback, innermost last (chained tracebacks included;
    faulthandler's dump of a crash, which lists the innermost first, is turned around)."""
    found = [Frame(m["path"], int(m["line"]), m["func"] or "") for m in _FRAME.finditer(text)]
    return found[::-1] if "(most recent call first)" in text else found


def error_line(text: str) -> str:
    """The last exception line (``ImportError: ...``), else the last non-blank line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if _ERROR_LINE.match(line):
            return line[:500]
    return lines[-1][:500] if lines else ""


def owner_of(path: str, owners: Owners) -> str | None:
    """The distribution that owns ``path``: by its RECORD, else (a path from another machine, a pasted
    log) by the top-level module after ``site-packages/`` that an installed distribution provides."""
    found = owners.of_path(path)
    if found is not None:
        return found
    m = _SITE.search(path)
    if m is None:
        return None
    top = re.split(r"[\\/]", m["rel"])[0].removesuffix(".py")
    top = top.split(".")[0]
    return owners.of_module(top) if top.isidentifier() else None


@dataclass(frozen=True)
class _Context:
    text: str
    owners: Owners
    facts: Facts | None
    frames: tuple[Frame, ...]

    def dist_of_module(self, module: str) -> str | None:
        return self.owners.of_module(module.split(".", maxsplit=1)[0])

    def label(self, name: str) -> str:
        version = self.owners.version(name)
        return f"{name} {version}" if version else name

    def version(self, name: str) -> Version | None:
        return version_or_none(self.owners.version(name))

    def frame_owners(self, before: int | None = None) -> list[str]:
        """Owners of the frames (of the text up to offset ``before``), innermost last, each once."""
        chosen = frames(self.text[:before]) if before is not None else list(self.frames)
        seen: list[str] = []
        for f in chosen:
            owner = owner_of(f.path, self.owners)
            if owner is not None:
                if owner in seen:
                    seen.remove(owner)
                seen.append(owner)
        return seen

    def importer(self, at: int, exclude: Iterable[str | None] = ()) -> str | None:
        """The distribution whose code ran the failing statement: the innermost frame before ``at``
        owned by something other than ``exclude``."""
        skip = set(exclude)
        owned = [o for o in self.frame_owners(at) if o not in skip]
        return owned[-1] if owned else None


@dataclass(frozen=True)
class _Found:
    kind: str
    cause: str
    packages: tuple[str | None, ...]
    fix: tuple[str, ...] = ()


def _name_missing(ctx: _Context) -> _Found | None:
    m = re.search(
        r"cannot import name '(?P<name>\w+)' from (?:partially initialized module )?'(?P<mod>[\w.]+)'", ctx.text
    )
    if m is None:
        return None
    name, module = m["name"], m["mod"]
    provider = ctx.dist_of_module(module)
    importer = ctx.importer(m.start(), exclude=[provider])
    if "partially initialized" in m.group(0):
        cause = f"circular import: {module} was imported again while it was still initializing, before it bound {name}"
        return _Found("circular-import", cause, (importer, provider))
    who = importer or "the importing code"
    has = f"the installed {ctx.label(provider)}" if provider else f"the installed {module}"
    cause = f"{who} imports {name} from {module}, which {has} does not define"
    return _Found("name-missing", cause, (importer, provider), _facts_fix(ctx, provider, module, name))


def _facts_fix(ctx: _Context, dist: str | None, module: str, name: str) -> tuple[str, ...]:
    """From the harvested facts: the releases of ``dist`` whose ``module`` defines ``name``."""
    if dist is None or ctx.facts is None:
        return ()
    found = ctx.facts.providing(dist, module, name)
    installed = ctx.version(dist)
    if not found or installed is None:
        return ()
    releases = sorted(Version(v) for v in found)
    first, last = releases[0], releases[-1]
    if installed < first:
        return (f"{dist}>={first}",)
    if installed > last:
        return (f"{dist}<={last}",)
    return ()


def _module_missing(ctx: _Context) -> _Found | None:
    m = re.search(r"No module named '(?P<mod>[\w.]+)'", ctx.text)
    if m is None:
        return None
    module = m["mod"]
    provider = ctx.dist_of_module(module)
    importer = ctx.importer(m.start(), exclude=[provider])
    if provider is None:
        top = module.split(".")[0]
        cause = f"{importer or 'the importing code'} imports {module}, and no installed distribution provides {top}"
        return _Found("module-missing", cause, (importer,))
    cause = (
        f"{importer or 'the importing code'} imports {module}, which the installed {ctx.label(provider)} does not "
        "have (a module added in a later release, or removed in this one)"
    )
    return _Found("module-missing", cause, (importer, provider))


_NUMPY_ABI = re.compile(
    r"compiled using NumPy 1\.x|_ARRAY_API not found|numpy\.core\.multiarray failed to import|"
    r"numpy\.core\._multiarray_umath failed to import|numpy\.(?:dtype|ndarray) size changed"
)


def _numpy_abi(ctx: _Context) -> _Found | None:
    m = _NUMPY_ABI.search(ctx.text)
    if m is None:
        return None
    extension = ctx.importer(_last_error_at(ctx.text), exclude=["numpy"])
    numpy = ctx.version("numpy")
    who = extension or "an installed package"
    if numpy is not None and numpy.major >= 2:
        cause = (
            f"{who} has extension modules compiled against NumPy 1.x; the installed numpy {numpy} (2.x) "
            "has another binary interface and refuses them"
        )
        return _Found("numpy-abi", cause, (extension, "numpy"), ("numpy<2",))
    cause = f"{who} has extension modules compiled against another NumPy binary interface than the installed numpy"
    return _Found("numpy-abi", cause, (extension, "numpy"))


def _numpy_removed_name(ctx: _Context) -> _Found | None:
    m = re.search(r"`np\.(?P<name>\w+)` was removed in the NumPy 2\.0 release", ctx.text)
    if m is None:
        return None
    user = ctx.importer(m.start(), exclude=["numpy"])
    cause = (
        f"{user or 'the calling code'} reads np.{m['name']}, which NumPy 2.0 removed; the installed "
        f"{ctx.label('numpy')} no longer has it"
    )
    return _Found("numpy2-removed-name", cause, (user, "numpy"), ("numpy<2",))


def _torch_operator(ctx: _Context) -> _Found | None:
    m = re.search(r"operator (?P<ns>\w+)::(?P<op>\w+) does not exist", ctx.text)
    if m is None:
        return None
    owner = ctx.dist_of_module(m["ns"]) or ctx.importer(m.start(), exclude=["torch"])
    torch = ctx.owners.version("torch")
    cause = (
        f"{ctx.label(owner) if owner else m['ns']}'s compiled operators ({m['ns']}::{m['op']}) did not register: "
        f"its C++ extension does not load with the installed {ctx.label('torch')} (built for another torch "
        "release, or a CUDA build beside a CPU torch)"
    )
    fix: tuple[str, ...] = ()
    own = ctx.owners.version(owner) if owner else None
    if owner and own and torch and "+cpu" in torch:
        fix = (f"{owner}=={own.split('+')[0]}+cpu", f"torch=={torch.split('+')[0]}")
    return _Found("torch-operator-missing", cause, (owner, "torch"), fix)


def _xformers_build(ctx: _Context) -> _Found | None:
    m = re.search(
        r"xFormers was built for:\s*PyTorch (?P<built>\S+) with CUDA (?P<cuda>\d+) \(you have (?P<have>[^)]+)\)",
        ctx.text,
    )
    if m is None:
        return None
    cuda = int(m["cuda"])
    cause = (
        f"{ctx.label('xformers')} was built for torch {m['built']} (CUDA {cuda // 100}.{cuda % 100}), the installed "
        f"torch is {m['have']}: its C++/CUDA extensions do not load (memory-efficient attention is unavailable)"
    )
    return _Found("built-for-another-torch", cause, ("xformers", "torch"), (f"torch=={m['built'].split('+')[0]}",))


WARNING_KINDS = frozenset(
    {
        "numpy-abi",
        "numpy2-removed-name",
        "torch-operator-missing",
        "version-check",
        "undefined-symbol",
        "missing-library",
        "built-for-another-torch",
        "protobuf-old-generated",
    }
)
"""Kinds worth surfacing when the import itself worked (a warning it printed: transformers' "Disabling
PyTorch because ...", numpy's "compiled using NumPy 1.x" banner, xformers' build mismatch)."""


def _undefined_symbol(ctx: _Context) -> _Found | None:
    m = re.search(r"(?P<lib>[^\s:'\"]+\.so[\w.]*): undefined symbol: (?P<sym>\S+)", ctx.text)
    if m is None:
        return None
    owner = owner_of(m["lib"], ctx.owners) or ctx.importer(m.start(), exclude=["torch"])
    lib = re.split(r"[\\/]", m["lib"])[-1]
    needs_torch = m["sym"].startswith(_TORCH_ABI)
    what = ctx.label("torch") if needs_torch else "the libraries it links to"
    cause = (
        f"{ctx.label(owner) if owner else 'an extension'}'s compiled library {lib} needs the symbol {m['sym']}, "
        f"which {what} does not export: it was built against another release"
    )
    return _Found("undefined-symbol", cause, (owner, "torch" if needs_torch else None))


def _missing_library(ctx: _Context) -> _Found | None:
    m = re.search(r"(?P<lib>lib[\w.+-]+\.so[\w.]*): cannot open shared object file", ctx.text)
    if m is None:
        return None
    lib = m["lib"]
    cuda_torch = lib.startswith(("libc10_cuda", "libtorch_cuda"))
    owner = ctx.importer(_last_error_at(ctx.text), exclude=["torch"])
    if cuda_torch:
        cause = (
            f"{ctx.label(owner) if owner else 'an extension'} is a CUDA build: it needs {lib}, which only a CUDA "
            f"build of torch ships, and the installed {ctx.label('torch')} has none"
        )
        return _Found("missing-library", cause, (owner, "torch"))
    cause = f"{ctx.label(owner) if owner else 'an extension'} needs the shared library {lib}, which is not installed"
    return _Found("missing-library", cause, (owner,))


def _protobuf(ctx: _Context) -> _Found | None:
    m = re.search(r"Descriptors cannot (?:not )?be created directly", ctx.text)
    if m is None:
        return None
    pb2 = [f for f in frames(ctx.text[: m.start()]) if f.path.endswith("_pb2.py")]
    owner = owner_of(pb2[-1].path, ctx.owners) if pb2 else None
    owner = owner or ctx.importer(m.start(), exclude=["protobuf"])
    cause = (
        f"{ctx.label(owner) if owner else 'an installed package'} ships _pb2 modules generated by an old protoc; "
        f"the installed {ctx.label('protobuf')} (>= 4.21) refuses to load them"
    )
    return _Found("protobuf-old-generated", cause, (owner, "protobuf"), ("protobuf<4",))


_NAME = r"[A-Za-z][\w.-]*[A-Za-z0-9]"
_WORDED_CHECKS = (
    # jax/_src/lib/__init__.py: check_jaxlib_version, both ways
    (
        rf"(?P<dep>{_NAME}) version (?P<found>\S+) is newer than and incompatible with (?P<who>{_NAME}) "
        r"version (?P<v>\d[\w.]*\d)",
        "<=",
    ),
    (
        rf"(?P<dep>{_NAME}) is version (?P<found>\S+), but this version of (?P<who>{_NAME}) requires version >= ?"
        r"(?P<v>\d[\w.]*\d)",
        ">=",
    ),
    # torch/utils/tensorboard/__init__.py: "TensorBoard logging requires TensorBoard version 1.15 or above"
    (rf"requires (?P<dep>{_NAME}) version (?P<v>\d[\w.]*\d) or (?:above|newer|later|higher|greater)", ">="),
    # the general shape: "trl requires transformers >= 4.46.0, found 4.40.0"
    (r"(?P<who>[A-Za-z][\w.-]*) requires (?P<dep>[A-Za-z][\w.-]*) ?(?P<op>>=|>|==|~=|<=|<) ?v?(?P<v>\d[\w.]*)", ""),
)
"""Import-time version checks worded in prose: (pattern, the operator of the fix on ``dep``; empty: the
one the message states)."""


def _dist_named(ctx: _Context, name: str) -> str:
    """The installed distribution a message means by ``name`` (``TensorBoard``: tensorboard), by its
    project name or by the module it provides; else the name as a project name."""
    if ctx.owners.version(canonical(name)):
        return canonical(name)
    return ctx.dist_of_module(name) or ctx.dist_of_module(name.lower()) or canonical(name)


def _version_check(ctx: _Context) -> _Found | None:
    spec = r"(?:[<>=!~]=?\s*[\w.*+]+\s*,?\s*)+"
    m = re.search(
        rf"(?P<dep>[A-Za-z][\w.-]*)(?P<spec>{spec}) is required for a normal functioning of this module, "
        r"but found (?P=dep)==(?P<found>[\w.+!-]+)",
        ctx.text,
    )
    if m is not None:
        dep, wanted = canonical(m["dep"]), re.sub(r"\s+", "", m["spec"]).rstrip(",")
        checker = ctx.importer(m.start(), exclude=[dep])
        cause = (
            f"{checker or 'a package'} checks at import time that {dep}{wanted} is installed; "
            f"{dep} {m['found']} is not in that range"
        )
        return _Found("version-check", cause, (checker, dep), (f"{dep}{wanted}",))
    m = re.search(
        r"Disabling PyTorch because PyTorch >= ?(?P<v>[\d.]+) is required but found (?P<found>[\w.+]+)", ctx.text
    )
    if m is not None:
        cause = f"transformers requires torch>={m['v']} at import time and treats torch {m['found']} as absent"
        return _Found("version-check", cause, ("transformers", "torch"), (f"torch>={m['v']}",))
    for shape, op in _WORDED_CHECKS:
        m = re.search(shape, ctx.text)
        if m is not None:
            needed = _dist_named(ctx, m["dep"])
            who = m.groupdict().get("who")
            checker = (ctx.dist_of_module(who) or canonical(who)) if who else ctx.importer(m.start(), exclude=[needed])
            wanted = f"{op or m['op']}{m['v'].rstrip('.')}"
            found = ctx.owners.version(needed)
            has = f"; {needed} {found} is installed" if found else ""
            cause = f"{checker or 'a package'} checks at import time that {needed}{wanted} is installed{has}"
            return _Found("version-check", cause, (checker, needed), (f"{needed}{wanted}",))
    return None


def _cuda_driver(ctx: _Context) -> _Found | None:
    m = re.search(r"NVIDIA driver on your system is too old \(found version (?P<v>\d+)\)", ctx.text)
    if m is None:
        return None
    cause = (
        f"the installed {ctx.label('torch')} was built for a CUDA runtime newer than the NVIDIA driver supports "
        f"(driver reports CUDA {int(m['v']) // 1000}.{int(m['v']) % 1000 // 10}): update the driver, or install "
        "a torch build for an older CUDA"
    )
    return _Found("cuda-driver-too-old", cause, ("torch",))


def _exit_at_import(ctx: _Context) -> _Found | None:
    m = re.search(r"^SystemExit(?::\s*(?P<code>.*))?$", error_line(ctx.text))
    if m is None:
        return None
    user = ctx.importer(len(ctx.text))
    cause = (
        f"{user or 'the imported code'} calls sys.exit({m['code'] or ''}) while it is being imported: a script "
        "that imports it ends there" + (", with no error shown" if (m["code"] or "0").strip() in ("0", "None") else "")
    )
    return _Found("exit-at-import", cause, (user,))


_MATCHERS: tuple[Callable[[_Context], _Found | None], ...] = (
    _numpy_abi,  # before name/module-missing: its ImportError wording is a consequence
    _numpy_removed_name,
    _torch_operator,
    _protobuf,
    _version_check,
    _xformers_build,
    _undefined_symbol,
    _missing_library,
    _cuda_driver,
    _name_missing,
    _module_missing,
    _exit_at_import,
)


def _last_error_at(text: str) -> int:
    """Offset of the last exception line (frames before it are the failing import's)."""
    last = 0
    offset = 0
    for line in text.splitlines(keepends=True):
        if _ERROR_LINE.match(line.strip()):
            last = offset
        offset += len(line)
    return last or len(text)


def diagnose(text: str, owners: Owners | None = None, facts: Facts | None = None) -> Diagnosis:
    """The Diagnosis of an error message or a whole traceback (stderr of a failed import, a pasted log)."""
    owners = owners if owners is not None else NoOwners()
    ctx = _Context(text, owners, facts, tuple(frames(text)))
    error = error_line(text)
    for matcher in _MATCHERS:
        found = matcher(ctx)
        if found is not None:
            packages = _unique([*found.packages, *reversed(ctx.frame_owners())])
            return Diagnosis(found.kind, error, found.cause, packages, found.fix, ctx.frames[-8:])
    return Diagnosis("unknown", error, "", _unique(reversed(ctx.frame_owners())), (), ctx.frames[-8:])


def _unique(names: Iterable[str | None]) -> tuple[str, ...]:
    seen: list[str] = []
    for name in names:
        if name and canonical(name) not in seen:
            seen.append(canonical(name))
    return tuple(seen)
