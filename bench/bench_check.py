"""Wall-clock benchmark: `envdoctor check` against `pip check` and `uv pip check`, as whole processes.

Usage (from the repository root, with the dev venv):

    .venv/bin/python bench/bench_check.py [--rounds N] [--sizes 100,1000,5000] [--json out.json]

Times each command with time.perf_counter() around subprocess.run(), output to /dev/null, on the real
"hf-stack" test bed and on fabricated, consistent environments of the given sizes. The tools alternate
round by round (the order rotates each round), after one untimed warm-up run per tool that also checks
the tool's exit status and how many distributions it saw; one more untimed run per tool reports its peak
RSS (GNU time's %M, when /usr/bin/time exists). envdoctor's cache lives in the work dir and
starts empty, so the timed envdoctor runs are repeat runs (warm cache); --no-cache-too adds cold ones.
Asserts nothing about speed. See README.md.
"""

from __future__ import annotations

import argparse
import compileall
import functools
import itertools
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENVDOCTOR, ENVDOCTOR_NO_CACHE = "envdoctor", "envdoctor-no-cache"
PEERS = ("pip-check", "uv-pip-check")
GENERATOR = "1"  # bump when the fabricated environments change: cached ones (--workdir) are rebuilt
RUN_TIMEOUT = 900.0
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------------------
# the commands


def command(tool: str, python: Path) -> list[str]:
    py = str(python)
    if tool == ENVDOCTOR:
        return [str(BIN / "envdoctor"), "check", "--python", py, "--format", "json"]
    if tool == ENVDOCTOR_NO_CACHE:
        return [*command(ENVDOCTOR, python), "--no-cache"]
    if tool == "pip-check":
        return [sys.executable, "-m", "pip", "--python", py, "check"]
    if tool == "uv-pip-check":
        return [str(BIN / "uv"), "pip", "check", "--python", py]
    raise ValueError(tool)


def is_envdoctor(tool: str) -> bool:
    return tool.startswith(ENVDOCTOR)


@dataclass(frozen=True)
class Plan:
    tools: tuple[str, ...]
    rounds: int
    env: dict[str, str]  # the environment every command runs with (envdoctor's cache dir pinned)


def timed_run(argv: Sequence[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and exit status of one whole process, its output discarded.

    No timeout on purpose: with one, Popen.wait() polls with sleeps that back off to 50 ms, so the
    measured time would be rounded up to the next poll (0.5, 1.5, 3.5 ... 63.5, 113.5, 163.5 ms ...).
    Without one it blocks in waitpid() and returns the moment the process exits.
    """
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - start, proc.returncode


TIME = Path("/usr/bin/time")


def peak_rss(argv: Sequence[str], env: dict[str, str]) -> int | None:
    """The peak RSS (KiB) of one untimed run, as GNU time reports it (``%M``: the largest resident set of the
    process and of the children it waited for, envdoctor's inventory probe included); None without GNU time.
    Not read from this process's own wait4(): a child forked from the bench starts with the bench's RSS."""
    if not TIME.exists():
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
        timed = [str(TIME), "-f", "%M", "-o", out.name, *argv]
        subprocess.run(timed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
        try:
            return int(out.read().strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None


def seen_count(tool: str, stdout: str, stderr: str) -> int | None:
    """How many distributions the tool says it checked (pip check does not say)."""
    if is_envdoctor(tool):
        try:
            return int(json.loads(stdout)["summary"]["distributions"])
        except (ValueError, KeyError, TypeError):
            return None
    if tool == "uv-pip-check":
        m = re.search(r"Checked (\d+) packages?", stderr)
        return int(m.group(1)) if m else None
    return None


def finding_ids(stdout: str) -> list[str]:
    """``id (severity)`` of each finding in envdoctor's JSON report."""
    try:
        return [f"{f['id']} ({f['severity']})" for f in json.loads(stdout)["findings"]]
    except (ValueError, KeyError, TypeError):
        return []


@dataclass
class WarmUp:
    problems: list[str] = field(default_factory=list)  # what makes the numbers meaningless
    notes: list[str] = field(default_factory=list)  # worth knowing, harmless


def warm_up(tool: str, python: Path, expected: int, env: dict[str, str], *, clean: bool) -> WarmUp:
    """One untimed run with output captured, judged. ``clean``: the environment is clean by construction."""
    argv = command(tool, python)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=RUN_TIMEOUT)
    out = WarmUp()
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-6:]
        out.problems.append(f"{tool} exited {proc.returncode} in the warm-up: " + " | ".join(tail))
    seen = seen_count(tool, proc.stdout, proc.stderr)
    if tool != "pip-check" and seen != expected:
        out.problems.append(f"{tool} saw {seen} distributions, expected {expected}")
    found = finding_ids(proc.stdout) if is_envdoctor(tool) else []
    if found:
        text = f"{tool} reported {len(found)} findings: {', '.join(sorted(set(found)))}"
        (out.problems if clean else out.notes).append(text)
    return out


# ---------------------------------------------------------------------------------------------------------
# results


@dataclass
class ToolTimes:
    times: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    peak_rss: int | None = None  # KiB, of one more run measured apart (whole-process runs only)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    def as_json(self) -> dict[str, Any]:
        return {
            "median_s": self.median,
            "min_s": self.min,
            "times_s": self.times,
            "exit_codes": self.exit_codes,
            "peak_rss_kib": self.peak_rss,
        }


@dataclass
class EnvResult:
    name: str
    python: Path
    dists: int
    fabricated: bool
    tools: dict[str, ToolTimes]
    problems: list[str]
    notes: list[str]

    def ratio(self, ours: str, other: str, stat: str = "median") -> float:
        return float(getattr(self.tools[ours], stat) / getattr(self.tools[other], stat))

    def ratios(self, ours: str, other: str) -> dict[str, float]:
        return {"median": self.ratio(ours, other), "min": self.ratio(ours, other, "min")}

    def pairs(self) -> list[tuple[str, str]]:
        """(envdoctor variant, peer) pairs to compare."""
        return [(e, p) for e in self.tools if is_envdoctor(e) for p in self.tools if not is_envdoctor(p)]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "python": str(self.python),
            "distributions": self.dists,
            "fabricated": self.fabricated,
            "tools": {tool: t.as_json() for tool, t in self.tools.items()},
            "ratios": {f"{e}/{p}": self.ratios(e, p) for e, p in self.pairs()},
            "problems": self.problems,
            "notes": self.notes,
        }


def rotated(items: Sequence[str], by: int) -> list[str]:
    k = by % len(items)
    return [*items[k:], *items[:k]]


def bench_env(name: str, python: Path, dists: int, plan: Plan, *, fabricated: bool) -> EnvResult:
    warm = [warm_up(tool, python, dists, plan.env, clean=fabricated) for tool in plan.tools]
    problems = [p for w in warm for p in w.problems]
    tools = {tool: ToolTimes() for tool in plan.tools}
    for r in range(plan.rounds):
        for tool in rotated(plan.tools, r):
            seconds, code = timed_run(command(tool, python), plan.env)
            tools[tool].times.append(seconds)
            tools[tool].exit_codes.append(code)
    for tool in plan.tools:
        tools[tool].peak_rss = peak_rss(command(tool, python), plan.env)
    for tool, t in tools.items():
        failed = [c for c in t.exit_codes if c != 0]
        if failed:
            problems.append(f"{tool} exited {sorted(set(failed))} in {len(failed)} of {plan.rounds} rounds")
    return EnvResult(name, python, dists, fabricated, tools, problems, [n for w in warm for n in w.notes])


# ---------------------------------------------------------------------------------------------------------
# assert_compatible() in the target's own process

_IN_PROCESS = """
import sys, time
sys.path.append({root!r})  # envdoctor from this checkout, after the target's own site-packages
if sys.argv[1] == "preloaded":  # what a training script has loaded long before (torch imports all of these)
    import dataclasses, enum, json, pathlib, re, typing
start = time.perf_counter()
import envdoctor
envdoctor.assert_compatible()
first = time.perf_counter()
envdoctor.assert_compatible()
second = time.perf_counter()
import transformers  # what the call is measured against (issue 16: at most 0.25x this)
third = time.perf_counter()
from envdoctor.runtime.kernel import stale_here
stale_here()  # the stale-module check alone, with transformers' modules loaded (goal: at most 10 ms)
fourth = time.perf_counter()
print(first - start, second - first, third - second, fourth - third)
"""
IN_PROCESS = (
    "import + call",
    "import + call, stdlib preloaded",
    "repeat call",
    "import transformers, same process",
    "stale-module check after it",
)


def bench_in_process(python: Path, plan: Plan) -> dict[str, ToolTimes]:
    """``import envdoctor; envdoctor.assert_compatible()`` timed inside the target interpreter (the inventory
    is read in-process there), after one untimed run that fills the cache: from a bare start, with the
    standard-library modules a training script already has, and a second call in the same process."""
    code = _IN_PROCESS.format(root=str(ROOT))
    out = {label: ToolTimes() for label in IN_PROCESS}
    subprocess.run([str(python), "-c", code, "bare"], env=plan.env, capture_output=True, check=False)
    for _ in range(plan.rounds):
        for mode in ("bare", "preloaded"):
            proc = subprocess.run([str(python), "-c", code, mode], env=plan.env, capture_output=True, text=True)
            try:
                first, second, third, fourth = (float(x) for x in proc.stdout.split())
            except ValueError:
                warn(f"assert_compatible() in {python} failed: {proc.stderr.strip()[-400:]}")
                return {}
            label = IN_PROCESS[0] if mode == "bare" else IN_PROCESS[1]
            out[label].times.append(first)
            out[label].exit_codes.append(proc.returncode)
            if mode == "preloaded":
                for label, value in zip(IN_PROCESS[2:], (second, third, fourth), strict=True):
                    out[label].times.append(value)
                    out[label].exit_codes.append(proc.returncode)
    return out


def print_in_process(times: dict[str, ToolTimes], rounds: int) -> None:
    print(f"\n== assert_compatible() in the hf-stack interpreter, warm, in-process, {rounds} rounds ==")
    print(f"  {'measure':<34}{'median':>12}{'min':>12}")
    for label, t in times.items():
        print(f"  {label:<34}{ms(t.median):>12}{ms(t.min):>12}")
    call, heavy = times.get(IN_PROCESS[1]), times.get(IN_PROCESS[3])
    if call and heavy and call.times and heavy.times and heavy.median:
        print(f"  assert_compatible / import transformers: {call.median / heavy.median:.2f}x (goal <= 0.25x)")


# ---------------------------------------------------------------------------------------------------------
# fabricated environments

_SYLLABLES = ("py", "torch", "data", "fast", "lite", "core", "tensor", "token", "vision", "audio", "text")
_SUFFIXES = ("utils", "kit", "tools", "lib", "client", "server", "hub", "ops", "cli", "plugin", "bridge")
_WORDS = (
    "the", "a", "model", "training", "data", "set", "tensor", "loader", "install", "package", "version",
    "support", "python", "release", "fast", "simple", "module", "function", "return", "value", "example",
    "usage", "configure", "option", "default", "memory", "device", "cuda", "cpu", "batch", "optimizer",
)  # fmt: skip


@dataclass(frozen=True)
class FakeDist:
    name: str  # canonical: the dist-info folder name
    display: str  # as written in Name: and sometimes in other dists' Requires-Dist
    version: tuple[int, int, int]
    test_extra: bool
    requires: tuple[str, ...]
    description: str
    wheel_tag: str

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    def metadata(self) -> str:
        lines = [
            "Metadata-Version: 2.1",
            f"Name: {self.display}",
            f"Version: {self.version_text}",
            f"Summary: {self.display} for the benchmark",
            "Requires-Python: >=3.8",
        ]
        if self.test_extra:
            lines.append("Provides-Extra: test")
        lines += [f"Requires-Dist: {r}" for r in self.requires]
        if self.description:
            lines.append("Description-Content-Type: text/markdown")
        return "\n".join(lines) + "\n\n" + (self.description or "A fabricated distribution.\n")


def _specifier(rng: random.Random, v: tuple[int, int, int]) -> str:
    """A version specifier that the installed version ``v`` satisfies."""
    major, minor, patch = v
    return rng.choice(
        [
            "",
            "",
            "",
            f">={major}.{minor}",
            f">={major}.0,<{major + 1}",
            f">={max(major - 1, 0)}.0,<{major + 2}",
            f"~={major}.{minor}",
            f"=={major}.{minor}.*",
            f"!={major}.{minor}.{patch + 1}",
            f"=={major}.{minor}.{patch}",
        ]
    )


def _marker(rng: random.Random, test_extra: bool) -> str:
    """A marker, or none; every one is well-formed and the requirement it guards is satisfied anyway."""
    roll = rng.random()
    if test_extra and roll < 0.2:
        return ' ; extra == "test"'
    if roll < 0.35:
        return rng.choice(
            [
                ' ; python_version >= "3.8"',
                ' ; python_version < "3.10"',
                ' ; sys_platform == "win32"',
                ' ; platform_system != "Windows" and python_version >= "3.9"',
            ]
        )
    return ""


def _requirement(rng: random.Random, target: FakeDist, test_extra: bool) -> str:
    name = rng.choice([target.name, target.display])
    if target.test_extra and rng.random() < 0.15:
        name += "[test]"
    return name + _specifier(rng, target.version) + _marker(rng, test_extra)


def _paragraphs(rng: random.Random, count: int = 64) -> list[str]:
    paras = []
    for _ in range(count):
        words = rng.choices(_WORDS, k=rng.randint(40, 120))
        paras.append(" ".join(words).capitalize() + ".")
    return paras


def _description(rng: random.Random, paras: Sequence[str]) -> str:
    """About a third carry a README of 2-8 KB as the METADATA body, as real wheels do."""
    if rng.random() >= 0.35:
        return ""
    size = rng.randint(2_000, 8_000)
    out = [f"# Overview\n\n{rng.choice(paras)}\n"]
    while sum(map(len, out)) < size:
        out.append(f"\n## {rng.choice(_WORDS).title()}\n\n{rng.choice(paras)}\n\n```python\nimport x\n```\n")
    return "".join(out)


def generate(n: int, seed: int, native_tag: str) -> list[FakeDist]:
    """n consistent distributions: each requires 0-8 earlier ones, always at a version that is installed."""
    rng = random.Random(seed * 1_000_003 + n)
    paras = _paragraphs(rng)
    dists: list[FakeDist] = []
    for i in range(n):
        name = f"{rng.choice(_SYLLABLES)}-{rng.choice(_SUFFIXES)}-{i}"
        display = name.replace("-", "_").title() if rng.random() < 0.2 else name
        test_extra = rng.random() < 0.25
        k = min(i, rng.choices(range(9), weights=[20, 15, 15, 12, 10, 8, 8, 6, 6])[0])
        requires = tuple(_requirement(rng, dists[j], test_extra) for j in sorted(rng.sample(range(i), k)))
        version = (rng.choice([0, 0, 1, 1, 2, 3, 4]), rng.randint(0, 30), rng.randint(0, 10))
        tag = native_tag if rng.random() < 0.2 else "py3-none-any"
        dists.append(FakeDist(name, display, version, test_extra, requires, _description(rng, paras), tag))
    return dists


def native_wheel_tag() -> str:
    """The most specific tag this interpreter supports, so "compiled" fake wheels fit the target."""
    from packaging.tags import sys_tags

    return str(next(iter(sys_tags())))


def build_fake_env(path: Path, dists: Sequence[FakeDist]) -> Path:
    """A real venv at ``path`` holding ``dists``; returns its python."""
    from tests.fakes import Fake, make_venv, write_dist

    if path.exists():
        shutil.rmtree(path)
    python, site = make_venv(path)
    for d in dists:
        fake = Fake(d.version_text, metadata=d.metadata(), wheel_tags=[d.wheel_tag])
        write_dist(site, d.name, fake)
    return python


def fake_env(workdir: Path, n: int, seed: int) -> Path:
    """The fabricated environment of n dists, reused when --workdir already holds this size and seed."""
    path = workdir / f"fake-{n}-seed{seed}"
    stamp = path / ".complete"
    key = f"generator {GENERATOR}, python {platform.python_version()}"
    if stamp.exists() and stamp.read_text() == key:
        return path / "bin" / "python"
    python = build_fake_env(path, generate(n, seed, native_wheel_tag()))
    stamp.write_text(key)
    return python


def hf_stack() -> tuple[Path, int]:
    """The real HF-stack bed (built once, cached by tests/beds.py) and its number of distributions."""
    from tests import beds

    bed = beds.build("hf-stack")
    return bed.python, sum(1 for _ in bed.site.glob("*.dist-info"))


@contextmanager
def work_area(given: str | None) -> Iterator[Path]:
    if given:
        path = Path(given).resolve()
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix="envdoctor-bench-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# machine facts and printing


def _output(argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    except OSError as exc:
        return f"unavailable ({exc})"
    return (proc.stdout or proc.stderr).strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _source_state() -> str:
    """The commit being measured, and whether envdoctor/ or probes/ differ from it."""
    head = _output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _output(["git", "-C", str(ROOT), "status", "--porcelain", "--", "envdoctor", "probes"])
    return f"{head}, " + ("with uncommitted changes in envdoctor/ or probes/" if dirty else "clean")


def machine_facts() -> dict[str, str]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "nproc": str(affinity),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": f"{platform.python_version()} ({sys.executable})",
        "pip": _output([sys.executable, "-m", "pip", "--version"]).split(" from ")[0],
        "uv": _output([str(BIN / "uv"), "--version"]),
        "envdoctor": _output([str(BIN / "envdoctor"), "--version"]),
        "envdoctor src": _source_state(),
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def print_env(res: EnvResult, rounds: int) -> None:
    kind = "fabricated" if res.fabricated else "real bed"
    print(f"\n== {res.name}: {res.dists} distributions ({kind}), {rounds} rounds ==")
    print(f"  {'tool':<20}{'median':>12}{'min':>12}{'peak RSS':>12}  exit codes")
    for tool, t in res.tools.items():
        codes = "all 0" if not any(t.exit_codes) else ",".join(map(str, t.exit_codes))
        print(f"  {tool:<20}{ms(t.median):>12}{ms(t.min):>12}{mib(t.peak_rss):>12}  {codes}")
    for ours, other in res.pairs():
        median, low = res.ratio(ours, other), res.ratio(ours, other, "min")
        print(f"  {f'{ours} / {other}':<33} {median:6.2f}x (median)  {low:6.2f}x (min)")
    for note in res.notes:
        print(f"  note: {note}")
    for problem in res.problems:
        warn(f"{res.name}: {problem}")


def mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:7.1f} MiB"


def warn(text: str) -> None:
    bar = "!" * 100
    print(f"\n{bar}\n!!! WARNING: {text}\n!!! a benchmark of a failing run is meaningless\n{bar}", flush=True)


def print_growth(results: Sequence[EnvResult]) -> None:
    fakes = sorted((r for r in results if r.fabricated), key=lambda r: r.dists)
    if not fakes:
        return
    tools = list(fakes[0].tools)
    print("\n== growth on fabricated environments: microseconds per distribution ==")
    print(f"  {'':<12}" + "".join(f"{tool:>20}" for tool in tools))
    for r in fakes:
        avgs = (r.tools[t].median / r.dists * 1e6 for t in tools)
        print(f"  {f'{r.dists} (avg)':<12}" + "".join(f"{x:>20.1f}" for x in avgs))
    for a, b in itertools.pairwise(fakes):
        label = f"{a.dists}->{b.dists}"
        slopes = ((b.tools[t].median - a.tools[t].median) / (b.dists - a.dists) * 1e6 for t in tools)
        print(f"  {label:<12}" + "".join(f"{s:>20.1f}" for s in slopes))
    print("  (avg: median time / dists; a->b: marginal cost, the slope between sizes, startup cancelled)")
    if any(r.tools[t].peak_rss is None for r in fakes for t in tools):
        return
    print("\n== growth on fabricated environments: peak RSS (MiB), and KiB per distribution between sizes ==")
    print(f"  {'':<12}" + "".join(f"{tool:>20}" for tool in tools))
    for r in fakes:
        print(f"  {r.dists:<12}" + "".join(f"{(r.tools[t].peak_rss or 0) / 1024:>20.1f}" for t in tools))
    for a, b in itertools.pairwise(fakes):
        slopes = (((b.tools[t].peak_rss or 0) - (a.tools[t].peak_rss or 0)) / (b.dists - a.dists) for t in tools)
        print(f"  {f'{a.dists}->{b.dists}':<12}" + "".join(f"{s:>20.2f}" for s in slopes))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=7, help="timed rounds per tool and environment (default 7)")
    p.add_argument("--sizes", default="100,1000,5000", help="fabricated env sizes (default %(default)s)")
    p.add_argument("--seed", type=int, default=20240611, help="seed of the fabricated environments")
    p.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    p.add_argument("--workdir", help="keep and reuse the fabricated envs here (default: a fresh temp dir)")
    p.add_argument("--no-bed", action="store_true", help="skip the real hf-stack bed")
    p.add_argument("--no-cache-too", action="store_true", help="also time `envdoctor check --no-cache`")
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.rounds < 1 or any(s < 1 for s in args.sizes):
        p.error("--rounds and --sizes must be positive")
    return args


def step(label: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    value = fn()
    print(f"  {label}: {time.perf_counter() - start:.1f} s", flush=True)
    return value


def make_plan(args: argparse.Namespace, workdir: Path) -> Plan:
    """The tools to time, and an envdoctor cache that starts empty: only the warm-up run fills it."""
    cache = workdir / "envdoctor-cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "ENVDOCTOR_CACHE_DIR": str(cache)}
    ours = (ENVDOCTOR, ENVDOCTOR_NO_CACHE) if args.no_cache_too else (ENVDOCTOR,)
    return Plan((*ours, *PEERS), args.rounds, env)


def main(argv: Sequence[str] | None = None) -> int:
    start = time.perf_counter()
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    facts = machine_facts()
    print("== machine ==")
    for key, value in facts.items():
        print(f"  {key + ':':<15}{value}")
    print(f"  rounds:        {args.rounds} timed (+1 warm-up per tool), tools rotating order every round")

    probes_bytecode = (ROOT / "probes" / "__pycache__").exists()
    for folder in ("envdoctor", "probes"):  # an installed wheel has its bytecode (pip compiles it)
        compileall.compile_dir(ROOT / folder, quiet=1)
    results: list[EnvResult] = []
    in_process: dict[str, ToolTimes] = {}
    with work_area(args.workdir) as workdir:
        plan = make_plan(args, workdir)
        print("\n== preparing environments ==")
        envs: list[tuple[str, Path, int, bool]] = []
        if not args.no_bed:
            python, count = step("hf-stack bed (cached by tests/beds.py)", hf_stack)
            envs.append(("hf-stack", python, count, False))
        for n in args.sizes:
            python = step(f"fabricated {n} dists", functools.partial(fake_env, workdir, n, args.seed))
            envs.append((f"fake-{n}", python, n, True))
        for name, python, count, fabricated in envs:
            res = bench_env(name, python, count, plan, fabricated=fabricated)
            print_env(res, args.rounds)
            results.append(res)
            if name == "hf-stack":
                in_process = bench_in_process(python, plan)
                if in_process:
                    print_in_process(in_process, args.rounds)
    print_growth(results)
    if not probes_bytecode:  # the checkout's probes/ as it was (a test checks that probes leave no bytecode)
        shutil.rmtree(ROOT / "probes" / "__pycache__", ignore_errors=True)

    problems = [f"{r.name}: {p}" for r in results for p in r.problems]
    for problem in problems:
        warn(problem)
    total = time.perf_counter() - start
    print(f"\nbenchmark took {total:.1f} s in total")
    if args.json:
        doc = {
            "machine": facts,
            "rounds": args.rounds,
            "seed": args.seed,
            "environments": [r.as_json() for r in results],
            "assert_compatible_in_process": {label: t.as_json() for label, t in in_process.items()},
            "total_s": total,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"numbers written to {args.json}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
