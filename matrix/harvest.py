"""Harvest facts from real released wheels into matrix/facts/ (a maintainer tool; envdoctor never imports it).

    python matrix/harvest.py                       # every watched package, releases since 2023-01-01
    python matrix/harvest.py accelerate peft       # some packages
    python matrix/harvest.py --since 2024-01-01 --jobs 4

For each watched package it fetches every release's wheel with ``pip download --no-deps`` (kept
in a wheel cache, so a re-harvest downloads nothing new) and writes, sorted and without
timestamps, so that the same wheels always give byte-identical files:

- ``facts/releases/PKG.json``: per release, the wheel file name and its sha256, Requires-Python
  and Requires-Dist.
- ``facts/imports/PKG.json``: which names each release imports from the other watched packages
  (``from B.m import n``), found by text, as version ranges of PKG.
- ``facts/signatures/PKG.json``: for the user-facing callables in USER_FACING_SIGNATURES, which
  releases accept which keyword arguments, take ``**kwargs``, or rename one through a decorator.
- ``facts/symbols/PKG.json``: for each module of PKG that another watched package imports from (and
  the user-facing ones in USER_FACING_MODULES, such as ``transformers.file_utils``),
  which releases define which names, as version ranges. A module whose names cannot be known
  statically in a release is listed under ``dynamic`` for that range; ``files`` maps each hash of
  the module's file (as the wheel's RECORD writes it) to the releases that ship it, so that
  envdoctor can tell an installed file the facts describe from a patched one; ``exports`` holds
  what the module's ``from x import *`` chains bring (walked by envdoctor's own resolver over the
  unpacked wheel), ``exports_unknown`` the releases where that walk could not be completed.

A version range is ``[first, last]``: the first and last harvested releases (inclusive) of a run
of consecutive releases. Every version named in a range is a release in ``releases/PKG.json``,
whose wheel and sha256 are the evidence.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envdoctor.checks.symbols.resolver import Resolver
from envdoctor.inventory import Inventory
from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.source.index import SourceIndex
from envdoctor.source.syntax import ModuleInfo
from envdoctor.source.text import scan_imports
from envdoctor.versions import InvalidVersion, canonical, parse_version

WATCHED = (
    "accelerate",
    "bitsandbytes",
    "datasets",
    "diffusers",
    "evaluate",
    "huggingface-hub",
    "numpy",
    "peft",
    "safetensors",
    "sentence-transformers",
    "tokenizers",
    "transformers",
    "trl",
)
IMPORT_NAMES = {  # distribution -> its top-level import name, where they differ
    "huggingface-hub": "huggingface_hub",
    "sentence-transformers": "sentence_transformers",
}
FACTS = ROOT / "matrix" / "facts"
USER_FACING_MODULES = {  # modules user code imports from, whose names change by release (for the user-code scan)
    "accelerate": {"accelerate", "accelerate.utils"},
    "datasets": {"datasets"},
    "huggingface-hub": {
        "huggingface_hub",
        "huggingface_hub.file_download",
        "huggingface_hub.hf_api",
        "huggingface_hub.inference_api",
        "huggingface_hub.repository",
        "huggingface_hub.utils",
    },
    "transformers": {"transformers.file_utils"},
    "trl": {"trl", "trl.trainer"},
}
USER_FACING_SIGNATURES = {  # callables user code calls with keywords that change by release:
    # PKG.Class.method, PKG.function, or PKG.Class for a dataclass (its __init__ is its fields)
    "accelerate": [
        ("accelerate.Accelerator.__init__", "accelerate/accelerator.py"),
        ("accelerate.Accelerator.unwrap_model", "accelerate/accelerator.py"),  # transformers calls it, by keyword
    ],
    "datasets": [("datasets.load_dataset", "datasets/load.py")],
    "huggingface-hub": [
        ("huggingface_hub.hf_hub_download", "huggingface_hub/file_download.py"),
        ("huggingface_hub.snapshot_download", "huggingface_hub/_snapshot_download.py"),
    ],
    "transformers": [
        ("transformers.Trainer.__init__", "transformers/trainer.py"),
        ("transformers.TrainingArguments", "transformers/training_args.py"),
    ],
    "trl": [
        ("trl.DPOConfig", "trl/trainer/dpo_config.py"),
        ("trl.DPOTrainer.__init__", "trl/trainer/dpo_trainer.py"),
        ("trl.SFTConfig", "trl/trainer/sft_config.py"),
        ("trl.SFTTrainer.__init__", "trl/trainer/sft_trainer.py"),
    ],
}
USER_FACING_MEMBERS = {  # classes whose members (methods, attributes) other packages use on an instance
    "accelerate": [("accelerate.Accelerator", "accelerate/accelerator.py")],  # transformers' self.accelerator
}
WHEELS = Path.home() / ".cache" / "envdoctor-harvest" / "wheels"


def top_name(dist: str) -> str:
    return IMPORT_NAMES.get(dist, dist.replace("-", "_"))


@dataclass
class Release:
    package: str
    version: str
    wheel: Path
    sha256: str = ""
    requires_python: str | None = None
    requires_dist: list[str] = field(default_factory=list)
    imports: dict[str, set[str]] = field(default_factory=dict)  # module -> names, of other watched packages


def release_versions(package: str, since: str) -> list[str]:
    """Released versions with a wheel uploaded on or after ``since`` (from the index's JSON API)."""
    with urllib.request.urlopen(f"https://pypi.org/pypi/{package}/json", timeout=60) as resp:
        data = json.load(resp)
    found = []
    for version, files in data["releases"].items():
        wheels = [f for f in files if f["filename"].endswith(".whl") and not f.get("yanked")]
        if not wheels or min(f["upload_time"] for f in wheels)[:10] < since:
            continue
        try:
            v = parse_version(version)
        except InvalidVersion:
            continue
        if not v.is_prerelease and not v.is_devrelease:
            found.append(version)
    return sorted(found, key=parse_version)


def fetch(package: str, version: str) -> Path | None:
    """The wheel of ``package==version`` for this machine, through ``pip download --no-deps`` and a cache."""
    dest = WHEELS / package
    prefix = f"{top_name(package)}-{version}-".lower()
    cached = [p for p in dest.glob("*.whl") if p.name.lower().startswith(prefix)]
    if cached:
        return cached[0]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-q",
        "--disable-pip-version-check",
        "-d",
        str(dest),
        f"{package}=={version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    cached = [p for p in dest.glob("*.whl") if p.name.lower().startswith(prefix)]
    if proc.returncode != 0 or not cached:
        print(f"  skip {package} {version}: no wheel for this platform", file=sys.stderr)
        return None
    return cached[0]


def read_release(package: str, version: str, wheel: Path, watched_tops: dict[str, str]) -> Release:
    rel = Release(package, version, wheel, sha256=hashlib.sha256(wheel.read_bytes()).hexdigest())
    own = top_name(package)
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.endswith(".dist-info/METADATA"):
                _metadata(rel, zf.read(name).decode("utf-8", "replace"))
            elif name.endswith(".py") and name.split("/")[0] == own and "/tests/" not in name:
                for imp in scan_imports(zf.read(name), frozenset(t.encode() for t in watched_tops if t != own)):
                    if imp.names:
                        rel.imports.setdefault(imp.module, set()).update(n for n in imp.names if n != "*")
    return rel


def _metadata(rel: Release, text: str) -> None:
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        if key == "Requires-Dist":
            rel.requires_dist.append(value.strip())
        elif key == "Requires-Python":
            rel.requires_python = value.strip()


def ranges(versions: list[str], present: Iterable[str]) -> list[list[str]]:
    """Runs of consecutive releases (in ``versions`` order) that are in ``present``."""
    have = set(present)
    out: list[list[str]] = []
    run: list[str] = []
    for v in versions:
        if v in have:
            run.append(v)
        elif run:
            out.append([run[0], run[-1]])
            run = []
    if run:
        out.append([run[0], run[-1]])
    return out


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def harvest(packages: Sequence[str], since: str, jobs: int) -> None:
    tops = {top_name(p): p for p in WATCHED}
    releases: dict[str, list[Release]] = {}
    for package in packages:
        versions = release_versions(package, since)
        print(f"{package}: {len(versions)} releases since {since}", file=sys.stderr)
        with ThreadPoolExecutor(jobs) as pool:
            wheels = list(pool.map(lambda v, p=package: (v, fetch(p, v)), versions))
        releases[package] = [read_release(package, v, w, tops) for v, w in wheels if w is not None]
        write_releases(package, releases[package])
        write_imports(package, releases[package])
    # Which modules of each package do the others import from? Over all harvested imports.
    wanted: dict[str, set[str]] = {}
    for path in sorted((FACTS / "imports").glob("*.json")):
        for module in json.loads(path.read_text())["imports"]:
            provider = tops.get(module.split(".")[0])
            if provider is not None and provider != json.loads(path.read_text())["package"]:
                wanted.setdefault(provider, set()).add(module)
    for package, modules in USER_FACING_MODULES.items():
        wanted.setdefault(package, set()).update(modules)
    for package, rels in releases.items():
        write_symbols(package, rels, sorted(wanted.get(package, ())))
        if package in USER_FACING_SIGNATURES:
            write_signatures(package, rels)


def write_signatures(package: str, rels: list[Release]) -> None:
    """facts/signatures/PKG.json: for the user-facing callables in USER_FACING_SIGNATURES, which releases
    accept which keyword arguments (``params``; for a dataclass its init fields, with those of its bases in
    the same wheel), which accept any (``var_keyword``, **kwargs), which rename one (``renamed``: through a
    ``deprecate_kwarg(old, new_name=...)`` decorator, as transformers' Trainer and trl's trainers do for
    tokenizer -> processing_class, or huggingface_hub's ``validate_hf_hub_args``, which maps use_auth_token to
    token where it calls ``smoothly_deprecate_use_auth_token``); where any: which take a keyword that is not a
    parameter out of **kwargs by name (``popped``: a ``kwargs.pop("x")`` in the body, or the legacy arguments
    that ``validate_hf_hub_args`` drops with a warning), which parameters the body never reads (``unused``: the
    value is silently dropped, as accelerate 1.x does with ``Accelerator(split_batches=...)``), and which
    dataclass bases outside the wheel add fields not listed here (``inherits``, such as
    transformers.TrainingArguments)."""
    versions = [r.version for r in rels]
    table: dict[str, object] = {}
    for target, path in USER_FACING_SIGNATURES[package]:
        qual = target.split(".")[1:]  # after the top-level package: [Class, method], [function] or [Class]
        facts: dict[str, dict[str, set[str]]] = {}
        var_kw: set[str] = set()
        renamed: dict[str, dict[str, set[str]]] = {}
        for r in rels:
            with zipfile.ZipFile(r.wheel) as zf:
                if path not in zf.namelist():
                    continue
                sig = _signature(zf, path, ast.parse(zf.read(path)), qual)
            if sig is None:
                continue
            for kind, names in sig.items():
                for n in names:
                    if kind == "var_keyword":
                        var_kw.add(r.version)
                    elif kind == "renamed":
                        old, new = n.split(" ", 1)
                        renamed.setdefault(old, {}).setdefault(new, set()).add(r.version)
                    else:
                        facts.setdefault(kind, {}).setdefault(n, set()).add(r.version)
        entry: dict[str, object] = {
            "path": path,
            "params": {n: ranges(versions, vs) for n, vs in sorted(facts.get("params", {}).items())},
            "var_keyword": ranges(versions, var_kw),
            "renamed": {
                o: {n: ranges(versions, vs) for n, vs in sorted(m.items())} for o, m in sorted(renamed.items())
            },
        }
        for kind in ("popped", "unused", "inherits"):  # only where there are any, as the files had them before
            if facts.get(kind):
                entry[kind] = {n: ranges(versions, vs) for n, vs in sorted(facts[kind].items())}
        table[target] = entry
    data: dict[str, object] = {"package": package, "versions": versions, "callables": table}
    if package in USER_FACING_MEMBERS:
        data["members"] = {target: _member_table(rels, target, path) for target, path in USER_FACING_MEMBERS[package]}
    write(FACTS / "signatures" / f"{package}.json", data)


def _member_table(rels: list[Release], target: str, path: str) -> dict[str, object]:
    """Which releases' class ``target`` defines which members (``names``: its methods, properties, class
    attributes and every ``self.x = ...`` in its methods), and where they cannot be known (``open``: a
    ``__getattr__``, a base class other than object, a ``setattr(self, ...)``)."""
    versions = [r.version for r in rels]
    names: dict[str, set[str]] = {}
    unknown: set[str] = set()
    for r in rels:
        with zipfile.ZipFile(r.wheel) as zf:
            if path not in zf.namelist():
                continue
            node = _named(ast.parse(zf.read(path)).body, target.rsplit(".", maxsplit=1)[-1])
        if not isinstance(node, ast.ClassDef):
            continue
        found, is_open = _members(node)
        if is_open:
            unknown.add(r.version)
        for n in found:
            names.setdefault(n, set()).add(r.version)
    return {
        "path": path,
        "names": {n: ranges(versions, vs) for n, vs in sorted(names.items())},
        "open": ranges(versions, unknown),
    }


def _members(node: ast.ClassDef) -> tuple[set[str], bool]:
    """The members one release's class defines, and whether more may exist than the text shows."""
    found: set[str] = set()
    is_open = any(not (isinstance(b, ast.Name) and b.id == "object") for b in node.bases)
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(stmt.name)
            is_open |= stmt.name in ("__getattr__", "__getattribute__")
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            found.update(t.id for t in targets if isinstance(t, ast.Name))
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
            for t in targets:
                for el in t.elts if isinstance(t, ast.Tuple) else [t]:
                    if isinstance(el, ast.Attribute) and isinstance(el.value, ast.Name) and el.value.id == "self":
                        found.add(el.attr)
        elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "setattr":
            is_open |= bool(sub.args) and isinstance(sub.args[0], ast.Name) and sub.args[0].id == "self"
    return found, is_open


def _named(body: list[ast.stmt], name: str) -> ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The last class or function ``name`` defined in ``body``, skipping ``@overload`` stubs."""
    found = [
        n
        for n in body
        if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and n.name == name
        and not any(ast.unparse(d).split(".")[-1] == "overload" for d in n.decorator_list)
    ]
    return found[-1] if found else None


def _signature(zf: zipfile.ZipFile, path: str, tree: ast.Module, qual: list[str]) -> dict[str, set[str]] | None:
    """What one release's callable accepts: params, var_keyword, renamed ("old new"), popped, unused, inherits."""
    node: ast.AST | None = tree
    for part in qual:
        node = _named(node.body, part) if isinstance(node, (ast.Module, ast.ClassDef)) else None
        if node is None:
            return None
    out: dict[str, set[str]] = {k: set() for k in ("params", "var_keyword", "renamed", "popped", "unused", "inherits")}
    if isinstance(node, ast.ClassDef):
        _dataclass_fields(zf, path, tree, node, out)
        return out
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    args = node.args
    out["params"] = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    read = {
        n.id for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    if not read & {"locals", "vars"}:  # a parameter the body never reads: its value is silently dropped
        out["unused"] = out["params"] - read - {"self", "cls"}
    if args.kwarg is not None:
        out["var_keyword"].add("**" + args.kwarg.arg)
        out["popped"] |= _pops(node, args.kwarg.arg)
    for deco in node.decorator_list:
        name = ast.unparse(deco.func if isinstance(deco, ast.Call) else deco).split(".")[-1]
        if name == "deprecate_kwarg" and isinstance(deco, ast.Call) and deco.args:
            old = ast.literal_eval(deco.args[0])
            new = next((k.value for k in deco.keywords if k.arg == "new_name"), None)
            if new is None and len(deco.args) > 2:  # deprecate_kwarg(old, version, new_name, ...)
                new = deco.args[2]
            out["renamed"].add(f"{old} {ast.literal_eval(new) if new is not None else ''}")
        elif name == "validate_hf_hub_args" and "huggingface_hub/utils/_validators.py" in zf.namelist():
            validators = ast.parse(zf.read("huggingface_hub/utils/_validators.py"))
            validate = _named(validators.body, "validate_hf_hub_args")
            calls = {ast.unparse(c.func) for c in ast.walk(validate) if isinstance(c, ast.Call)} if validate else set()
            has_token = "token" in out["params"] and "use_auth_token" not in out["params"]
            if has_token and "smoothly_deprecate_use_auth_token" in calls:  # as the decorator's own test
                out["renamed"].add("use_auth_token token")
            legacy = _named(validators.body, "smoothly_deprecate_legacy_arguments")
            if "smoothly_deprecate_legacy_arguments" in calls and legacy is not None:
                out["popped"] |= _pops(legacy, None) - out["params"]
    return out


def _pops(fn: ast.AST, var: str | None) -> set[str]:
    """The string keys ``fn`` takes out with ``VAR.pop("key", ...)`` (any variable where ``var`` is None)."""
    return {
        c.args[0].value
        for c in ast.walk(fn)
        if isinstance(c, ast.Call)
        and isinstance(c.func, ast.Attribute)
        and c.func.attr == "pop"
        and isinstance(c.func.value, ast.Name)
        and (var is None or c.func.value.id == var)
        and c.args
        and isinstance(c.args[0], ast.Constant)
        and isinstance(c.args[0].value, str)
    }


def _dataclass_fields(
    zf: zipfile.ZipFile, path: str, tree: ast.Module, cls: ast.ClassDef, out: dict[str, set[str]], *, depth: int = 0
) -> None:
    """The init fields of dataclass ``cls`` and of its dataclass bases found in the same wheel; a base
    imported from elsewhere goes to ``inherits`` (as module.Name)."""
    decorators = {ast.unparse(d.func if isinstance(d, ast.Call) else d).split(".")[-1] for d in cls.decorator_list}
    if depth > 8 or "dataclass" not in decorators:
        return
    for stmt in cls.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        if ast.unparse(stmt.annotation).split("[")[0].split(".")[-1] in ("ClassVar", "KW_ONLY", "InitVar"):
            continue
        value = stmt.value
        if (
            isinstance(value, ast.Call)
            and ast.unparse(value.func).split(".")[-1] == "field"
            and any(
                k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False for k in value.keywords
            )
        ):
            continue
        out["params"].add(stmt.target.id)
    own_top = path.split("/", maxsplit=1)[0]
    for base in cls.bases:
        name = ast.unparse(base)
        local = _named(tree.body, name)
        if isinstance(local, ast.ClassDef):
            _dataclass_fields(zf, path, tree, local, out, depth=depth + 1)
            continue
        source = next(
            (
                imp
                for imp in tree.body
                if isinstance(imp, ast.ImportFrom) and any((a.asname or a.name) == name for a in imp.names)
            ),
            None,
        )
        if source is None:
            out["inherits"].add(name)
            continue
        module = source.module or ""
        if source.level:  # relative: from the package that holds ``path``
            package = path.split("/")[:-1]
            package = package[: len(package) - (source.level - 1)]
            module = ".".join([*package, *([module] if module else [])])
        original = next(a.name for a in source.names if (a.asname or a.name) == name)
        if module.split(".")[0] == own_top:
            for candidate in (module.replace(".", "/") + ".py", module.replace(".", "/") + "/__init__.py"):
                if candidate in zf.namelist():
                    other = ast.parse(zf.read(candidate))
                    found = _named(other.body, original)
                    if isinstance(found, ast.ClassDef):
                        _dataclass_fields(zf, candidate, other, found, out, depth=depth + 1)
                        break
            else:
                out["inherits"].add(f"{module}.{original}")
            continue
        out["inherits"].add(f"{module}.{original}")


def write_releases(package: str, rels: list[Release]) -> None:
    write(
        FACTS / "releases" / f"{package}.json",
        {
            "package": package,
            "releases": [
                {
                    "version": r.version,
                    "wheel": r.wheel.name,
                    "sha256": r.sha256,
                    "requires_python": r.requires_python,
                    "requires_dist": sorted(r.requires_dist),
                }
                for r in rels
            ],
        },
    )


def write_imports(package: str, rels: list[Release]) -> None:
    versions = [r.version for r in rels]
    pairs: dict[str, dict[str, set[str]]] = {}
    for r in rels:
        for module, names in r.imports.items():
            for name in names:
                pairs.setdefault(module, {}).setdefault(name, set()).add(r.version)
    write(
        FACTS / "imports" / f"{package}.json",
        {
            "package": package,
            "versions": versions,
            "imports": {
                m: {n: ranges(versions, vs) for n, vs in sorted(names.items())} for m, names in sorted(pairs.items())
            },
        },
    )


def release_modules(wheel: Path, modules: list[str]) -> dict[str, tuple[ModuleInfo, str, frozenset[str], bool]]:
    """For each of ``modules`` in ``wheel``: what it binds, its RECORD hash, and what its star imports bring
    (walked by envdoctor's own resolver over the unpacked wheel, which is a site-packages layout)."""
    import runpy
    import tempfile

    out: dict[str, tuple[ModuleInfo, str, frozenset[str], bool]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        probe = runpy.run_path(str(ROOT / "probes" / "inventory.py"), run_name="envdoctor_probe")
        inv = Inventory.from_payload(probe["main"]({"path": [tmp]}))
        index = SourceIndex(inv)
        resolver = Resolver(index, Facts(None))
        for module in modules:
            loc = index.locate(module)
            info = index.info(loc) if loc is not None else None
            if loc is None or info is None:
                continue
            files = index.files[loc.dist.name]
            digest = files.hashes.get(files.py.get(module) or "", "")
            exported, unknown = resolver.star_exports(module) if info.stars else (frozenset(), False)
            out[module] = (info, digest, exported, unknown)
    return out


def write_symbols(package: str, rels: list[Release], modules: list[str]) -> None:
    versions = [r.version for r in rels]
    per_release = {r.version: release_modules(r.wheel, modules) for r in rels} if modules else {}
    table: dict[str, dict[str, object]] = {}
    for module in modules:
        names: dict[str, set[str]] = {}
        exports: dict[str, set[str]] = {}
        dynamic: set[str] = set()
        missing: set[str] = set()
        unsure: set[str] = set()
        files: dict[str, set[str]] = {}
        for version in versions:
            found = per_release[version].get(module)
            if found is None:
                missing.add(version)
                continue
            info, digest, exported, unknown = found
            if digest:
                files.setdefault(digest, set()).add(version)
            if info.dynamic:
                dynamic.add(version)
            if unknown:
                unsure.add(version)
            for n in info.names | set(info.all or ()):
                names.setdefault(n, set()).add(version)
            for n in exported:
                exports.setdefault(n, set()).add(version)
        entry: dict[str, object] = {
            "names": {n: ranges(versions, vs) for n, vs in sorted(names.items())},
            "dynamic": ranges(versions, dynamic),
            "absent": ranges(versions, missing),
            "files": {d: ranges(versions, vs) for d, vs in sorted(files.items())},
        }
        if exports or unsure:
            entry["exports"] = {n: ranges(versions, vs) for n, vs in sorted(exports.items())}
            entry["exports_unknown"] = ranges(versions, unsure)
        table[module] = entry
    write(FACTS / "symbols" / f"{package}.json", {"package": package, "versions": versions, "modules": table})


NUMPY_OLD, NUMPY_NEW = "1.26.4", "2.0.0"
_NAMES_126 = (
    "import json, numpy\n"
    "names = {n for n in vars(numpy) if not n.startswith('__')} | set(getattr(numpy, '__deprecated_attrs__', {}))\n"
    "print(json.dumps(sorted(names | {'testing'})))\n"
)
_GONE_200 = (
    "import json, sys, warnings, numpy\n"
    "warnings.simplefilter('ignore')\n"
    "gone = []\n"
    "for n in json.loads(sys.stdin.read()):\n"
    "    try:\n        getattr(numpy, n)\n"
    "    except AttributeError:\n        gone.append(n)\n"
    "print(json.dumps(gone))\n"
)


def harvest_numpy_removed() -> None:
    """facts/numpy-2.0-removed.json: the names numpy 2.0.0 removed from its main namespace, by a real run
    of both releases, and the replacement each expired name's error message suggests."""
    import ast
    import tempfile
    import venv

    with tempfile.TemporaryDirectory() as tmp:
        pythons = {}
        for version in (NUMPY_OLD, NUMPY_NEW):
            root = Path(tmp) / version
            venv.EnvBuilder(with_pip=False).create(root)
            pythons[version] = str(root / "bin" / "python")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "--python",
                    pythons[version],
                    "install",
                    "-q",
                    "--no-deps",
                    "--only-binary=:all:",
                    f"numpy=={version}",
                ],
                check=True,
                timeout=1800,
            )
        old = subprocess.run([pythons[NUMPY_OLD], "-c", _NAMES_126], capture_output=True, text=True, check=True)
        gone = json.loads(
            subprocess.run(
                [pythons[NUMPY_NEW], "-c", _GONE_200], input=old.stdout, capture_output=True, text=True, check=True
            ).stdout
        )
    wheels = {v: fetch("numpy", v) for v in (NUMPY_OLD, NUMPY_NEW)}
    new_wheel = wheels[NUMPY_NEW]
    assert new_wheel is not None
    with zipfile.ZipFile(new_wheel) as zf:
        tree = ast.parse(zf.read("numpy/_expired_attrs_2_0.py"))
    expired = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign))
    public = [n for n in gone if not n.startswith("_")]
    old_wheel = wheels[NUMPY_OLD]
    write(
        FACTS / "numpy-2.0-removed.json",
        {
            "numpy_wheel": new_wheel.name,
            "sha256": hashlib.sha256(new_wheel.read_bytes()).hexdigest(),
            "path": "numpy/_expired_attrs_2_0.py",
            "expired": dict(sorted(expired.items())),
            "moved_or_removed": sorted(n for n in public if n not in expired),
            "moved_to_numpy_exceptions": sorted(
                n for n in public if n.endswith(("Error", "Warning")) and n not in expired
            ),
            "compared_with": {
                "numpy_wheel": old_wheel.name if old_wheel else "",
                "sha256": hashlib.sha256(old_wheel.read_bytes()).hexdigest() if old_wheel else "",
            },
            "error_formats": {
                "expired": "`np.{name}` was removed in the NumPy 2.0 release. {message}",
                "other": "module 'numpy' has no attribute '{name}'",
            },
            "method": "python matrix/harvest.py --numpy-removed: numpy 1.26.4 and 2.0.0 installed in throwaway venvs; "
            "a name counts as removed when vars(numpy) of 1.26.4 (plus its __deprecated_attrs__) has it and "
            "getattr(numpy, name) raises AttributeError under 2.0.0; `expired` is the __expired_attributes__ dict "
            "of the 2.0.0 wheel's numpy/_expired_attrs_2_0.py, read with ast.",
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("packages", nargs="*", help=f"default: {' '.join(WATCHED)}")
    parser.add_argument("--since", default="2023-01-01", help="first upload date (default: 2023-01-01)")
    parser.add_argument("--jobs", type=int, default=4, help="parallel downloads (default: 4)")
    parser.add_argument(
        "--numpy-removed",
        action="store_true",
        help="only (re)write facts/numpy-2.0-removed.json, from a real run of numpy 1.26.4 and 2.0.0",
    )
    args = parser.parse_args(argv)
    if args.numpy_removed:
        harvest_numpy_removed()
        return 0
    packages: list[str] = [canonical(p) for p in args.packages] or list(WATCHED)
    unknown = sorted(set(packages) - set(WATCHED))
    if unknown:
        parser.error(f"not watched: {', '.join(unknown)}")
    harvest(packages, args.since, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
