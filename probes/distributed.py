"""Distributed probe: runs inside the interpreter under test, Python 3.8+, one per rank of a launch.

Standard library only at the top level: torch is imported inside main(), in the target, never in
envdoctor's process. It joins the launch's process group through torch.distributed itself, with the
launcher's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; torchrun's agent store when
TORCHELASTIC_USE_AGENT_STORE is set), gloo first (it needs no GPU), then:

  rendezvous  every rank writes its own key to the TCPStore and waits (a time limit) for the others',
              so a rank that never started, a mismatched WORLD_SIZE or a wrong MASTER_ADDR is named;
  gather      all_gather_object of each rank's facts (Python, packages, torch build, devices) and of the
              report envdoctor wrote (the probe waits for that file: envdoctor checks while the probe joins);
  gloo        all_gather of a small tensor over gloo, checked value by value;
  nccl        the same over NCCL, only when every rank has a CUDA GPU for its LOCAL_RANK (all ranks decide
              it from the same gathered facts, so none waits for a collective the others skip).

Joining (store, rendezvous, init) is timed against one deadline from the start; the collectives after the
report (the process group's timeout, NCCL's) get the whole limit again, since ranks finish their own checks at
different times. Every phase ends as a value (ok, or the exception's type and message).
The last phase reached is also written to stderr ("envdoctor-phase: NAME"), so envdoctor can tell where a
probe that had to be killed was. Rank 0 returns every rank's gathered payload; the gathered list is also
written to ``partial`` before NCCL runs, so a NCCL abort does not lose it.
"""

import importlib
import json
import os
import re
import socket
import sys
import time
from typing import Any  # noqa: F401 (type comments: Python 3.8 has no dict[...] at run time)

SCHEMA = "envdoctor.distributed/1"
KEY = "envdoctor/rank/"
POLL = 0.02
PARENT = os.getppid()
"""envdoctor: when it is gone (killed with SIGKILL, so it could not stop this probe), the probe stops waiting."""


def _error(exc):
    return {"type": type(exc).__name__, "message": str(exc)[:2000]}


def _phase(name):
    sys.stderr.write("envdoctor-phase: %s\n" % name)
    sys.stderr.flush()


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _packages():
    """{canonical name: version} of the distributions this interpreter sees (the first one on sys.path wins)."""
    from importlib import metadata

    found = {}
    for dist in metadata.distributions():
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception:
            continue
        if name and version and _canonical(name) not in found:
            found[_canonical(name)] = str(version)
    return found


def _device_facts(torch):
    import runpy

    step = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "step.py"), run_name="step_facts")
    return step["device_facts"](torch)


def _torch_facts(torch):
    facts = {"version": str(getattr(torch, "__version__", "")), "nccl": None, "cudnn": None, "gloo": None}  # type: dict[str, Any]
    try:
        dist = importlib.import_module("torch.distributed")
        facts["gloo"] = bool(dist.is_gloo_available())
        facts["nccl_available"] = bool(dist.is_nccl_available())
    except Exception:
        pass
    try:
        if getattr(torch.version, "cuda", None):
            version = torch.cuda.nccl.version()
            facts["nccl"] = ".".join(str(v) for v in version) if isinstance(version, tuple) else str(version)
    except Exception:
        pass
    try:
        cudnn = torch.backends.cudnn.version()
        facts["cudnn"] = None if cudnn is None else str(cudnn)
    except Exception:
        pass
    return facts


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.5, self.end - time.monotonic())

    def delta(self):
        import datetime

        return datetime.timedelta(seconds=self.left())


def _unresolved(host, port):
    """Why ``host`` does not resolve here (torch reports it as a plain connect timeout), or None."""
    try:
        socket.getaddrinfo(host, port)
    except OSError as exc:
        return str(exc)
    return None


def _launcher():
    env = os.environ
    return {
        "rank": int(env["RANK"]),
        "world_size": int(env["WORLD_SIZE"]),
        "local_rank": int(env.get("LOCAL_RANK", "0") or 0),
        "master_addr": env["MASTER_ADDR"],
        "master_port": int(env["MASTER_PORT"]),
        "agent_store": env.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true",
        "restart": env.get("TORCHELASTIC_RESTART_COUNT", "0"),
    }


def _store(dist, launch, deadline):
    """The TCPStore of the launch: torchrun's agent store (a client of it), else rank 0 serves one."""
    serve = launch["rank"] == 0 and not launch["agent_store"]
    store = dist.TCPStore(
        launch["master_addr"],
        launch["master_port"],
        launch["world_size"],
        serve,
        deadline.delta(),
        wait_for_workers=False,
    )
    return dist.PrefixStore("envdoctor/%s" % launch["restart"], store), serve


def _rendezvous(store, launch, me, deadline):
    """Write this rank's entry; wait for every rank's, or until two ranks disagree on the world size.
    Returns (entries by rank, missing ranks)."""
    store.set(KEY + str(launch["rank"]), json.dumps(me))
    size = launch["world_size"]
    entries = {}  # type: dict[int, Any]
    while True:
        r = 0
        while r < size or (r < size + 64 and r in entries):  # a rank told a larger WORLD_SIZE is above ours
            if r not in entries and store.check([KEY + str(r)]):
                entries[r] = json.loads(store.get(KEY + str(r)).decode("utf-8"))
            if r >= size and r not in entries:
                break
            r += 1
        missing = [r for r in range(size) if r not in entries]
        disagree = len({int(e.get("world_size", 0)) for e in entries.values()}) > 1 or max(entries) >= size
        if not missing or disagree or time.monotonic() >= deadline.end or os.getppid() != PARENT:
            return entries, missing
        time.sleep(0.05)


def _linger(store, served, entries, deadline):
    """After a failed rendezvous, the rank that serves the store waits (briefly) until the others have read it."""
    store.add("left", 1)
    while served and store.add("left", 0) < len(entries) and time.monotonic() < deadline.end:
        time.sleep(0.05)


def _wait_for_report(path, deadline_s):
    """envdoctor writes this rank's report while the probe joins; wait for it (or for envdoctor to go)."""
    end = time.monotonic() + deadline_s
    while not os.path.exists(path):
        if os.getppid() != PARENT or time.monotonic() > end:
            return None
        time.sleep(POLL)
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _gloo_check(torch, dist, launch):
    start = time.monotonic()
    mine = torch.tensor([launch["rank"] + 1], dtype=torch.int64)
    out = [torch.zeros(1, dtype=torch.int64) for _ in range(launch["world_size"])]
    dist.all_gather(out, mine)
    got = [int(t.item()) for t in out]
    ok = got == list(range(1, launch["world_size"] + 1))
    error = None if ok else {"type": "WrongValues", "message": "all_gather returned %s" % got}
    return {"ok": ok, "seconds": time.monotonic() - start, "error": error}


def _nccl_check(torch, dist, launch, deadline):
    start = time.monotonic()
    try:
        group = dist.new_group(backend="nccl", timeout=deadline.delta())
        device = torch.device("cuda", launch["local_rank"])
        torch.cuda.set_device(device)
        mine = torch.tensor([launch["rank"] + 1], dtype=torch.int64, device=device)
        out = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(launch["world_size"])]
        dist.all_gather(out, mine, group=group)
        torch.cuda.synchronize(device)
        got = [int(t.item()) for t in out]
        ok = got == list(range(1, launch["world_size"] + 1))
        error = None if ok else {"type": "WrongValues", "message": "all_gather returned %s" % got}
        return {"ok": ok, "seconds": time.monotonic() - start, "error": error}
    except Exception as exc:
        return {"ok": False, "seconds": time.monotonic() - start, "error": _error(exc)}


def _nccl_wanted(gathered):
    for entry in gathered:
        device = (entry.get("facts") or {}).get("device") or {}
        if not device.get("cuda_available") or int(device.get("device_count") or 0) <= int(entry.get("local_rank", 0)):
            return False
    return True


def _write_partial(path, obj):
    if path:
        tmp = path + ".partial"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh)
        os.replace(tmp, path)


def main(request):
    limit = float(request.get("deadline_s") or 30.0)
    deadline = Deadline(limit)
    result = {"schema": SCHEMA, "phase": "import", "error": None, "gathered": None, "gloo": None, "nccl": None}  # type: dict[str, Any]
    launch = _launcher()
    result["launch"] = launch
    me = {
        "rank": launch["rank"],
        "local_rank": launch["local_rank"],
        "world_size": launch["world_size"],
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    result["me"] = me

    def fail(phase, exc):
        result["phase"] = phase
        result["error"] = _error(exc)
        return result

    _phase("import")
    try:
        torch = importlib.import_module("torch")
        dist = importlib.import_module("torch.distributed")
    except BaseException as exc:
        return fail("import", exc)
    if not dist.is_available():
        return fail("import", RuntimeError("this torch build has no torch.distributed"))
    facts = {
        "python": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "packages": _packages(),
        "torch": _torch_facts(torch),
        "device": _device_facts(torch),
    }
    _phase("store")
    try:
        store, served = _store(dist, launch, deadline)
    except BaseException as exc:
        result["unresolved"] = _unresolved(launch["master_addr"], launch["master_port"])
        return fail("store", exc)
    result["served"] = served
    _phase("rendezvous")
    try:
        entries, missing = _rendezvous(store, launch, me, deadline)
    except BaseException as exc:
        return fail("rendezvous", exc)
    result["entries"] = {str(k): v for k, v in entries.items()}
    result["missing"] = missing
    sizes = sorted({int(e.get("world_size", 0)) for e in entries.values()})
    if missing or len(sizes) > 1 or any(k >= launch["world_size"] for k in entries):
        _linger(store, served, entries, Deadline(min(10.0, deadline.left())))
        result["phase"] = "rendezvous"
        result["error"] = {"type": "Rendezvous", "message": "missing ranks %s, world sizes %s" % (missing, sizes)}
        return result
    _phase("init")
    try:
        dist.init_process_group(
            "gloo",
            store=dist.PrefixStore("pg", store),
            rank=launch["rank"],
            world_size=launch["world_size"],
            timeout=Deadline(limit).delta(),
        )
    except BaseException as exc:
        return fail("init", exc)
    try:
        _phase("report")
        report = _wait_for_report(request["report_file"], float(request.get("report_wait_s") or 3600.0))
        if report is None:
            return fail("report", RuntimeError("envdoctor did not write this rank's report"))
        _phase("gather")
        mine = dict(me, facts=facts, report=report)
        gathered = [None] * launch["world_size"]  # type: list[Any]
        try:
            dist.all_gather_object(gathered, mine)
        except BaseException as exc:
            return fail("gather", exc)
        if launch["rank"] == 0:
            result["gathered"] = gathered
        _phase("gloo")
        try:
            result["gloo"] = _gloo_check(torch, dist, launch)
        except BaseException as exc:
            return fail("gloo", exc)
        if _nccl_wanted(gathered):
            if launch["rank"] == 0:
                _write_partial(request.get("partial"), result)
            _phase("nccl")
            nccl = _nccl_check(torch, dist, launch, Deadline(limit))
            outcomes = [None] * launch["world_size"]  # type: list[Any]
            try:
                dist.all_gather_object(outcomes, dict(nccl, rank=launch["rank"]))
                result["nccl"] = {"ranks": outcomes}
            except BaseException as exc:
                result["nccl"] = {"ranks": [dict(nccl, rank=launch["rank"])], "gather_error": _error(exc)}
        result["phase"] = "done"
        return result
    finally:
        try:  # noqa: SIM105 - the plain statements the probes use everywhere
            dist.destroy_process_group()
        except Exception:
            pass
