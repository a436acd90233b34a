"""The pin set a plan leads to, written so that pip accepts it: which distributions the file names, and how
each line is written.

Which distributions: by default the watched stack (the packages envdoctor has facts or rules for, torch
and its companions) that is installed, plus everything they require, transitively, as installed; when
nothing watched is installed, the distributions nothing else requires and their closure (so the file is
always the whole set the user has, never only the moved lines); ``everything=True`` names every installed
distribution (like ``pip freeze``, without pip/setuptools/wheel
unless the stack needs them). Each moved distribution is written at its planned release with a comment
saying why.

How a line is written, so that pip can really install it:
- ``name==version`` for a release from an index.
- A PyTorch build with a local tag (``torch==2.13.0+cpu``, ``+cu124``, ``+rocm6.2``) exists only on the
  PyTorch index: the file gets the ``--extra-index-url`` line it needs, unless the user's pip
  configuration already provides that build (a find-links folder holding the wheel, or that index), which a
  comment then says.
- A distribution installed from a VCS or an http(s) archive: ``name @ url`` (VCS at the recorded commit).
- A local path, an editable install, or any other local build: a comment saying why the line is left out;
  such a line would make pip fail on any other machine.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from envdoctor.fix.pipconfig import PipConfig
from envdoctor.fix.planner import Move, Plan
from envdoctor.inventory import Dist, Inventory
from envdoctor.knowledge.torchbuild import PYTORCH_INDEX, TORCH_COMPANIONS, TORCH_FAMILY, pytorch_tag
from envdoctor.redact import redact
from envdoctor.versions import NormalizedName, canonical

_FREEZE_SKIPS = frozenset(canonical(n) for n in ("pip", "setuptools", "wheel", "distribute", "envdoctor"))


@dataclass(frozen=True)
class PinLine:
    name: NormalizedName
    text: str | None  # None: left out (the comment says why)
    comment: str = ""
    moved: bool = False


@dataclass(frozen=True)
class PinSet:
    lines: tuple[PinLine, ...]
    options: tuple[str, ...] = ()  # index lines the file needs, e.g. --extra-index-url
    scope: str = ""  # which distributions the file names, and why (said on stderr)

    def requirements(self) -> list[str]:
        """The pip-installable lines (no comments), e.g. for a dry run."""
        return [line.text for line in self.lines if line.text is not None]


def stack(inv: Inventory, watched: Collection[str], *, everything: bool = False) -> list[Dist]:
    """The installed distributions a pin file names, in name order (see the module's docstring)."""
    return scope(inv, watched, everything=everything)[0]


def scope(inv: Inventory, watched: Collection[str], *, everything: bool = False) -> tuple[list[Dist], str]:
    """The distributions a pin file names, and one line saying which and why. The watched stack and what it
    requires; when nothing watched is installed, the distributions nothing else requires and what they
    require (every installed one but pip's own tools: the file is the whole set, never only the moves)."""
    names = {canonical(w) for w in watched} | TORCH_FAMILY | TORCH_COMPANIONS
    roots = sorted(n for n in names if n in inv.winners)
    if everything:
        roots = sorted({*roots, *(n for n in inv.winners if n not in _FREEZE_SKIPS)})
        dists = closure(inv, roots)
        return dists, f"the file pins every installed distribution ({len(dists)}, --all)"
    if roots:
        dists = closure(inv, roots)
        return dists, (
            f"the file pins the watched stack ({', '.join(roots)}) and what it requires: {len(dists)} distributions"
        )
    roots = _tops(inv)
    dists = closure(inv, roots)
    if not dists:
        return [], "the file pins nothing: no distribution is installed (besides pip's own tools)"
    one = len(roots) == 1
    return dists, (
        f"none of the packages envdoctor watches is installed: the file pins the {len(roots)} "
        f"distribution{'' if one else 's'} nothing else requires ({', '.join(roots)}) and what "
        f"{'it requires' if one else 'they require'}: {len(dists)} distributions"
    )


def closure(inv: Inventory, roots: Iterable[str]) -> list[Dist]:
    """``roots`` and everything they require, transitively, as installed (markers of the target)."""
    env = inv.marker_env
    todo: list[str] = list(roots)
    chosen: set[NormalizedName] = set()
    while todo:
        name = canonical(todo.pop())
        dist = inv.winners.get(name)
        if dist is None or name in chosen:
            continue
        chosen.add(name)
        todo.extend(r.name for r in dist.requires if env.holds(r.marker))
    return sorted((inv.winners[n] for n in chosen), key=lambda d: d.name)


def _tops(inv: Inventory) -> list[NormalizedName]:
    """The installed distributions no other one requires (pip's own tools aside); a ring of distributions
    that only require each other contributes its first member, so every distribution is reached."""
    env = inv.marker_env
    names = sorted(n for n in inv.winners if n not in _FREEZE_SKIPS)
    required = {
        canonical(r.name)
        for n in names
        for r in inv.winners[n].requires
        if env.holds(r.marker) and canonical(r.name) != n
    }
    tops = [n for n in names if n not in required]
    reached = {d.name for d in closure(inv, tops)}
    for name in names:
        if name not in reached:
            tops.append(name)
            reached |= {d.name for d in closure(inv, [name])}
    return sorted(tops)


def pin_set(
    inv: Inventory,
    plan: Plan,
    watched: Collection[str],
    *,
    pip: PipConfig,
    changes_only: bool = False,
    everything: bool = False,
) -> PinSet:
    moves = {m.name: m for m in plan.moves}
    lines: list[PinLine] = []
    options: list[str] = []
    dists, said = (
        ([], "the file pins only the moved packages (--changes-only)")
        if changes_only
        else scope(inv, watched, everything=everything)
    )
    present = {d.name for d in dists}
    for dist in dists:
        move = moves.get(dist.name)
        line, option = _moved(move, pip) if move is not None else _installed(dist, pip)
        lines.append(line)
        if option and option not in options:
            options.append(option)
    for name, move in sorted(moves.items()):
        if name not in present:
            line, option = _moved(move, pip)
            lines.append(line)
            if option and option not in options:
                options.append(option)
    return PinSet(tuple(lines), tuple(options), said)


def _moved(move: Move, pip: PipConfig) -> tuple[PinLine, str | None]:
    why = ", ".join(dict.fromkeys(r.split(":", 1)[0] for r in move.reasons)) or "planned"
    before = move.before or "not installed"
    picks = "" if move.after is not None else ", pip picks the release"
    # A moved torch-family package stays on the installed build's index: from PyPI alone, a range (or a
    # release without its tag) is PyPI's build, on Linux the CUDA one.
    tag = (pytorch_tag(move.after) or pytorch_tag(move.before)) if move.name in TORCH_FAMILY else None
    option = None
    if tag is not None:
        picks += f"; the PyTorch {tag} build, from {PYTORCH_INDEX}{tag}"
        option = None if _configured(pip, PYTORCH_INDEX + tag) else f"--extra-index-url {PYTORCH_INDEX}{tag}"
    return PinLine(move.name, move.line, f"was {before}; fixes {why}{picks}", moved=True), option


def _configured(pip: PipConfig, index: str) -> bool:
    return any(u.rstrip("/") == index for u in (pip.index_url or "", *pip.extra_index_urls))


def _installed(dist: Dist, pip: PipConfig) -> tuple[PinLine, str | None]:
    version = dist.raw_version or ""
    direct = dist.direct_url or {}
    url = str(direct.get("url", "")) if isinstance(direct, dict) else ""
    if url:
        return _direct(dist, direct, url), None
    if not version:
        return PinLine(dist.name, None, f"{dist.display_name}: no version in its metadata; left out"), None
    if "+" not in version:
        return PinLine(dist.name, f"{dist.display_name}=={version}"), None
    tag = version.split("+", 1)[1]
    if dist.name in TORCH_FAMILY and pytorch_tag(version) is not None:
        text = f"{dist.display_name}=={version}"
        wheel = f"{dist.name.replace('-', '_')}-{version}-"
        local = pip.local_wheel(wheel)
        index = PYTORCH_INDEX + tag
        if local is not None:
            return PinLine(
                dist.name,
                text,
                f"a PyTorch {tag} build: your pip finds it in {local}; elsewhere add --extra-index-url {index}",
            ), None
        if _configured(pip, index):
            return PinLine(dist.name, text, f"a PyTorch {tag} build, from your configured index {index}"), None
        return PinLine(dist.name, text, f"a PyTorch {tag} build, only on {index}"), f"--extra-index-url {index}"
    return (
        PinLine(
            dist.name,
            None,
            f"{dist.display_name}=={version}: a local build (+{tag}) that no index serves; left out, install it "
            "the way it was built",
        ),
        None,
    )


def _direct(dist: Dist, direct: Mapping[str, Any], url: str) -> PinLine:
    shown = redact(url)
    dir_info = direct.get("dir_info")
    if isinstance(dir_info, dict) or url.startswith("file:"):
        how = "an editable install of" if isinstance(dir_info, dict) and dir_info.get("editable") else "installed from"
        return PinLine(
            dist.name,
            None,
            f"{dist.display_name} {dist.raw_version}: {how} {shown}; left out: a local path is not there on "
            "another machine",
        )
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs"):
        commit = str(vcs.get("commit_id", ""))
        target = f"{vcs['vcs']}+{url}" + (f"@{commit}" if commit else "")
        return PinLine(
            dist.name, f"{dist.display_name} @ {redact(target)}", "from version control, at the installed commit"
        )
    return PinLine(dist.name, f"{dist.display_name} @ {shown}", "installed from this URL")
