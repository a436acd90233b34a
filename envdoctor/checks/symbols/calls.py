"""Calls as well as names: the calls an installed distribution makes into another one, judged against the
callee's installed release with the harvested signatures (matrix/facts/signatures/).

The failure that import checks cannot see: every import works, and the first Trainer step dies with
``TypeError: Accelerator.unwrap_model() got an unexpected keyword argument 'keep_torch_compile'``
(transformers 4.52.4 passes it; accelerate added it in 1.3.0). Emits, per caller and callee:

- call-keyword-missing: a call passes a keyword the callee's installed release does not accept (and some
  harvested release does: a keyword no harvested release knows is not judged).
- call-attribute-missing: a method or attribute used on an instance of a harvested class that the
  installed release does not define (where the facts list the class's members).
- call-override-keyword: a class that subclasses a harvested class of another distribution overrides a
  method the base class calls on ``self`` with a keyword (or more positional arguments) the override
  does not accept.

Only at the confidence the text gives: a site is a call whose receiver's class is known statically
(envdoctor.checks.symbols.callsites says how); error when it runs unconditionally in its function,
warning when under an ``if``, in an ``except`` handler or a nested function; a release outside the
harvested ones is not judged. The fix: the callee's releases nearest the installed one where every
call the caller makes into it works (facts), as a specifier. The planner judges its candidate releases
with the same sites (``judged``), so a move never lands on a release that an installed caller breaks.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from envdoctor.checks.symbols.alternatives import nearest_runs
from envdoctor.checks.symbols.callsites import (
    Override,
    SelfCall,
    Site,
    Targets,
    base_methods,
    file_calls,
    line_start,
    matches,
    self_calls,
    word_start,
)
from envdoctor.checks.symbols.keywords import ranges, taken
from envdoctor.inventory import Inventory
from envdoctor.knowledge.wheelfacts import Facts, containing
from envdoctor.report import Finding, Severity
from envdoctor.source.index import DistFiles, SourceIndex
from envdoctor.source.syntax import Unparsable, collector_paused, parse
from envdoctor.versions import Version, canonical, version_or_none

CHECK = "calls"
IDS = frozenset({"call-keyword-missing", "call-attribute-missing", "call-override-keyword"})


@dataclass(frozen=True)
class Calls:
    """What the installed files call: the sites and the overrides (read once, judged per inventory)."""

    sites: tuple[Site, ...] = ()
    overrides: tuple[Override, ...] = ()
    read: tuple[tuple[str, str], ...] = ()  # (distribution, release) whose files were read: callers and bases
    base_calls: tuple[SelfCall, ...] = ()  # the calls each harvested base class makes on self


def targets(facts: Facts, index: SourceIndex) -> list[Targets]:
    """The harvested vocabulary of every installed distribution the facts hold signatures of."""
    out = []
    for name in sorted(index.files):
        data = facts.signatures(name)
        if data is None:
            continue
        callables = {str(k): v for k, v in data.get("callables", {}).items() if isinstance(v, dict)}
        members = {str(k) for k in data.get("members", {})}
        top = next(iter({q.split(".")[0] for q in (*callables, *members)}), None)
        if top is None:
            continue
        modules: dict[str, set[str]] = {}
        classes: set[str] = set()
        keywords: dict[str, frozenset[str]] = {}
        every = _every(data)
        for qual, entry in callables.items():
            parts = qual.split(".")
            if len(parts) == 2 and not parts[1][:1].isupper():  # a function: only some keywords can fail
                if entry.get("var_keyword") == every:
                    continue  # **kwargs in every release (datasets.load_dataset): no call of it can fail
                keywords[parts[1]] = frozenset(
                    [*(k for k, r in entry.get("params", {}).items() if r != every), *entry.get("renamed", {})]
                )
            module = str(entry.get("path", "")).removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            modules.setdefault(parts[1], {top}).add(module)
            if len(parts) == 3 or parts[1][:1].isupper():
                classes.add(parts[1])
        for qual in members:
            modules.setdefault(qual.split(".")[1], {top})
            classes.add(qual.split(".")[1])
        frozen = {k: frozenset(v) for k, v in modules.items()}
        known = frozenset(q for q in callables if q.split(".")[1] in frozen)
        out.append(Targets(name, top, frozen, frozenset(classes), known, _volatile(data), keywords))
    return out


def _every(data: dict[str, Any]) -> list[list[str]]:
    """The range of every harvested release, as the facts write it."""
    versions = [str(v) for v in data.get("versions", [])]
    return [[versions[0], versions[-1]]] if versions else []


def _volatile(data: dict[str, Any]) -> frozenset[str]:
    """The method names with harvested signatures, and the members some harvested release does not define."""
    every = _every(data)
    names = {q.split(".")[-1] for q in data.get("callables", {}) if q.count(".") == 2}
    for entry in data.get("members", {}).values():
        names |= {n for n, spans in entry.get("names", {}).items() if spans != every}
    return frozenset(names)


def collect(index: SourceIndex, facts: Facts) -> Calls:
    """The sites and overrides of every installed distribution's files that import a harvested name of
    another one (the text pass says which; only those are parsed). Cached per distribution."""
    with collector_paused():  # the parsed trees are freed when _collect returns, before the collector resumes
        return _collect(index, facts)


def _collect(index: SourceIndex, facts: Facts) -> Calls:
    known = targets(facts, index)
    if not known:
        return Calls()
    stamp = hashlib.sha256(repr(sorted((t.callee, sorted(t.callables), sorted(t.classes)) for t in known)).encode())
    sites: list[Site] = []
    overrides: list[Override] = []
    trees: dict[str, ast.Module | None] = {}
    for files in index.files.values():
        wanted = _wanted(index, files, {t.top: t for t in known})
        if wanted:
            key = f"calls-{index._key(files)}-{stamp.hexdigest()[:12]}"
            found = _cached(index, key, functools.partial(_read, index, files.dist, wanted, trees))
            sites += found.sites
            overrides += found.overrides
    bases = _base_calls(index, facts, overrides, trees)
    dists = [
        index.files[n].dist
        for n in {*(s.caller for s in sites), *(o.caller for o in overrides), *(b.callee for b in bases)}
    ]
    return Calls(tuple(sites), tuple(overrides), tuple(sorted((d.name, d.raw_version or "") for d in dists)), bases)


def _wanted(index: SourceIndex, files: DistFiles, by_top: dict[str, Targets]) -> dict[str, dict[str, Targets]]:
    """The files of ``files`` that import a harvested name of another distribution: file -> name -> targets."""
    wanted: dict[str, dict[str, Targets]] = {}
    for rel, imp in index.imports_of(files, by_top):
        t = by_top.get(imp.module.split(".", maxsplit=1)[0])
        if t is None or t.callee == files.dist.name:
            continue
        named = [n for n in imp.names if imp.module in t.modules.get(n, ())] if imp.names else list(t.modules)
        if named:
            wanted.setdefault(rel, {}).update(dict.fromkeys(named, t))
    return wanted


def _cached(index: SourceIndex, key: str, read: Callable[[], Calls]) -> Calls:
    """What ``read`` finds, stored under ``key`` (an entry of another shape is read again and replaced)."""
    stored = index.cache.get(key, {"sites": list, "overrides": list})
    if stored is not None:
        try:
            return Calls(
                tuple(Site(**{**d, "keywords": tuple(d["keywords"])}) for d in stored["sites"]),
                tuple(Override(**{**d, "params": tuple(d["params"])}) for d in stored["overrides"]),
            )
        except (KeyError, TypeError):
            pass
    found = read()
    index.cache.put(key, {"sites": _stored(found.sites), "overrides": _stored(found.overrides)})
    return found


def _base_calls(
    index: SourceIndex, facts: Facts, overrides: Sequence[Override], trees: dict[str, ast.Module | None]
) -> tuple[SelfCall, ...]:
    """The calls on ``self`` each overridden base class makes, read from its installed file (the harvested
    path of the class; cached per distribution). Read only for a base with a narrow override (one that lacks
    a parameter of the method it overrides, or takes fewer positional ones): another cannot refuse a call."""
    out: list[SelfCall] = []
    for callee, base in sorted({(o.callee, o.base) for o in overrides}):
        data = facts.signatures(callee) or {}
        path = next((str(e.get("path")) for q, e in data.get("callables", {}).items() if q.startswith(base + ".")), "")
        files = index.files.get(callee)
        if files is None or not path:
            continue
        full = os.path.join(files.dist.location, path)
        key = f"calls-base-{index._key(files)}-{base}"
        stored = index.cache.get(key, {"methods": dict})
        if stored is None:
            tree = _tree(index, files.dist, full, trees)
            stored = {"methods": base_methods(tree, base) if tree is not None else {}}
            index.cache.put(key, stored)
        mine = [o for o in overrides if (o.callee, o.base) == (callee, base)]
        narrow = {o.method for o in mine if _narrow(o, stored["methods"].get(o.method))}
        tree = _tree(index, files.dist, full, trees) if narrow else None
        source = index.source(files.dist, full) if tree is not None else None
        out += self_calls(tree, source, callee, base, path=path, wanted=narrow) if tree is not None and source else []
    return tuple(out)


def _narrow(o: Override, base: Any) -> bool:
    """Whether the override accepts less than the base method (``[params, positional]``) it replaces."""
    if not isinstance(base, list) or len(base) != 2:
        return True  # not known: read the base's calls
    params, positional = base
    lacks = not o.var_keyword and any(p not in o.params for p in params)
    return lacks or (not o.var_positional and o.positional < positional)


def _tree(index: SourceIndex, dist: Any, path: str, trees: dict[str, ast.Module | None]) -> ast.Module | None:
    """``path`` parsed once per run (transformers' trainer.py is read as a caller and as a base)."""
    if path not in trees:
        data = index.source(dist, path)
        try:
            trees[path] = parse(data) if data is not None else None
        except (SyntaxError, ValueError, Unparsable):
            trees[path] = None
    return trees[path]


def _stored(items: Iterable[Site | Override | SelfCall]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(i) for i in items]


def _worth_parsing(data: bytes, named: dict[str, Targets]) -> bool:
    """Whether the text calls a harvested class (``Accelerator(``), declares a class on one (``class
    T(Trainer)``), or calls a harvested function with a keyword some release does not accept."""
    classes = [n for n, t in named.items() if n in t.classes]
    words = b"|".join(re.escape(n.encode()) for n in sorted(classes))
    if classes and (
        _found_at(rb"(?:%s)\s*\(" % words, data, word_start)
        or _found_at(rb"class\s+\w+\s*\([^)]*\b(?:%s)\b" % words, data, line_start)
    ):
        return True
    for name, t in named.items():
        kws = sorted(k.encode() for k in t.keywords.get(name, ()))
        called = kws and _found_at(rb"%s\s*\(" % re.escape(name.encode()), data, word_start)
        if called and any(_found_at(rb"%s\s*=(?!=)" % re.escape(k), data, word_start) for k in kws if k in data):
            return True
    return False


def _found_at(pattern: bytes, data: bytes, start: Callable[[bytes, int], bool]) -> bool:
    """Whether ``pattern`` matches at a start ``start`` accepts (``\\bP``, multiline ``^\\s*P``), searched fast."""
    return next(matches(pattern, data, start), None) is not None


def _read(
    index: SourceIndex, dist: Any, wanted: dict[str, dict[str, Targets]], trees: dict[str, ast.Module | None]
) -> Calls:
    """The sites and overrides of the files in ``wanted``; a file is parsed only when its text calls one of
    the harvested names it imports (``Accelerator(``) or declares a class on one (``class T(Trainer)``)."""
    sites: list[Site] = []
    overrides: list[Override] = []
    for rel, named in sorted(wanted.items()):
        full = os.path.join(dist.location, rel)
        data = index.source(dist, full)
        if data is None or not _worth_parsing(data, named):
            continue
        tree = _tree(index, dist, full, trees)
        if tree is None:
            continue
        found = file_calls(tree, data, list({t.callee: t for t in named.values()}.values()), dist.name, rel)
        sites += found[0]
        overrides += found[1]
    return Calls(tuple(sites), tuple(overrides))


# -------------------------------------------------------------------------------------------- judging


def keyword_missing(facts: Facts, site: Site, version: Version) -> list[str] | None:
    """The keywords of ``site`` the callee's release ``version`` does not accept; None when not judged (not
    harvested, a release outside the harvested ones)."""
    found = facts.signature(site.callee, site.target)
    if found is None or not _inside(found[0], version):
        return None
    return [kw for kw in site.keywords if taken(found[1], kw, version).refused]


def member_missing(facts: Facts, site: Site, version: Version) -> bool | None:
    """Whether the class's release ``version`` lacks the member ``site`` uses (one some harvested release
    defines); None when not judged."""
    found = facts.members(site.callee, site.target)
    if found is None or not site.member or not _inside(found[0], version):
        return None
    entry = found[1]
    if containing(ranges(entry.get("open")), version):
        return None
    names: dict[str, Any] = entry.get("names", {})
    if site.member not in names:
        return None
    return containing(ranges(names[site.member]), version) is None


def _works(facts: Facts, site: Site, version: Version) -> bool | None:
    """Whether ``site`` works with the callee's release ``version``: True, False, or None (not known; a member
    of a release whose members are open is known only when the facts list it)."""
    if site.member:
        found = facts.members(site.callee, site.target)
        if found is None or not _inside(found[0], version) or site.member not in found[1].get("names", {}):
            return None
        if containing(ranges(found[1]["names"][site.member]), version):
            return True
        return None if containing(ranges(found[1].get("open")), version) else False
    kws = keyword_missing(facts, site, version)
    return None if kws is None else not kws


def _fits(facts: Facts, site: Site, version: Version) -> bool:
    """Whether a release may be offered as the fix for ``site``: a member it is known to define, a call that
    is not known to fail."""
    works = _works(facts, site, version)
    return works is True if site.member else works is not False


def _inside(versions: list[str], version: Version) -> bool:
    bounds = _bounds(tuple(versions))
    return bounds is not None and bounds[0] <= version <= bounds[1]


@functools.lru_cache(maxsize=64)
def _bounds(versions: tuple[str, ...]) -> tuple[Version, Version] | None:
    known = [v for v in (version_or_none(x) for x in versions) if v is not None]
    return (known[0], known[-1]) if known else None


# -------------------------------------------------------------------------------------------- findings


def judged(calls: Calls, inv: Inventory, facts: Facts) -> list[Finding]:
    """The findings of ``calls`` (read from the installed files) in ``inv``: the installed environment, or the
    planner's future one. A site whose caller (an override whose class or base) is not the release that was
    read is not judged: its code is not known."""
    stale = {n for n, raw in calls.read if (d := inv.get(n)) is None or d.planned or d.raw_version != raw}
    groups: dict[tuple[str, str, str], list[tuple[Site, tuple[str, ...]]]] = {}
    for site in calls.sites:
        callee = inv.get(site.callee)
        if site.caller in stale or callee is None or callee.version is None:
            continue
        if site.member:
            if member_missing(facts, site, callee.version):
                groups.setdefault(("call-attribute-missing", site.caller, site.callee), []).append((site, ()))
        elif kws := keyword_missing(facts, site, callee.version):
            groups.setdefault(("call-keyword-missing", site.caller, site.callee), []).append((site, tuple(kws)))
    out = [_finding(rid, hits, calls, inv, facts) for (rid, _, _), hits in groups.items()]
    return out + _override_findings(calls, inv, stale)


def _finding(rid: str, hits: list[tuple[Site, tuple[str, ...]]], calls: Calls, inv: Inventory, facts: Facts) -> Finding:
    first = hits[0][0]
    caller, callee = inv.get(first.caller), inv.get(first.callee)
    assert caller is not None and callee is not None and callee.version is not None
    shown = list(dict.fromkeys(_shown(s, kws) for s, kws in hits))
    what = " and ".join(shown[:3]) + (f" (and {len(shown) - 3} more)" if len(shown) > 3 else "")
    label = f"{callee.display_name} {callee.raw_version}"
    verb = "does not accept" if rid == "call-keyword-missing" else "does not define"
    title = f"{caller.display_name} {caller.raw_version} calls {what}, which {label} {verb}"
    severity = Severity.WARNING if all(s.conditional for s, _ in hits) else Severity.ERROR
    site, kws = next(((s, k) for s, k in hits if not s.conditional), hits[0])
    error = (
        f"TypeError: {_called(site.target)}() got an unexpected keyword argument '{kws[0]}'"
        if kws
        else f"AttributeError: '{site.target.rpartition('.')[2]}' object has no attribute '{site.member}'"
    )
    when = "runs only in some cases" if site.conditional else "runs"
    detail = (
        f"{error}, when {first.caller}/{site.path.split('/', 1)[-1]}:{site.line} ({site.function}) {when}. Every "
        f"import works and pip check is clean: it fails at the call, as in the first training step."
    )
    mine = list(
        {
            (s.target, s.keywords, s.member): s
            for s in calls.sites
            if (s.caller, s.callee) == (first.caller, first.callee)
        }.values()
    )
    versions = facts.versions(callee.name) or _harvested(facts, first)
    good = {v for v in versions if (ver := version_or_none(v)) is not None and all(_fits(facts, s, ver) for s in mine)}
    down, up = nearest_runs(versions, good, callee.version)
    runs = [r for r in (up, down) if r is not None]
    fix = tuple(r.spec(callee.name, upward=r is up) for r in runs)
    spans = " and ".join(r.span() for r in runs)
    if runs:
        detail += (
            f" Every call {caller.display_name} {caller.raw_version} makes into {callee.name} works in its "
            f"releases {spans} (matrix/facts/signatures)."
        )
    evidence = [
        f"{os.path.join(caller.location, s.path)}:{s.line}: {s.function}: {_shown(s, k)}"
        + (f" ({s.receiver})" if s.receiver else "")
        for s, k in hits[:5]
    ]
    evidence.append(f"matrix/facts/signatures/{canonical(callee.name)}.json: {first.target}")
    return Finding(
        id=rid,
        severity=severity,
        title=title,
        detail=detail,
        packages=(first.caller, first.callee),
        evidence=tuple(evidence),
        fix=fix,
        check=CHECK,
    )


def _harvested(facts: Facts, site: Site) -> list[str]:
    found = facts.signature(site.callee, site.target) or facts.members(site.callee, site.target)
    return found[0] if found else []


def _called(target: str) -> str:
    """How Python names the callable in its TypeError: ``Accelerator.__init__``, ``Accelerator.unwrap_model``."""
    parts = target.split(".")[1:]
    return ".".join(parts) if len(parts) > 1 or not parts[0][:1].isupper() else f"{parts[0]}.__init__"


def _shown(site: Site, kws: Iterable[str]) -> str:
    if site.member:
        return f"{site.target.rpartition('.')[2]}.{site.member}"
    name = ".".join(p for p in site.target.split(".")[1:] if p != "__init__")
    return f"{name}({', '.join(f'{k}=...' for k in kws)})"


@dataclass(frozen=True)
class Refusal:
    """An override that refuses how the base class calls it: the failing calls, and whether it is sure to
    fail in training (an error) or only on a path the subclass may not take (a note)."""

    override: Override
    calls: tuple[tuple[SelfCall, str], ...]  # each base call and why the override refuses it
    sure: bool


def refusals(overrides: Sequence[Override], base_calls: Sequence[SelfCall]) -> list[Refusal]:
    """The overrides among ``overrides`` (one subclass's methods at a time) that refuse a call ``base_calls``
    makes on ``self``."""
    out: list[Refusal] = []
    by_class: dict[tuple[str, str, str], list[Override]] = {}
    for o in overrides:
        by_class.setdefault((o.caller, o.path, o.cls), []).append(o)
    for group in by_class.values():
        own = {o.method for o in group}
        cut = {o.method for o in group if not o.calls_super}
        for o in group:
            mine = [c for c in base_calls if c.callee == o.callee and c.base == o.base]
            bad = tuple(
                (c, problem)
                for c in mine
                if c.called and c.method == o.method and c.caller_method not in own
                if (problem := _refused(o, c))
            )
            if bad:
                out.append(Refusal(o, bad, _sure(o, bad, _reached_from_train(mine, cut))))
    return out


def _override_findings(calls: Calls, inv: Inventory, stale: set[str]) -> list[Finding]:
    """One finding per subclassing distribution and base distribution: an error for the refusals sure to fail
    in training, a note for the others."""
    current = [o for o in calls.overrides if o.caller not in stale and o.callee not in stale]
    groups: dict[tuple[str, str, bool], list[Refusal]] = {}
    for r in refusals(current, calls.base_calls):
        groups.setdefault((r.override.caller, r.override.callee, r.sure), []).append(r)
    return [_override_finding(rs, inv) for rs in groups.values()]


def _reached_from_train(calls: Sequence[SelfCall], cut: set[str]) -> set[str] | None:
    """The base class's methods that ``train`` reaches through its references to ``self``, not through
    a method the subclass replaces (``cut``); None when the base has no ``train`` (every method counts)."""
    edges: dict[str, set[str]] = {}
    for c in calls:
        edges.setdefault(c.caller_method, set()).add(c.method)
    if "train" not in edges:
        return None
    seen: set[str] = set()
    todo = ["train"]
    while todo:
        m = todo.pop()
        if m in seen or m in cut:
            continue
        seen.add(m)
        todo.extend(edges.get(m, ()))
    return seen


def _refused(o: Override, c: SelfCall) -> str:
    """Why the override refuses the base's call: "" when it accepts it."""
    kws = [k for k in c.keywords if k not in o.params and not o.var_keyword]
    if kws:
        return f"got an unexpected keyword argument '{kws[0]}'"
    if c.positional > o.positional and not o.var_positional:
        return f"takes {o.positional + 1} positional arguments but {c.positional + 1} were given"
    return ""


def _override_finding(refused: list[Refusal], inv: Inventory) -> Finding:
    first = refused[0].override
    caller, base = inv.get(first.caller), inv.get(first.callee)
    assert caller is not None and base is not None
    base_name = first.base.rpartition(".")[2]
    listed = [f"{r.override.cls}.{r.override.method} ({_passes(r.calls[0])})" for r in refused]
    title = (
        f"{caller.display_name} {caller.raw_version} overrides {base.display_name} {base.raw_version}'s "
        f"{base_name} methods that {base_name} calls with arguments the overrides refuse: {', '.join(listed[:3])}"
        + (f" and {len(listed) - 3} more" if len(listed) > 3 else "")
    )
    r = refused[0]
    c, problem = next(((c, p) for c, p in r.calls if not c.conditional), r.calls[0])
    o = r.override
    detail = (
        f"TypeError: {o.cls}.{o.method}() {problem}, when {base_name}.{c.caller_method} calls self.{o.method}(...)"
        f" ({base.display_name} {base.raw_version}); the override in {caller.display_name} ({o.path}:{o.line}) "
        f"does not accept it. Every import works: it fails when {base_name}.{c.caller_method} runs"
        + (", in the first training step." if refused[0].sure else "; the subclass may never take that path.")
        + (f" All of them: {', '.join(listed)}." if len(listed) > 1 else "")
    )
    evidence = [
        f"{os.path.join(caller.location, r.override.path)}:{r.override.line}: "
        f"def {r.override.method}({', '.join(('self', *r.override.params))})"
        for r in refused[:4]
    ]
    evidence += [
        f"{os.path.join(base.location, c.path)}:{c.line}: {base_name}.{c.caller_method}" for c, _ in r.calls[:2]
    ]
    return Finding(
        id="call-override-keyword",
        severity=Severity.ERROR if refused[0].sure else Severity.INFO,
        title=title,
        detail=detail,
        packages=(first.caller, first.callee),
        evidence=tuple(evidence),
        advice=(
            f"a release of {caller.display_name} whose overrides accept what {base_name} passes, or a release of "
            f"{base.display_name} that does not pass it (not checked: the facts hold no such calls)",
        ),
        check=CHECK,
    )


def _passes(call: tuple[SelfCall, str]) -> str:
    c, problem = call
    kws = [k for k in c.keywords if f"'{k}'" in problem]
    return f"{kws[0]}=" if kws else f"{c.positional} positional arguments"


def _sure(o: Override, bad: tuple[tuple[SelfCall, str], ...], trained: set[str] | None) -> bool:
    """An error only when the failing call runs unconditionally in a base method that ``train`` reaches, and
    the subclass does not call its override itself (then the name serves its own purpose)."""
    return not o.self_called and any(
        not c.conditional and (trained is None or c.caller_method in trained) for c, _ in bad
    )


def check_calls(index: SourceIndex, facts: Facts) -> list[Finding]:
    """The calls check over the installed environment ``index`` reads."""
    return judged(collect(index, facts), index.inv, facts)
