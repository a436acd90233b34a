"""``envdoctor report`` as Markdown (for a GitHub issue) or JSON (schema ``envdoctor.bundle/1``), from the
bundle's JSON form (envdoctor.bundle.Bundle.to_dict, already redacted).

Markdown: a short table a maintainer reads first (versions, Python, platform, device, verdict), then one
collapsible ``<details>`` block with the whole stack, the device facts, every finding, the accelerate config,
pip's index configuration and the environment variables. Every string from the environment goes through the
Markdown renderer's escaping (envdoctor.render.markdown.md); file contents sit in a fence longer than any run
of backticks in them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from envdoctor.render.json import JSON_ESCAPES
from envdoctor.render.markdown import fenced, md


def render_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False).translate(JSON_ESCAPES) + "\n"


def render_markdown(data: Mapping[str, Any]) -> str:
    check, device, py, system = data["check"], data.get("device"), data["python"], data["system"]
    versions = {row["name"].lower(): row for row in data["stack"]}
    lines = [
        "## envdoctor report",
        "",
        "| | |",
        "| --- | --- |",
        f"| envdoctor | {md(data['envdoctor_version'])} |",
        f"| Python | {md(py['version'])} ({md(py['implementation'])}) at {md(py['executable'])} |",
        f"| Platform | {md(system['platform'])} ({md(system['os'])}) |",
    ]
    for name in ("torch", "transformers", "accelerate", "peft", "huggingface-hub", "numpy"):
        row = versions.get(name) or versions.get(name.replace("-", "_"))
        lines.append(f"| {name} | {md(_version(row)) if row else 'not installed'} |")
    lines += [
        f"| Device | {md(_device_line(device, data['device_note']))} |",
        f"| accelerate config | {_config_line(data['accelerate_config'])} |",
        f"| envdoctor check | **{md(check['verdict'])}** |",
        "",
        "<details>",
        "<summary>Full environment: stack, device, findings, configuration</summary>",
        "",
        *_details(data),
        "</details>",
        "",
        _privacy(data["redacted"]),
        "",
    ]
    return "\n".join(lines)


def _details(data: Mapping[str, Any]) -> list[str]:
    """The collapsed part of the bundle: the whole stack, Python and platform, device, findings, configuration."""
    check, device, py, system = data["check"], data.get("device"), data["python"], data["system"]
    lines = [
        "### Training stack",
        "",
        "| package | version | build | wheel | installer | source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in data["stack"]:
        cells = [
            row["name"],
            row["version"] or "(no version)",
            row["build"],
            row["wheel"],
            row["installer"],
            row["source"],
        ]
        extra = f" ({row['copies']} copies installed)" if row["copies"] > 1 else ""
        lines.append("| " + " | ".join(md(str(c)) for c in cells) + extra + " |")
    lines += ["", "### Python and platform", ""]
    lines += [f"- {key}: {md(str(value))}" for key, value in (*py.items(), *system.items())]
    lines += ["", "### Device", "", f"- {md(data['device_note'] or 'no device facts')}"]
    lines += [f"- {key}: {md(_short(value))}" for key, value in (device or {}).items()]
    lines += ["", "### Findings (`envdoctor check`)", "", f"**{md(check['verdict'])}**", ""]
    for f in check["findings"]:
        state = f", suppressed: {md(f['suppressed'])}" if f.get("suppressed") else ""
        lines.append(f"- {md(f['severity'])}{state} \\[{md(f['id'])}\\] {md(f['title'])}")
        lines += [f"  - fix: {md(x)}" for x in (*f["fix"], *f["advice"])]
    lines += [f"- could not check {md(s['check'])}: {md(s['reason'])}" for s in check["skipped"]]
    lines += ["", "### accelerate config", ""]
    config = data["accelerate_config"]
    if config["text"] is None:
        lines.append(f"not found (looked for {md(config['path'])})")
    else:
        lines += [f"{md(config['path'])}:", "", *fenced(config["text"].splitlines(), "yaml")]
    pip = data["pip"]
    lines += ["", "### pip", ""]
    lines += [f"- index-url: {md(pip['index_url'] or 'the default (PyPI)')}"]
    lines += [f"- extra-index-url: {md(u)}" for u in pip["extra_index_urls"]]
    lines += [f"- find-links: {md(u)}" for u in pip["find_links"]]
    lines += [f"- config file: {md(p)}" for p in pip["config_files"]]
    lines += ["", "### Environment variables", ""]
    lines += [f"- {md(k)}={md(v)}" for k, v in data["environment"].items()] or ["none of the stack's variables is set"]
    return [*lines, ""]


def _version(row: Mapping[str, Any]) -> str:
    return " ".join(x for x in (row["version"] or "(no version)", f"({row['source']})" if row["source"] else "") if x)


def _config_line(config: Mapping[str, Any]) -> str:
    return md(config["path"]) if config["text"] is not None else "not found"


def _device_line(device: Mapping[str, Any] | None, note: str) -> str:
    if not device:
        return note or "not read"
    gpus = device.get("devices") or []
    if gpus:
        names = ", ".join(f"{g['name']} (cc {'.'.join(map(str, g['capability']))})" for g in gpus)
        what = f"{len(gpus)} GPU: {names}; driver CUDA {device.get('driver_cuda') or 'unknown'}"
    elif device.get("mps_available"):
        what = "Apple MPS"
    else:
        what = f"no GPU (CUDA available: {'yes' if device.get('cuda_available') else 'no'})"
    build = device.get("torch_build") or "?"
    cuda = f" {device['torch_cuda']}" if device.get("torch_cuda") else ""
    return f"torch build {build}{cuda}; {what}; {device.get('cpu_usable') or device.get('cpu_count')} CPUs"


def _short(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _privacy(redacted: bool) -> str:
    if redacted:
        return (
            "_Redacted by envdoctor: token and secret values, credentials in URLs, the home directory (`~`), "
            "the user name (`<user>`) and the host name (`<host>`)._"
        )
    return (
        "_Not redacted (`--no-redact`): paths, the user name and the host name are shown as they are; "
        "token and secret values and credentials in URLs are still masked._"
    )
