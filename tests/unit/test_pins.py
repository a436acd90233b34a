"""Pin sets and how each line is written so pip accepts it; the user's pip configuration as pip reads it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from envdoctor.pins import pin_set, render, stack
from envdoctor.pipconfig import PipConfig
from envdoctor.planner import Move, Plan
from envdoctor.reqfile import parse_requirements_text
from envdoctor.versions import canonical
from tests.fakes import Fake, make_site, scan

NO_CONFIG = PipConfig()


def site_with(tmp_path: Path, dists: dict[str, Fake], direct: dict[str, dict[str, object]] | None = None) -> Path:
    site = make_site(tmp_path / "site", dists)
    for name, data in (direct or {}).items():
        [info] = site.glob(f"{name.replace('-', '_')}-*.dist-info")
        (info / "direct_url.json").write_text(json.dumps(data))
    return site


def lines(text: str) -> list[str]:
    return [x for x in text.splitlines() if x and not x.startswith("#")]


def test_the_stack_is_the_watched_packages_and_what_they_require(tmp_path: Path) -> None:
    inv = scan(
        site_with(
            tmp_path,
            {
                "peft": Fake("0.15.0", ["accelerate>=0.21", "pytest; extra == 'test'"]),
                "accelerate": Fake("0.31.0", ["pyyaml"]),
                "pyyaml": Fake("6.0.3"),
                "pytest": Fake("8.0"),
                "unrelated": Fake("1.0"),
            },
        )
    )
    assert [d.name for d in stack(inv, ["peft"])] == ["accelerate", "peft", "pyyaml"]
    assert "unrelated" in [d.name for d in stack(inv, ["peft"], everything=True)]


def test_a_moved_line_carries_its_reason_and_the_file_is_what_pip_reads(tmp_path: Path) -> None:
    inv = scan(site_with(tmp_path, {"peft": Fake("0.15.0", ["accelerate"]), "accelerate": Fake("0.31.0")}))
    move = Move(canonical("accelerate"), "accelerate", "0.31.0", "0.32.1", "accelerate==0.32.1", ("symbol-missing: x",))
    pins = pin_set(inv, Plan(moves=(move,)), ["peft"], pip=NO_CONFIG)
    text = render(pins, "requirements", ["header"])
    assert "accelerate==0.32.1  # was 0.31.0; fixes symbol-missing" in text.splitlines()
    assert lines(text) == ["accelerate==0.32.1  # was 0.31.0; fixes symbol-missing", "peft==0.15.0"]
    parsed = parse_requirements_text(text)
    assert [str(x.requirement) for x in parsed.lines] == ["accelerate==0.32.1", "peft==0.15.0"]
    only = render(pin_set(inv, Plan(moves=(move,)), ["peft"], pip=NO_CONFIG, changes_only=True), "requirements")
    assert lines(only) == ["accelerate==0.32.1  # was 0.31.0; fixes symbol-missing"]
    assert render(pins, "pip") == "pip install accelerate==0.32.1 peft==0.15.0\n"


def test_a_range_move_says_pip_picks(tmp_path: Path) -> None:
    inv = scan(site_with(tmp_path, {"protobuf": Fake("4.21.12")}))
    move = Move(canonical("protobuf"), "protobuf", "4.21.12", None, "protobuf<4", ("tensorboard-old-protos: x",))
    text = render(pin_set(inv, Plan(moves=(move,)), ["protobuf"], pip=NO_CONFIG), "requirements")
    assert lines(text) == ["protobuf<4  # was 4.21.12; fixes tensorboard-old-protos, pip picks the release"]


def test_a_pytorch_local_build_gets_the_index_it_needs(tmp_path: Path) -> None:
    inv = scan(site_with(tmp_path, {"torch": Fake("2.13.0+cpu"), "torchvision": Fake("0.28.0+cu128")}))
    text = render(pin_set(inv, Plan(), [], pip=NO_CONFIG), "requirements")
    assert lines(text)[:2] == [
        "--extra-index-url https://download.pytorch.org/whl/cpu",
        "--extra-index-url https://download.pytorch.org/whl/cu128",
    ]
    parsed = parse_requirements_text(text)
    assert parsed.extra_index_urls == (
        "https://download.pytorch.org/whl/cpu",
        "https://download.pytorch.org/whl/cu128",
    )
    assert [str(x.requirement) for x in parsed.lines] == ["torch==2.13.0+cpu", "torchvision==0.28.0+cu128"]


def test_a_local_build_the_users_find_links_provides_needs_no_index_line(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    inv = scan(site_with(tmp_path, {"torch": Fake("2.13.0+cpu")}))
    text = render(pin_set(inv, Plan(), [], pip=PipConfig(find_links=(str(wheels),))), "requirements")
    [line] = lines(text)
    assert line.startswith("torch==2.13.0+cpu  # a PyTorch cpu build: your pip finds it in ")


def test_what_no_other_machine_can_install_is_left_out_with_the_reason(tmp_path: Path) -> None:
    inv = scan(
        site_with(
            tmp_path,
            {"mylib": Fake("0.1"), "patched": Fake("1.0+local"), "fromgit": Fake("2.0")},
            direct={
                "mylib": {"url": "file:///home/me/mylib", "dir_info": {"editable": True}},
                "fromgit": {
                    "url": "https://user:s3cret@github.com/org/fromgit.git",
                    "vcs_info": {"vcs": "git", "commit_id": "abc123"},
                },
            },
        )
    )
    text = render(pin_set(inv, Plan(), ["mylib", "patched", "fromgit"], pip=NO_CONFIG), "requirements")
    assert "s3cret" not in text
    assert lines(text) == [
        "fromgit @ git+https://user:****@github.com/org/fromgit.git@abc123  # from version control, "
        "at the installed commit"
    ]
    assert "# mylib 0.1: an editable install of file:///home/me/mylib; left out" in text
    assert "# patched==1.0+local: a local build (+local) that no index serves; left out" in text
    constraints = render(pin_set(inv, Plan(), ["fromgit"], pip=NO_CONFIG), "constraints")
    assert lines(constraints) == []  # pip refuses direct URLs in a constraints file: commented with why
    assert "not allowed in a constraints file" in constraints


def test_pip_configuration_is_read_like_pip_reads_it(tmp_path: Path) -> None:
    (tmp_path / "etc" / "pip").mkdir(parents=True)
    (tmp_path / "etc" / "pip" / "pip.conf").write_text(
        "[global]\nindex-url = https://global.example/simple\nfind-links = /a /b\n"
        "[install]\nextra-index-url = https://one.example/simple\n  https://two.example/simple\n"
    )
    env = {"XDG_CONFIG_DIRS": str(tmp_path / "etc"), "HOME": str(tmp_path / "home")}
    conf = PipConfig.load(None, env)
    assert conf.index_url == "https://global.example/simple"
    assert conf.extra_index_urls == ("https://one.example/simple", "https://two.example/simple")
    assert conf.find_links == ("/a", "/b")
    over = PipConfig.load(None, {**env, "PIP_INDEX_URL": "https://env.example/simple"})
    assert over.index_url == "https://env.example/simple"
    assert PipConfig.load(None, {**env, "PIP_CONFIG_FILE": "/dev/null"}).index_url is None


def test_apply_from_a_bang_shell_names_what_the_kernel_still_maps(tmp_path: Path) -> None:
    """`!envdoctor pin --apply` runs in a child of the kernel: the restart advice is about the kernel's modules
    (its mapped files that pip replaced), not envdoctor's own process."""
    import shutil
    import subprocess
    import sys

    from envdoctor.cli import restart_after_apply
    from envdoctor.kernel import Place
    from tests.fakes import write_dist

    site = tmp_path / "site"
    write_dist(site, "fastext", Fake("1.0", files={"fastext/_speedups.so": "old code"}))
    code = "import mmap, sys; f = open(sys.argv[1], 'rb'); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ); print('mapped', flush=True); sys.stdin.read()"
    kernel = subprocess.Popen(
        [sys.executable, "-c", code, str(site / "fastext/_speedups.so")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert kernel.stdout is not None and kernel.stdout.readline() == "mapped\n"
        # what pip does: move the old package aside (~astext), install the new one, delete the old copy
        (site / "fastext").rename(site / "~astext")
        shutil.rmtree(site / "fastext-1.0.dist-info")
        write_dist(site, "fastext", Fake("2.0", files={"fastext/_speedups.so": "new code"}))
        (site / "~astext" / "_speedups.so").unlink()
        place = Place("jupyter", kernel.pid)
        changed = ["fastext 1.0 -> 2.0", "pure 1.0 -> 2.0"]
        assert restart_after_apply(place, changed, [str(site)]) == (
            "Restart the kernel (Kernel > Restart) before training: the kernel runs the old code of fastext until it restarts"
        )
        assert "if the kernel imported any of fastext, pure" in restart_after_apply(
            Place("colab"), changed, [str(site)]
        )
        assert "Runtime > Restart session" in restart_after_apply(Place("colab"), changed, [str(site)])
        assert (
            restart_after_apply(Place(), changed, [str(site)]) == ""
        )  # not in a notebook: envdoctor's own process is no kernel
    finally:
        kernel.kill()
        kernel.communicate()


def test_apply_when_pip_fails_says_what_changed_and_how_to_roll_back(
    fake_venv: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from envdoctor.apply import apply
    from envdoctor.inventory import Inventory
    from envdoctor.pinning import PinResult, Verification
    from envdoctor.report import Report
    from envdoctor.target import Target
    from tests.fakes import write_dist

    python, site = fake_venv
    write_dist(site, "accelerate", Fake("0.31.0"))
    inv = Inventory.from_payload(Target.resolve(python).probe("inventory", {}, timeout=60))
    move = Move(canonical("accelerate"), "accelerate", "0.31.0", "0.32.1", "accelerate==0.32.1", ("symbol-missing: x",))
    plan = Plan(moves=(move,))
    result = PinResult(inv, Report(), plan, pin_set(inv, plan, ["accelerate"], pip=NO_CONFIG), Verification(True, "ok"))
    for key, value in {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    said: list[str] = []
    rollback = tmp_path / "rollback.txt"
    done = apply(result, rollback_file=rollback, confirm=lambda _q: True, say=said.append, timeout=300)
    assert not done.ok and done.changed == ()
    assert done.message.startswith("pip failed (") and "The environment now: nothing changed" in done.message
    assert done.message.endswith(f"To roll back: {done.rollback_command}")
    assert rollback.read_text().splitlines()[-1] == "accelerate==0.31.0"  # written before pip ran
    assert any(line.startswith("to undo: ") for line in said)


def test_with_nothing_watched_the_file_is_every_top_level_distribution_and_its_closure(tmp_path: Path) -> None:
    """No watched package installed (a requests venv): the file still names the whole set, so that
    `envdoctor pin > requirements.txt` never leaves a file of comments or of the moved lines only."""
    inv = scan(
        site_with(
            tmp_path,
            {
                "requests": Fake("2.34.2", ["idna<4,>=2.5", "urllib3"]),
                "idna": Fake("3.20"),
                "urllib3": Fake("2.8.0"),
                "lonely": Fake("1.0"),
                "ring-a": Fake("1.0", ["ring-b"]),  # two that only require each other
                "ring-b": Fake("1.0", ["ring-a"]),
                "pip": Fake("23.2.1"),
            },
        )
    )
    pins = pin_set(inv, Plan(), ["peft", "accelerate"], pip=NO_CONFIG)
    assert lines(render(pins, "requirements")) == [
        "idna==3.20",
        "lonely==1.0",
        "requests==2.34.2",
        "ring-a==1.0",
        "ring-b==1.0",
        "urllib3==2.8.0",
    ]
    assert pins.scope == (
        "none of the packages envdoctor watches is installed: the file pins the 3 distributions nothing else "
        "requires (lonely, requests, ring-a) and what they require: 6 distributions"
    )
    move = Move(canonical("idna"), "idna", "3.20", None, "idna<4,>=2.5", ("requirement-conflict: x",))
    moved = lines(render(pin_set(inv, Plan(moves=(move,)), [], pip=NO_CONFIG), "requirements"))
    assert len(moved) == 6 and moved[0].startswith("idna<4,>=2.5  # was 3.20")


def test_a_moved_cpu_torch_stays_on_its_index(tmp_path: Path) -> None:
    """torch moved by range (no plan without it): `torch>=2.1` from PyPI alone is the CUDA build; the file
    keeps the installed build's index."""
    inv = scan(site_with(tmp_path, {"torch": Fake("2.0.1+cpu"), "transformers": Fake("4.53.0")}))
    move = Move(canonical("torch"), "torch", "2.0.1+cpu", None, "torch>=2.1", ("transformers-floor: x",))
    text = render(pin_set(inv, Plan(moves=(move,)), ["transformers"], pip=NO_CONFIG), "requirements")
    assert lines(text)[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"
    assert "torch>=2.1  # was 2.0.1+cpu; fixes transformers-floor, pip picks the release; the PyTorch cpu build" in text


def test_the_header_has_one_verdict_and_it_names_what_is_left(tmp_path: Path) -> None:
    from envdoctor.pinning import PinResult, Verification
    from envdoctor.report import Finding, Report, Severity

    inv = scan(site_with(tmp_path, {"requests": Fake("2.34.2", ["idna"]), "idna": Fake("2.4")}))
    left = Finding("wheel-unsupported", Severity.ERROR, "idna 2.4 was built for another Python", packages=("idna",))
    plan = Plan(remaining=(left,))
    pins = pin_set(inv, plan, [], pip=NO_CONFIG)
    said = (
        "pip 23.2.1 resolves it (0 to install); envdoctor's checks of the resolved set find no error but the 1 listed"
    )
    header = PinResult(inv, Report(), plan, pins, Verification(True, said)).header()
    verdicts = [h for h in header if h.startswith(("verified", "NOT verified"))]
    assert verdicts == [f"verified, but NOT a complete fix (1 error NOT fixed, below): {said}"]
    assert "NOT fixed: [wheel-unsupported] idna 2.4 was built for another Python" in header
    healthy = PinResult(inv, Report(), Plan(), pins, Verification(True, "pip resolves it")).header()
    assert [h for h in healthy if h.startswith(("verified", "NOT verified", "the environment"))] == [
        "verified: the environment has no error, these are its current versions; pip resolves it"
    ]
