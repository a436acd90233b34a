"""Accelerate-config probe: runs inside the interpreter under test, Python 3.8+.

Reads the accelerate config in use (``request["path"]``, else accelerate's default location:
``$HF_HOME/accelerate/default_config.yaml``, HF_HOME defaulting to ``$XDG_CACHE_HOME/huggingface``, that to
``~/.cache``) and the DeepSpeed JSON its ``deepspeed_config.deepspeed_config_file`` names. YAML is parsed
with the PyYAML that accelerate brings (envdoctor itself adds no dependency); a file that does not parse
is reported with its line, never raised. Also reports what DeepSpeed's JIT-compiled ops need: CUDA_HOME
and nvcc. Reads only; imports neither torch nor accelerate.
"""

import json
import os
import shutil

SCHEMA = "envdoctor.accelerate-config/1"


def default_path():
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.path.expanduser(os.environ.get("HF_HOME", os.path.join(cache, "huggingface")))
    return os.path.join(home, "accelerate", "default_config.yaml")


def _problem(path, message, line):
    return {"path": path, "exists": True, "data": None, "error": {"message": message, "line": line}}


def read(path, kind):
    """{"path", "exists", "data", "error": {"message", "line"} or None}; ``kind`` "yaml" or "json"."""
    if not os.path.isfile(path):
        return {"path": path, "exists": False, "data": None, "error": None}
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        return _problem(path, "cannot be read: %s" % exc, None)
    if kind == "json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            return _problem(path, "not valid JSON: %s" % getattr(exc, "msg", exc), getattr(exc, "lineno", None))
    else:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError as exc:
            return _problem(path, "PyYAML does not import in this environment (%s), so it cannot be read" % exc, None)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            reason = getattr(exc, "problem", None) or str(exc)
            return _problem(path, "not valid YAML: %s" % reason, mark.line + 1 if mark is not None else None)
    if not isinstance(data, dict):
        return _problem(path, "not a mapping of settings (the top level is %s)" % type(data).__name__, 1)
    return {"path": path, "exists": True, "data": data, "error": None}


def _deepspeed_version():
    try:
        from importlib.metadata import version
    except ImportError:
        return None
    try:
        return version("deepspeed")
    except Exception:
        return None


def main(request):
    path = request.get("path") or default_path()
    config = read(path, "json" if path.endswith(".json") else "yaml")
    result = {
        "schema": SCHEMA,
        "source": "file" if request.get("path") else "default",
        "config": config,
        "deepspeed": None,
        "cuda_home": os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH"),
        "nvcc": shutil.which("nvcc"),
        "deepspeed_version": _deepspeed_version(),
    }
    data = config["data"] or {}
    ds = data.get("deepspeed_config")
    ds = ds if isinstance(ds, dict) else {}
    ds_file = ds.get("deepspeed_config_file")
    if isinstance(ds_file, str) and ds_file:
        if not os.path.isabs(ds_file):  # accelerate opens it relative to where training is launched
            ds_file = os.path.join(request.get("cwd") or os.getcwd(), ds_file)
        result["deepspeed"] = read(ds_file, "json")
    return result
