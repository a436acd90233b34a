"""Import probe: runs inside the interpreter under test, standard library only, Python 3.8+.

Runs ONE import statement (``import torch``, ``from transformers import Trainer``) the way a training
script would, and reports how it ended: ok with its time, or the exception (type, message, the last
frames and the whole traceback text, chained causes included), plus the warnings raised while importing.
Each statement gets its own process (envdoctor.runtime.imports starts them), so one failing import can
neither hide nor cause another. Whatever the imported code does to the process (SystemExit,
KeyboardInterrupt) is caught here and reported as the import's outcome.
"""

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


def main(request):
    statement = request["statement"]
    code = compile(statement, "<envdoctor import probe>", "exec")
    result = {"schema": "envdoctor.import/1", "statement": statement}
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
    return result
