"""Naming the ranks of a distributed check in words: ``ranks 0-3 (node-a)``, ``all 8 ranks``. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def spans(ranks: Iterable[int]) -> str:
    """``0-3,5,7-8``: sorted ranks, consecutive runs joined."""
    ordered = sorted(set(ranks))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def label(ranks: Iterable[int], nodes: Mapping[int, str], world_size: int | None = None) -> str:
    """``ranks 0-1 (node-a), rank 2 (node-b)``; ``all 4 ranks`` when every rank of ``world_size`` is named.
    ``nodes``: each rank's host name (a rank without one is named without a node)."""
    ranks = sorted(set(ranks))
    if world_size is not None and world_size > 1 and ranks == list(range(world_size)):
        return f"all {world_size} ranks"
    by_node: dict[str, list[int]] = {}
    for r in ranks:
        by_node.setdefault(nodes.get(r, ""), []).append(r)
    out = []
    for node, mine in by_node.items():
        word = "rank" if len(mine) == 1 else "ranks"
        out.append(f"{word} {spans(mine)}" + (f" ({node})" if node else ""))
    return ", ".join(out)


def of_report(distributed: Mapping[str, Any] | None) -> tuple[dict[int, str], int | None]:
    """(rank -> node, world size) from a report's ``distributed`` object."""
    if not distributed:
        return {}, None
    rows = distributed.get("ranks") or []
    nodes = {int(r["rank"]): str(r.get("node", "")) for r in rows if isinstance(r, Mapping)}
    size = distributed.get("world_size")
    return nodes, int(size) if isinstance(size, int) else None


def where(ranks: Iterable[int], distributed: Mapping[str, Any] | None) -> str:
    """The words for a finding's ranks in a report (``""`` outside a distributed check)."""
    ranks = tuple(ranks)
    if not ranks:
        return ""
    nodes, size = of_report(distributed)
    return label(ranks, nodes, size)


def launch_lines(distributed: Mapping[str, Any]) -> list[str]:
    """The text views' lines about the launch: its size, the collectives, then each node's ranks with what
    they run (ranks with the same Python, torch build and GPU model on one node share a line)."""
    rows = [r for r in distributed.get("ranks") or () if isinstance(r, Mapping)]
    size = distributed.get("world_size")
    if not distributed.get("complete"):
        mine = ", ".join(f"rank {r.get('rank')}" for r in rows)
        return [f"Distributed: {mine} of {size} could not gather the other ranks' reports: this is its own report only"]
    nodes = len({r.get("node") for r in rows})
    gloo = distributed.get("gloo") or {}
    said = (
        f"gloo all_gather ok ({float(gloo.get('seconds') or 0.0):.3f} s)"
        if gloo.get("ok")
        else "gloo all_gather FAILED"
    )
    nccl = distributed.get("nccl") or {}
    if not nccl.get("ran"):
        said += f"; NCCL not run: {nccl.get('why')}"
    else:
        said += "; NCCL all_gather ok" if nccl.get("ok") else "; NCCL all_gather FAILED"
    launcher = f", {distributed.get('launcher')}" if distributed.get("launcher") else ""
    out = [f"Distributed: {size} ranks on {nodes} node{'s' if nodes != 1 else ''}{launcher}; {said}"]
    same: dict[tuple[Any, ...], list[int]] = {}
    for r in rows:
        same.setdefault((r.get("node"), r.get("python"), r.get("torch"), r.get("gpu")), []).append(int(r["rank"]))
    for (node, python, torch, gpu), ranks in same.items():
        word = "rank" if len(ranks) == 1 else "ranks"
        out.append(f"  {node}: {word} {spans(ranks)}: Python {python}, {torch}, {gpu}")
    return out
