"""Shared-parent import probes: runs inside the interpreter under test, standard library only, Python 3.8+.

Pays for the heavy common imports once (``preload``: ``import torch``, then the Trainer import), in
order; after each, the statements whose ``levels`` entry says they need exactly what is imported so far
are served by a parent forked at that point, which forks one child per statement, at most ``jobs`` at a
time. Each child runs the statement with probes/imports.py's
main() and reports how it ended; the parent streams one JSON line per probe on the protocol channel
(the stdout it was started with) as each ends. Nothing here decides a verdict: envdoctor reruns in a
fresh interpreter every statement that did not pass in its child, and every one that passed without
importing all the preloaded modules itself (see envdoctor/runtime/shared.py).

The children stay in this process's group (envdoctor kills the whole group when it is done or
interrupted, which also ends whatever a child started); a child past ``timeout`` is killed here. Each
child's stdout and stderr are pipes read here, only their last ``tail`` bytes kept.
"""

import contextlib
import fcntl
import json
import os
import runpy
import selectors
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


_LOCK = tempfile.TemporaryFile()  # noqa: SIM115 - for the process lifetime; several serving parents write to one channel: one line at a time


def _emit(channel, obj):
    line = (json.dumps(obj, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")
    fcntl.lockf(_LOCK, fcntl.LOCK_EX)  # a record lock: held per process, so it excludes a forked parent too
    try:
        view = memoryview(line)
        while view:
            view = view[os.write(channel.fileno(), view) :]
    finally:
        fcntl.lockf(_LOCK, fcntl.LOCK_UN)


class _Child(object):
    def __init__(self, index, pid, fds, deadline, pidfd):
        self.index = index
        self.pid = pid
        self.fds = fds  # name -> read end: out, err, res
        self.data = {"out": bytearray(), "err": bytearray(), "res": bytearray()}
        self.total = {"out": 0, "err": 0, "res": 0}
        self.deadline = deadline
        self.pidfd = pidfd
        self.start = time.perf_counter()
        self.timed_out = False


def _keep(child, name, chunk, tail):
    child.total[name] += len(chunk)
    buf = child.data[name]
    buf += chunk
    limit = 64 * 1024 * 1024 if name == "res" else tail
    if len(buf) > 2 * limit:
        del buf[: len(buf) - limit]


def _fork(index, statement, run_one, open_fds, deadline):
    pipes = {name: os.pipe() for name in ("out", "err", "res")}
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            for fd in open_fds:
                os.close(fd)
            for _name, (r, _w) in pipes.items():
                os.close(r)
            os.dup2(pipes["out"][1], 1)
            os.dup2(pipes["err"][1], 2)
            os.close(pipes["out"][1])
            os.close(pipes["err"][1])
            result = run_one({"statement": statement, "reach": True})
            data = json.dumps(result, ensure_ascii=True, separators=(",", ":")).encode("ascii")
            view = memoryview(data)
            while view:
                view = view[os.write(pipes["res"][1], view) :]
        except BaseException:
            pass
        for stream in (sys.stdout, sys.stderr):
            try:  # noqa: SIM105 - plain statements, as in every probe
                stream.flush()
            except Exception:
                pass
        os._exit(0)
    for _name, (_r, w) in pipes.items():
        os.close(w)
    pidfd = -1
    opener = getattr(os, "pidfd_open", None)  # Python 3.9+ on Linux 5.3+; else the child is polled
    if opener is not None:
        try:
            pidfd = opener(pid)
        except OSError:
            pidfd = -1
    return _Child(index, pid, {name: r for name, (r, _w) in pipes.items()}, deadline, pidfd)


def _finish(child, status, channel, tail):
    for name, fd in child.fds.items():  # what is already there; a grandchild may still hold the pipe
        os.set_blocking(fd, False)
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            _keep(child, name, chunk, tail)
        os.close(fd)
    if child.pidfd >= 0:
        os.close(child.pidfd)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    payload = None
    try:
        payload = json.loads(bytes(child.data["res"]).decode("ascii")) if child.data["res"] else None
    except ValueError:
        payload = None
    _emit(
        channel,
        {
            "index": child.index,
            "timed_out": child.timed_out,
            "signal": 0 if child.timed_out else sig,
            "exit": code,
            "seconds": time.perf_counter() - child.start,
            "payload": payload,
            "stdout": bytes(child.data["out"][-tail:]).decode("utf-8", "replace"),
            "stdout_bytes": child.total["out"],
            "stderr": bytes(child.data["err"][-tail:]).decode("utf-8", "replace"),
            "stderr_bytes": child.total["err"],
        },
    )


def _serve(indices, statements, run_one, channel, timeout, jobs, tail):
    """Fork one child per statement of ``indices``, at most ``jobs`` at a time; stream each ending."""
    pending = list(indices)
    running = {}  # type: dict[int, _Child]
    sel = selectors.DefaultSelector()
    while pending or running:
        while pending and len(running) < jobs:
            index = pending.pop(0)
            open_fds = [channel.fileno()] + [fd for c in running.values() for fd in c.fds.values()]
            open_fds += [c.pidfd for c in running.values() if c.pidfd >= 0]
            child = _fork(index, statements[index], run_one, open_fds, time.monotonic() + timeout)
            running[child.pid] = child
            for name, fd in child.fds.items():
                sel.register(fd, selectors.EVENT_READ, (child.pid, name))
            if child.pidfd >= 0:
                sel.register(child.pidfd, selectors.EVENT_READ, (child.pid, "exit"))
        now = time.monotonic()
        wait = max(0.0, min(c.deadline for c in running.values()) - now)
        if any(c.pidfd < 0 for c in running.values()):
            wait = min(wait, 0.05)  # no pidfd (an old kernel): poll for the exits
        for key, _events in sel.select(wait):
            pid, name = key.data
            child = running.get(pid)
            if child is None or name == "exit":
                continue
            try:
                chunk = os.read(key.fd, 65536)
            except OSError:
                chunk = b""
            if chunk:
                _keep(child, name, chunk, tail)
            else:
                sel.unregister(key.fd)
        now = time.monotonic()
        for child in list(running.values()):
            if not child.timed_out and now >= child.deadline:
                child.timed_out = True
                with contextlib.suppress(OSError):
                    os.kill(child.pid, signal.SIGKILL)
            done, status = os.waitpid(child.pid, os.WNOHANG)
            if done:
                for fd in [*child.fds.values(), child.pidfd]:
                    if fd >= 0:
                        with contextlib.suppress(KeyError, ValueError):
                            sel.unregister(fd)
                del running[child.pid]
                _finish(child, status, channel, tail)


def main(request):
    # The protocol channel is the stdout envdoctor reads; what the preloaded code prints goes to stderr.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    if not hasattr(os, "fork") or sys.platform in ("win32", "darwin"):
        _emit(channel, {"fork": False, "why": "no safe fork on %s" % sys.platform})
        return {"ok": False}
    probe = runpy.run_path(os.path.join(HERE, "imports.py"), run_name="envdoctor_probe")
    run_one = probe["main"]
    probe["trace"]()  # from here on, every import request is noted (the children inherit the notes)
    statements = request["statements"]
    preload = request["preload"]
    levels = request["levels"]  # per statement: how many share probes its children need preloaded
    timeout, jobs, tail = float(request["timeout"]), int(request["jobs"]), int(request["tail"])
    serving = []
    for done, index in enumerate(preload, 1):
        result = run_one({"statement": statements[index]})
        _emit(channel, {"index": index, "preload": True, "payload": result})
        if not result.get("ok"):
            _emit(channel, {"abandon": statements[index]})
            return {"ok": False}
        group = [i for i in range(len(statements)) if i not in preload and levels[i] == done]
        if group and done < len(preload):
            # these need only what is loaded now: a forked parent serves them while this one goes on
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            pid = os.fork()
            if pid == 0:
                try:
                    _serve(group, statements, run_one, channel, timeout, jobs, tail)
                finally:
                    os._exit(0)
            serving.append(pid)
        elif group:
            _serve(group, statements, run_one, channel, timeout, jobs, tail)
    for pid in serving:
        os.waitpid(pid, 0)
    _emit(channel, {"done": True})
    return {"ok": True}
