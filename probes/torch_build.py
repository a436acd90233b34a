"""Torch-build probe: runs inside the interpreter under test, Python 3.8+. Standard library only.

Finds torch as an ``import torch`` would (importlib.util.find_spec: the package is located, not imported)
and reads the build from ``torch/version.py`` as text (its ``cuda``, ``hip`` and ``xpu`` assignments):
``check --distributed`` lets the ranks of a node share one training step only when the build can use no
GPU (every rank would train on the same CPU).
"""

import ast
import importlib.util
import os

SCHEMA = "envdoctor.torch_build/1"
FIELDS = ("__version__", "cuda", "hip", "xpu")


def _assignments(text):
    """The module-level ``NAME = literal`` and ``NAME: type = literal`` values of FIELDS."""
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in FIELDS:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                found[target.id] = "?"  # not a literal: treated as a build that may use a GPU
    return found


def main(request):
    result = {"schema": SCHEMA, "found": False, "version": None, "gpu": None, "error": None}
    try:
        spec = importlib.util.find_spec("torch")
    except Exception as exc:
        result["error"] = "%s: %s" % (type(exc).__name__, exc)
        return result
    if spec is None or not spec.submodule_search_locations:
        return result  # no torch: no rank trains on a GPU
    result["found"] = True
    path = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
    try:
        with open(path, encoding="utf-8") as fh:
            values = _assignments(fh.read())
    except (OSError, SyntaxError, ValueError) as exc:
        result["error"] = "%s: %s" % (type(exc).__name__, exc)
        return result
    result["version"] = values.get("__version__")
    result["gpu"] = any(values.get(name) is not None for name in ("cuda", "hip", "xpu")) or "cuda" not in values
    return result
