"""``envdoctor.assert_compatible()`` at the top of a training script, warm: answered from a small cache entry
without loading the report classes, the checks or anything else envdoctor.api brings.

A call with only ``fail_on`` (the default one of a script's first line: this interpreter, nothing required,
nothing ignored, no scan of the caller) that ran the whole check leaves one entry next to the warm report
(envdoctor.warm): that report's fingerprint and target, and the severity of its worst finding. Its key is the
interpreter, the variables that shape its sys.path, envdoctor's version, the cache format and the shipped
matrix/ files. The next such call returns None when the fingerprint still holds (envdoctor.fingerprint), the
worst finding is below ``fail_on`` and no loaded module is stale (envdoctor.runtime.loaded); anything else
runs envdoctor.api.assert_compatible, which raises with the findings as always.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from envdoctor.report import Severity

DEFAULT_TIMEOUT = 60.0
"""envdoctor.diagnose.DEFAULT_TIMEOUT (a test keeps them equal), not imported: that would load the checks."""
_LEVELS = {"INFO": 10, "WARNING": 20, "ERROR": 30}
"""envdoctor.report.Severity's values by name (a test keeps them equal)."""
_ENTRY_LIMIT = 1024 * 1024


def assert_compatible(
    *,
    require: Mapping[str, str] | None = None,
    ignore: Sequence[str] = (),
    fail_on: Severity | str = "error",
    python: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    scan_caller: bool = False,
) -> None:
    """Return None when nothing reaches ``fail_on``; raise IncompatibleEnvironmentError otherwise. The same as
    envdoctor.api.assert_compatible (its docstring says everything), answered from the cache when warm."""
    plain = require is None and not ignore and python is None and not scan_caller
    if plain and _passes(fail_on):
        return None
    from envdoctor import api

    try:
        api.assert_compatible(
            require=require, ignore=ignore, fail_on=fail_on, python=python, timeout=timeout, scan_caller=scan_caller
        )
    finally:
        if plain:
            _record()


def _key() -> str:
    from envdoctor._version import __version__
    from envdoctor.cache import FORMAT
    from envdoctor.fingerprint import PATH_VARIABLES, data_stamp, probe_module

    env = [os.environ.get(name) for name in PATH_VARIABLES]
    h = probe_module()._hasher()
    h.update(json.dumps(["verdict", _python(), env, __version__, FORMAT], ensure_ascii=True).encode("ascii"))
    h.update(data_stamp().encode("utf-8", "surrogateescape"))
    return f"verdict-{h.hexdigest()}"


def _python() -> str:
    """The target of a call without ``python``: envdoctor.target.Target.resolve(None).python."""
    return sys.executable or "python3"


def _passes(fail_on: object) -> bool:
    """Whether the stored verdict says nothing reaches ``fail_on``, and it still holds; False when unsure."""
    from envdoctor.cache import FORMAT, default_folder
    from envdoctor.fingerprint import holds
    from envdoctor.source.installed import Unread, read_bytes

    threshold = _threshold(fail_on)
    if threshold is None:
        return False
    try:
        key = _key()
        path = os.path.join(default_folder(), f"v{FORMAT}", f"{key}.json")
        entry = json.loads(read_bytes(path, _ENTRY_LIMIT))  # a regular file only: never a FIFO
        worst, fingerprint = entry["worst"], entry["fingerprint"]
        if entry["key"] != key or type(worst) is not int or worst >= threshold or not isinstance(fingerprint, str):
            return False
        if not holds(fingerprint, entry["target"]):
            return False
    except (Unread, OSError, ValueError, KeyError, TypeError, RecursionError):
        return False  # absent, damaged or of another shape: the whole call runs, and a good entry replaces it
    from envdoctor.runtime.loaded import stale_modules

    return not stale_modules()


def _threshold(fail_on: object) -> int | None:
    if isinstance(fail_on, str):
        return _LEVELS.get(fail_on.strip().upper())  # an unknown name: the whole call raises as always
    return int(fail_on) if isinstance(fail_on, int) and not isinstance(fail_on, bool) else None


def _record() -> None:
    """Keep the verdict of the warm report the call just used or stored, when it holds."""
    try:
        from envdoctor import warm
        from envdoctor.cache import Cache, default_dir

        store = Cache(default_dir())
        stored = warm.load(store, warm.key(_python(), {"symbols": True}))
        if stored is None or not stored.unchanged():
            return  # no stored report (a check could not run): the next call runs the whole check again
        worst = max((int(f.severity) for f in stored.report.findings), default=0)
        store.put(_key(), {"fingerprint": stored.fingerprint, "target": dict(stored.target), "worst": worst})
        store.trim()
    except Exception:  # a cache is optional: never a reason for the call to fail
        return
