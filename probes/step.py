"""Training-step probe: runs inside the interpreter under test, Python 3.8+.

Standard library only at the top level: torch and accelerate are imported inside main(), in the
target, never in envdoctor's process. Reports device facts (torch build, GPUs, driver, MPS, CPUs,
/dev/shm) and, unless asked for facts only, runs one real training step per precision ("no",
"fp16", "bf16") through ``accelerate.Accelerator(mixed_precision=...)`` in this one process (imports
paid once), with accelerate's global state reset between precisions. Each step records what really
happened (the dtype a Linear layer computed in, the grad scaler, finiteness, whether the weights
moved), never only "no exception". When the request has "fp8" ({"min_capability": [8, 9]}, from the
matrix), an fp8 step follows only where the hardware claims fp8: a CUDA GPU (not ROCm) of at least that
compute capability; elsewhere its record says "attempted": false and nothing is tried. Either way it
lists the fp8 backends accelerate looks for (torchao, transformer_engine, msamp) by module spec,
without importing them.

Test-only switches (environment variables, never set by envdoctor itself):
  ENVDOCTOR_TEST_STEP_POISON=nan   every input is NaN (a step that produces a non-finite loss)
  ENVDOCTOR_TEST_STEP_HANG=FILE    the probe (and a child of it) sleeps before stepping: a step that
                                   hangs; "PID PGID CHILD_PID" is written to FILE
  ENVDOCTOR_TEST_STEP_RAISE=1      the forward pass raises RuntimeError (a step that raises)
"""

import ctypes
import importlib
import importlib.util
import math
import os
import sys
import time
import traceback

SCHEMA = "envdoctor.step/1"
PRECISIONS = ("no", "fp16", "bf16")
TIMED_STEPS = 5  # step time: the fastest of these, after the first (verified) step
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")  # x86 AVX-512 BF16 / AMX, aarch64 "bf16" feature
FP8_BACKENDS = ("torchao", "transformer_engine", "msamp")  # accelerate's order: AO, TE, MS-AMP
FP8_MODULES = ("torchao.", "transformer_engine.", "msamp.")  # where the layers an fp8 backend swaps in live


def _error(exc):
    return {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "traceback": traceback.format_exc()[-4000:],
    }


def _import(name):
    """(module, record): the record says whether it imported, its version or the exact error."""
    try:
        module = __import__(name)
    except BaseException as exc:  # a broken install raises anything, SystemExit included
        return None, {"ok": False, "version": None, "error": _error(exc)}
    return module, {"ok": True, "version": str(getattr(module, "__version__", "")), "error": None}


def _shm():
    try:
        st = os.statvfs("/dev/shm")
    except (OSError, AttributeError):
        return None
    return {"total_bytes": st.f_blocks * st.f_frsize, "free_bytes": st.f_bavail * st.f_frsize}


def _cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (Linux), or None where they cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("flags", "Features"):
                    return value.split()
    except OSError:
        return None
    return None


def _driver_cuda():
    """The CUDA version the installed NVIDIA driver supports (cuDriverGetVersion), or None without one."""
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        version = ctypes.c_int(0)
        try:
            if lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
                return None
        except AttributeError:
            return None
        return "%d.%d" % (version.value // 1000, (version.value % 1000) // 10)
    return None


def device_facts(torch):
    flags = _cpu_flags()
    affinity = getattr(os, "sched_getaffinity", None)
    facts = {
        "cpu_count": os.cpu_count(),
        "cpu_usable": len(affinity(0)) if affinity else None,
        "cpu_bf16_flags": None if flags is None else [f for f in BF16_CPU_FLAGS if f in flags],
        "shm": _shm(),
        "driver_cuda": _driver_cuda(),
        "torch_build": None,
        "torch_cuda": None,
        "torch_hip": None,
        "cuda_available": False,
        "device_count": 0,
        "devices": [],
        "mps_available": False,
        "cuda_error": None,
    }
    if torch is None:
        return facts
    version = getattr(torch, "version", None)
    facts["torch_cuda"] = getattr(version, "cuda", None)
    facts["torch_hip"] = getattr(version, "hip", None)
    facts["torch_build"] = "rocm" if facts["torch_hip"] else "cuda" if facts["torch_cuda"] else "cpu"
    try:
        facts["cuda_available"] = bool(torch.cuda.is_available())
        facts["device_count"] = int(torch.cuda.device_count()) if facts["cuda_available"] else 0
        for index in range(facts["device_count"]):
            props = torch.cuda.get_device_properties(index)
            facts["devices"].append(
                {
                    "index": index,
                    "name": str(props.name),
                    "capability": [int(props.major), int(props.minor)],
                    "total_memory": int(props.total_memory),
                }
            )
    except Exception as exc:  # a CUDA build with a too-old driver raises here
        facts["cuda_error"] = _error(exc)
    try:
        mps = getattr(torch.backends, "mps", None)
        facts["mps_available"] = bool(mps is not None and mps.is_available())
    except Exception:
        facts["mps_available"] = False
    return facts


def _reset_accelerate():
    """accelerate keeps process-wide state (AcceleratorState, GradientState): clear it before each precision."""
    state = importlib.import_module("accelerate.state")
    for name in ("AcceleratorState", "GradientState"):  # GradientState: accelerate >= 0.10
        cls = getattr(state, name, None)
        if cls is None:
            continue
        reset = getattr(cls, "_reset_state", None)
        if reset is None:
            getattr(cls, "_shared_state", {}).clear()
            continue
        try:
            reset(True)  # also resets PartialState (accelerate >= 0.20)
        except TypeError:
            reset()


def _sync(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Model:
    """A tiny MLP built from a config: nothing downloaded."""

    config = {"in": 128, "hidden": 512, "out": 128, "batch": 32}

    @classmethod
    def build(cls, torch, middle=False):
        """``middle``: one more hidden Linear (fp8: accelerate's torchao path keeps the first and last Linear
        in high precision, so only a middle one is converted)."""
        c = cls.config
        inner = [torch.nn.Linear(c["hidden"], c["hidden"]), torch.nn.ReLU()] if middle else []
        return torch.nn.Sequential(
            torch.nn.Linear(c["in"], c["hidden"]),
            torch.nn.ReLU(),
            *inner,
            torch.nn.Linear(c["hidden"], c["out"]),
        )

    @classmethod
    def batch(cls, torch):
        c = cls.config
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(c["batch"], c["in"], generator=generator)
        y = torch.randn(c["batch"], c["out"], generator=generator)
        if os.environ.get("ENVDOCTOR_TEST_STEP_POISON") == "nan":
            x = torch.full_like(x, float("nan"))
        return x, y


def _finite(value):
    return value is not None and not (math.isnan(value) or math.isinf(value))


def one_step(torch, accelerate, precision):
    """Run one training step in ``precision``; the record of what really happened."""
    record = {
        "precision": precision,
        "ran": False,
        "error": None,
        "device": None,
        "compute_dtype": None,
        "native_amp": None,
        "scaler": None,
        "loss": None,
        "loss_finite": None,
        "grads_finite": None,
        "weights_changed": None,
        "step_skipped": None,
        "step_seconds": None,
        "peak_memory_bytes": None,
    }
    try:
        _reset_accelerate()
        torch.manual_seed(0)
        accelerator = accelerate.Accelerator(mixed_precision=precision)
        device = accelerator.device
        record["device"] = str(device)
        record["native_amp"] = bool(getattr(accelerator, "native_amp", False))
        model = _Model.build(torch, middle=precision == "fp8")
        seen = []
        model[0].register_forward_hook(lambda _m, _i, out: seen.append(str(out.dtype).replace("torch.", "")))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = _Model.batch(torch)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=len(x))
        model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
        if precision == "fp8":
            record["mixed_precision"] = str(getattr(accelerator, "mixed_precision", ""))  # "fp16": it fell back
            record["fp8_layers"] = _fp8_layers(model)
        before = [p.detach().clone() for p in model.parameters()]
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        timings = []
        for step in range(1 + TIMED_STEPS):  # the first is verified, the others timed (it pays set-up costs)
            for inputs, targets in loader:
                if os.environ.get("ENVDOCTOR_TEST_STEP_RAISE") == "1":
                    raise RuntimeError("envdoctor test: ENVDOCTOR_TEST_STEP_RAISE=1 made the forward pass raise")
                _sync(torch, device)
                start = time.perf_counter()
                with accelerator.autocast():
                    output = model(inputs)
                    loss = torch.nn.functional.mse_loss(output.float(), targets.float())
                accelerator.backward(loss)
                if step == 0:
                    grads = [p.grad for p in model.parameters() if p.grad is not None]
                    record["grads_finite"] = bool(grads) and all(bool(torch.isfinite(g).all()) for g in grads)
                optimizer.step()
                optimizer.zero_grad()
                _sync(torch, device)
                timings.append(time.perf_counter() - start)
                if step == 0:
                    record["loss"] = float(loss.detach().float().item())
                    record["loss_finite"] = _finite(record["loss"])
                    after = list(model.parameters())
                    record["weights_changed"] = any(not torch.equal(a, b.detach()) for a, b in zip(before, after))  # noqa: B905 (3.8)
                    record["step_skipped"] = bool(getattr(accelerator, "optimizer_step_was_skipped", False))
        record["step_seconds"] = min(timings[1:])
        record["compute_dtype"] = "float8" if record.get("fp8_layers") else seen[0] if seen else None
        scaler = getattr(accelerator, "scaler", None)
        record["scaler"] = None if scaler is None else {"present": True, "scale": float(scaler.get_scale())}
        if device.type == "cuda":
            record["peak_memory_bytes"] = int(torch.cuda.max_memory_allocated(device))
        record["ran"] = True
    except BaseException as exc:  # the exact error is the product here
        if isinstance(exc, KeyboardInterrupt):
            raise
        record["error"] = _error(exc)
    return record


def _fp8_layers(model):
    """The classes of the layers an fp8 backend swapped in (torchao's Float8Linear, transformer_engine's Linear)."""
    found = set()
    for module in model.modules():
        cls = type(module)
        if cls.__module__.startswith(FP8_MODULES):
            found.add("%s.%s" % (cls.__module__, cls.__name__))
    return sorted(found)


def fp8_capable(device, min_capability):
    """Whether the hardware claims fp8: a CUDA (not ROCm) GPU 0 of at least ``min_capability``."""
    devices = device.get("devices") or []
    if not device.get("cuda_available") or device.get("torch_hip") or not devices:
        return False
    return tuple(devices[0].get("capability") or ()) >= tuple(min_capability)


def fp8_step(torch, accelerate, device, fp8):
    """The fp8 record: one step where the hardware claims fp8 (``fp8["min_capability"]``), else not attempted."""
    backends = {name: importlib.util.find_spec(name) is not None for name in FP8_BACKENDS}
    if not fp8_capable(device, fp8.get("min_capability") or (8, 9)):
        return {"precision": "fp8", "attempted": False, "ran": False, "error": None, "fp8_backends": backends}
    record = one_step(torch, accelerate, "fp8")
    record.update({"attempted": True, "fp8_backends": backends})
    return record


def _hang(pidfile):
    """Test only: a step that never ends, with a child in its process group; pids written to ``pidfile``."""
    child = os.fork()
    if child == 0:  # stays in the probe's process group
        time.sleep(3600)
        os._exit(0)
    with open(pidfile, "w", encoding="utf-8") as fh:
        fh.write("%d %d %d\n" % (os.getpid(), os.getpgid(0), child))
    time.sleep(3600)


def _said(request, text):
    """Appends ``text`` to the progress file envdoctor follows (``request["progress"]``), if any."""
    try:
        if request.get("progress"):
            with open(request["progress"], "a", encoding="utf-8") as out:
                out.write(text + "\n")
    except OSError:
        pass


def main(request):
    torch, torch_record = _import("torch")
    result = {
        "schema": SCHEMA,
        "python": sys.executable,
        "imports": {"torch": torch_record},
        "device": device_facts(torch),
        "steps": [],
    }
    if request.get("facts_only") or torch is None:
        return result
    accelerate, accelerate_record = _import("accelerate")
    result["imports"]["accelerate"] = accelerate_record
    if accelerate is None:
        return result
    if os.environ.get("ENVDOCTOR_TEST_STEP_HANG"):
        _hang(os.environ["ENVDOCTOR_TEST_STEP_HANG"])
    for precision in request.get("precisions") or PRECISIONS:
        _said(request, "precision %s" % precision)
        result["steps"].append(one_step(torch, accelerate, precision))
    if request.get("fp8"):
        if fp8_capable(result["device"], request["fp8"].get("min_capability") or (8, 9)):
            _said(request, "precision fp8")
        result["steps"].append(fp8_step(torch, accelerate, result["device"], request["fp8"]))
    return result
