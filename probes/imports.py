"""Import probe: runs inside the interpreter under test, standard library only, Python 3.8+.

Runs ONE import statement (``import torch``, ``from transformers import Trainer``) the way a training
script would, and reports how it ended: ok with its time, or the exception (type, message, the last
frames and the whole traceback text, chained causes included), plus the warnings raised while importing.
Each statement gets its own process (envdoctor.runtime.imports starts them), so one failing import can
neither hide nor cause another. Whatever the imported code does to the process (SystemExit,
KeyboardInterrupt) is caught here and reported as the import's outcome.
"""

import ast
import builtins
import importlib
import importlib.util
import sys
import time
import traceback
import warnings

MAX_TRACEBACK = 20000
MAX_MESSAGE = 4000
LAST_FRAMES = 8
MAX_WARNINGS = 20


def _frames(exc):
    """The last frames of the imported code (this probe's own frames left out)."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if f.filename != __file__ and not f.filename.startswith("<envdoctor")
    ]
    return [[f.filename, f.lineno or 0, f.name] for f in frames[-LAST_FRAMES:]]


def _warning(w):
    return {
        "category": w.category.__name__,
        "message": str(w.message)[:MAX_MESSAGE],
        "file": str(w.filename),
        "line": w.lineno or 0,
    }


def _roots(code):
    """The top-level modules an import statement names (``from a.b import c``: a)."""
    found = []
    for node in ast.parse(code).body:
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        found += [name.partition(".")[0] for name in names if name and name.partition(".")[0] not in found]
    return found


_EDGES = {}  # type: dict[str, set[str]]
"""While tracing: each module's name -> the modules its code asked for (``import``, ``from .. import``,
importlib.import_module), already loaded or not. Kept across a fork: a child reads what its parent's
imports asked for."""


def trace():
    """Record every import request in _EDGES from now on (in this process and in its forks)."""
    if getattr(builtins.__import__, "_envdoctor", False):
        return
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def note(importer, full, fromlist=()):
        asked = _EDGES.setdefault(importer, set())
        asked.add(full)
        for item in fromlist or ():
            if isinstance(item, str) and item != "*":
                asked.add(full + "." + item)

    def hooked_import(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__") or "?"
        full = name
        if level:
            package = (globals or {}).get("__package__") or ""
            base = package.rsplit(".", level - 1)[0] if level > 1 else package
            full = base + "." + name if name else base
        note(importer, full, fromlist)
        return real_import(name, globals, locals, fromlist, level)

    def hooked_import_module(name, package=None):
        importer = sys._getframe(1).f_globals.get("__name__") or "?"
        note(importer, importlib.util.resolve_name(name, package) if name.startswith(".") else name)
        return real_import_module(name, package)

    setattr(hooked_import, "_envdoctor", True)  # noqa: B010 - a marker on a function
    builtins.__import__ = hooked_import
    importlib.import_module = hooked_import_module


def reached():
    """The top-level modules a fresh run of the last statement would have imported: everything its own
    requests ask for, then what each of those modules' code asked for, recursively (a module loaded
    before, by a preloading parent, counts with what it asked for then)."""
    todo, seen = list(_EDGES.get(_STATEMENT, ())), set()
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            module = ".".join(parts[:end])
            if module not in seen:
                seen.add(module)
                todo.extend(_EDGES.get(module, ()))
    return sorted({name.partition(".")[0] for name in seen})


_STATEMENT = "__main__"


def main(request):
    statement = request["statement"]
    code = compile(statement, "<envdoctor import probe>", "exec")
    result = {"schema": "envdoctor.import/1", "statement": statement, "roots": _roots(statement)}
    _EDGES[_STATEMENT] = set()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            exec(code, {"__name__": "__main__"})
        except BaseException as exc:  # SystemExit and KeyboardInterrupt at import are findings too
            result["error"] = {
                "type": type(exc).__name__,
                "module": type(exc).__module__,
                "message": str(exc)[:MAX_MESSAGE],
                "frames": _frames(exc),
                "traceback": traceback.format_exc()[-MAX_TRACEBACK:],
            }
    result["seconds"] = time.perf_counter() - start
    result["ok"] = "error" not in result
    result["warnings"] = [_warning(w) for w in caught[:MAX_WARNINGS]]
    result["modules"] = len(sys.modules)
    if request.get("reach"):
        result["reached"] = reached()
    return result
