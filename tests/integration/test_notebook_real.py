"""Notebooks and scripts for real: a real Jupyter kernel (ipykernel from the jupyter-stack bed's pins, driven by
nbclient) that imports PyYAML 6.0.1, `%pip install`s 6.0.2 and asks envdoctor, in the cell and from `!`; and
``assert_compatible()`` at the top of a real script on the real clear_device_cache beds."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import venv
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import beds

ROOT = Path(__file__).resolve().parents[2]
ESCAPE = re.compile(r"\x1b")
SCRIPT = """\
import envdoctor

result = envdoctor.assert_compatible()
assert result is None, result
"""


def run_script(bed: beds.Bed, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ENVDOCTOR_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run(
        [str(bed.python), str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
    )


@pytest.mark.venv
def test_assert_compatible_at_the_top_of_a_script_raises_with_the_fix(
    peft_old_accelerate: beds.Bed, tmp_path: Path
) -> None:
    proc = run_script(peft_old_accelerate, tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "envdoctor.errors.IncompatibleEnvironmentError: BROKEN: 1 error" in proc.stderr
    assert "[symbol-missing] peft 0.15.0 imports clear_device_cache from accelerate.utils.memory" in proc.stderr
    assert "fix: accelerate>=0.32.0" in proc.stderr


@pytest.mark.venv
def test_assert_compatible_on_a_healthy_bed_returns_none_and_prints_nothing(
    peft_new_accelerate: beds.Bed, tmp_path: Path
) -> None:
    proc = run_script(peft_new_accelerate, tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


# ---- the real Jupyter kernel ----

OLD, NEW = "6.0.1", "6.0.2"


@pytest.fixture(scope="module")
def kernel_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv of its own (the notebook installs into it): the jupyter-stack bed's pins, pip, PyYAML 6.0.1, and
    envdoctor importable (a .pth to this checkout) with its `envdoctor` command."""
    root = tmp_path_factory.mktemp("kernel") / "venv"
    venv.EnvBuilder(with_pip=True, symlinks=True).create(root)
    python = root / "bin" / "python"
    pins = [line for line in (beds.LOCKS / "jupyter-stack.txt").read_text().splitlines() if line and line[0] != "#"]
    beds.pip("install", "--no-deps", "--only-binary=:all:", *pins, f"pyyaml=={OLD}", python=python)
    site = next((root / "lib").glob("python3.*/site-packages"))
    (site / "envdoctor-checkout.pth").write_text(f"{ROOT}\n")
    command = root / "bin" / "envdoctor"
    command.write_text(f"#!{python}\nimport sys\nfrom envdoctor.cli import main\nsys.exit(main())\n")
    command.chmod(0o755)
    yield root


def run_notebook(root: Path, cells: list[str], tmp_path: Path) -> dict[str, Any]:
    """Run ``cells`` in a real kernel of ``root`` (nbclient, as `jupyter nbconvert --execute` does); the
    executed notebook, as saved to disk."""
    import nbformat
    from nbclient import NotebookClient

    spec = tmp_path / "share" / "jupyter" / "kernels" / "envdoctor-test"
    spec.mkdir(parents=True)
    env = {
        "PATH": f"{root / 'bin'}:{os.environ['PATH']}",
        "ENVDOCTOR_CACHE_DIR": str(tmp_path / "cache"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    kernel = {
        "argv": [str(root / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "envdoctor test",
        "language": "python",
        "env": env,
    }
    (spec / "kernel.json").write_text(json.dumps(kernel))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(tmp_path / "share" / "jupyter")
    try:
        client = NotebookClient(
            nb, kernel_name="envdoctor-test", timeout=600, resources={"metadata": {"path": str(tmp_path)}}
        )
        client.execute()
    finally:
        if old is None:
            del os.environ["JUPYTER_PATH"]
        else:
            os.environ["JUPYTER_PATH"] = old
    saved = tmp_path / "executed.ipynb"
    nbformat.write(nb, str(saved))
    return dict(json.loads(saved.read_text()))


def outputs(nb: dict[str, Any], cell: int) -> str:
    """Everything cell ``cell`` shows as text (streams, text/plain), newlines as the notebook keeps them."""
    parts: list[str] = []
    for out in nb["cells"][cell]["outputs"]:
        if out["output_type"] == "stream":
            parts.append("".join(out["text"]))
        elif "data" in out:
            parts.append("".join(out["data"].get("text/plain", "")))
        elif out["output_type"] == "error":
            parts.append("\n".join(out["traceback"]))
    return "".join(parts)


def html_of(nb: dict[str, Any], cell: int) -> str:
    return "".join(
        "".join(out["data"]["text/html"]) for out in nb["cells"][cell]["outputs"] if "text/html" in out.get("data", {})
    )


def all_text(nb: dict[str, Any]) -> str:
    return json.dumps([c.get("outputs", []) for c in nb["cells"]])


def paths_whole(text: str, root: Path) -> list[str]:
    """Every path under ``root`` the text names that does not exist: a path broken by a line break is one."""
    pattern = re.compile(re.escape(str(root)) + r"[^\s'\"(),:;\]]*")
    return [p for p in pattern.findall(text) if not os.path.exists(p.rstrip("."))]


CELLS_BEFORE = [
    "import yaml\nprint('loaded', yaml.__version__, yaml.__with_libyaml__)",
]
CELLS_AFTER = [
    "import envdoctor\nreport = envdoctor.check()\nprint([f.title for f in report if f.id == 'module-stale'])",
    "report",
    "!envdoctor check",
    "%load_ext envdoctor\n%envdoctor",
]


@pytest.mark.venv
@pytest.mark.online
def test_a_real_kernel_sees_its_stale_module_in_the_cell_and_from_bang(kernel_venv: Path, tmp_path: Path) -> None:
    calm = run_notebook(kernel_venv, [*CELLS_BEFORE, *CELLS_AFTER], tmp_path / "calm")
    assert outputs(calm, 0).strip() == f"loaded {OLD} True"
    assert outputs(calm, 1).strip() == "[]"  # nothing was installed: no finding
    assert "module-stale" not in all_text(calm)

    nb = run_notebook(
        kernel_venv, [*CELLS_BEFORE, f"%pip install -q --no-deps pyyaml=={NEW}", *CELLS_AFTER], tmp_path / "live"
    )
    assert outputs(nb, 0).strip() == f"loaded {OLD} True"
    assert outputs(nb, 2).strip() == (
        f"['PyYAML {OLD} is loaded in this kernel, {NEW} is installed: restart the kernel before training']"
    )
    bang = outputs(nb, 4)
    assert "ERROR [module-stale] PyYAML was replaced on disk after this kernel loaded it" in bang
    assert f"({NEW} is installed now)" in bang and "_yaml.cpython" in bang
    assert "Restart the kernel (Kernel > Restart)" in bang
    assert "[kernel-modules-partial]" in bang
    assert "module-stale" in outputs(nb, 5)  # %envdoctor
    for cell in (3, 5):  # the cell's value: the short text, not the dataclass
        text = outputs(nb, cell)
        assert text.startswith("BROKEN: 1 error") and "Report(" not in text and len(text) < 2000
    for cell in (2, 3, 4, 5):  # no escape codes in envdoctor's saved outputs (pip's own, in cell 1, has some here)
        saved = json.dumps(nb["cells"][cell]["outputs"])
        assert "\\u001b" not in saved and not ESCAPE.search(outputs(nb, cell)), saved
    assert paths_whole(bang, kernel_venv) == []  # no line broken inside a path
    assert "\n" not in next(line for line in bang.splitlines() if "_yaml.cpython" in line)

    html = html_of(nb, 3)
    assert "BROKEN: 1 error" in html and "Errors (1)" in html
    assert f"PyYAML {OLD} is loaded in this kernel, {NEW} is installed" in html
    assert "# Restart the kernel (Kernel &gt; Restart)" in html  # the fix block
    assert "<details><summary>evidence (1)</summary>" in html
    screenshot_not_blank(html, tmp_path)


def screenshot_not_blank(html: str, tmp_path: Path) -> None:
    """Render the cell's HTML in headless Chromium (Debian's chromium-headless-shell) and check the picture."""
    chromium = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if chromium is None:
        pytest.skip("no Chromium: `apt-get install chromium-headless-shell` (Debian) renders the HTML view")
    page = tmp_path / "view.html"
    page.write_text(f"<!doctype html><meta charset='utf-8'><body style='margin:12px'>{html}</body>")
    png = tmp_path / "view.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}", "--window-size=900,420",
         page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    width, height, rows = decode_png(png.read_bytes())
    assert (width, height) == (900, 420)
    colours = {row[i : i + 3] for row in rows for i in range(0, len(row), 4)}
    dark = sum(1 for row in rows for i in range(0, len(row), 4) if sum(row[i : i + 3]) < 200)
    assert len(colours) > 20 and dark > 500, "the screenshot is blank"
    if os.environ.get("ENVDOCTOR_KEEP_SCREENSHOT"):
        shutil.copy(png, os.environ["ENVDOCTOR_KEEP_SCREENSHOT"])


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGBA bytes) of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    bpp = 4 if colour == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = line
        rows.append(bytes(line) if bpp == 4 else bytes(x for i in range(0, stride, 3) for x in (*line[i : i + 3], 255)))
    return width, height, rows
