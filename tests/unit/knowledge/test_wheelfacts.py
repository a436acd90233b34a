"""The harvested facts: well-formed, sorted, citing real wheels, and holding the cases the checks rely on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from envdoctor.knowledge.wheelfacts import Facts, containing
from envdoctor.versions import parse_version

FACTS = Path(__file__).resolve().parents[3] / "matrix" / "facts"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def files(kind: str) -> list[Path]:
    return sorted((FACTS / kind).glob("*.json"))


@pytest.mark.parametrize("path", files("releases"), ids=lambda p: p.stem)
def test_every_release_cites_a_wheel_and_its_sha256(path: Path) -> None:
    data = json.loads(path.read_text())
    assert data["package"] == path.stem
    versions = [r["version"] for r in data["releases"]]
    assert versions == sorted(versions, key=parse_version)
    for r in data["releases"]:
        assert r["wheel"].endswith(".whl") and SHA256.match(r["sha256"]), r
    assert (
        path.read_text() == json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    )  # as harvest.py writes


@pytest.mark.parametrize("path", files("symbols") + files("imports"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_range_names_harvested_releases(path: Path) -> None:
    data = json.loads(path.read_text())
    released = {r["version"] for r in json.loads((FACTS / "releases" / path.name).read_text())["releases"]}
    assert set(data["versions"]) == released
    table = data["modules"] if "modules" in data else data["imports"]
    for entry in table.values():
        names = entry.get("names", entry) if isinstance(entry, dict) else {}
        for ranges in names.values():
            for first, last in ranges:
                assert first in released and last in released


def test_the_headline_facts_are_there() -> None:
    facts = Facts(FACTS)
    provided = facts.providing("accelerate", "accelerate.utils.memory", "clear_device_cache")
    assert provided is not None
    assert "0.32.0" in provided and "0.31.0" not in provided
    imported = facts.imported("peft", "accelerate.utils.memory", "clear_device_cache")
    assert imported is not None
    assert containing(imported, parse_version("0.15.0"))[0] == "0.15.0"  # type: ignore[index]
    assert containing(imported, parse_version("0.14.0")) is None
    assert facts.release("accelerate", "0.32.0")["wheel"] == "accelerate-0.32.0-py3-none-any.whl"  # type: ignore[index]


def _in(ranges: list[list[str]], version: str) -> bool:
    return containing([(a, b) for a, b in ranges], parse_version(version)) is not None


def test_user_facing_facts_for_the_user_code_scan() -> None:
    """Which transformers releases have what, for user code (shared/FACTS.md, re-derived by harvest.py)."""
    symbols = json.loads((FACTS / "symbols" / "transformers.json").read_text())["modules"]["transformers.file_utils"]
    cache = symbols["names"]["TRANSFORMERS_CACHE"]
    assert _in(cache, "4.57.6") and not _in(cache, "5.0.0")
    assert _in(symbols["names"]["get_file_from_repo"], "4.45.2") and not _in(
        symbols["names"]["get_file_from_repo"], "4.57.6"
    )
    assert "transformers.file_utils" not in {r[0] for r in symbols.get("absent", [])}  # the module itself stays
    trainer = json.loads((FACTS / "signatures" / "transformers.json").read_text())["callables"][
        "transformers.Trainer.__init__"
    ]
    # 4.46.0 introduced processing_class but was yanked, so the first harvested release is 4.46.1
    assert _in(trainer["params"]["processing_class"], "4.46.1") and not _in(
        trainer["params"]["processing_class"], "4.45.2"
    )
    assert _in(trainer["params"]["tokenizer"], "4.45.2") and not _in(trainer["params"]["tokenizer"], "4.46.1")
    renamed = trainer["renamed"]["tokenizer"]["processing_class"]
    assert _in(renamed, "4.46.1") and _in(renamed, "4.57.6") and not _in(renamed, "5.0.0")
    assert not _in(trainer["var_keyword"], "5.0.0")  # from 5.0, tokenizer= is a TypeError


@pytest.mark.parametrize("path", files("signatures"), ids=lambda p: p.stem)
def test_every_signature_range_names_harvested_releases(path: Path) -> None:
    data = json.loads(path.read_text())
    released = {r["version"] for r in json.loads((FACTS / "releases" / path.name).read_text())["releases"]}
    assert set(data["versions"]) == released
    assert path.read_text() == json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    for callable_ in data["callables"].values():
        tables = [callable_[k] for k in ("params", "popped", "unused", "inherits") if k in callable_]
        tables += list(callable_["renamed"].values())
        runs = [callable_["var_keyword"], *(rs for t in tables for rs in t.values())]
        for first, last in (r for rs in runs for r in rs):
            assert first in released and last in released


def _symbols(package: str, module: str) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads((FACTS / "symbols" / f"{package}.json").read_text())["modules"][module]
    return entry


def _callable(package: str, target: str) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads((FACTS / "signatures" / f"{package}.json").read_text())["callables"][target]
    return entry


def _until(ranges: list[list[str]], last: str, first_without: str) -> bool:
    return _in(ranges, last) and not _in(ranges, first_without)


def _from(ranges: list[list[str]], first: str, last_without: str) -> bool:
    return _in(ranges, first) and not _in(ranges, last_without)


def test_user_facing_facts_huggingface_hub() -> None:
    """Each boundary read in the wheels named (shared/FACTS.md); the 1.0.0 ones also by a real run."""
    top = _symbols("huggingface-hub", "huggingface_hub")["names"]
    # huggingface_hub-0.25.2: file_download.py line 579 `def cached_download(`, __init__.py line 132; 0.26.0: neither
    assert _until(top["cached_download"], "0.25.2", "0.26.0")
    assert _until(
        _symbols("huggingface-hub", "huggingface_hub.file_download")["names"]["cached_download"], "0.25.2", "0.26.0"
    )
    # huggingface_hub-0.36.2 __init__.py lines 503/532/477 ("Repository", "HfFolder", "InferenceApi"); 1.0.0: gone
    # (real run, 1.0.0: ImportError: cannot import name 'HfFolder' from 'huggingface_hub')
    for name in ("HfFolder", "Repository", "InferenceApi"):
        assert _until(top[name], "0.36.2", "1.0.0"), name
    assert _until(_symbols("huggingface-hub", "huggingface_hub.utils")["names"]["HfFolder"], "0.36.2", "1.0.0")
    for module in ("huggingface_hub.repository", "huggingface_hub.inference_api"):  # the files are not in 1.0.0
        assert _symbols("huggingface-hub", module)["absent"] == [["1.0.0", "2.4.0"]]
    for target in ("huggingface_hub.hf_hub_download", "huggingface_hub.snapshot_download"):
        sig = _callable("huggingface-hub", target)
        assert "use_auth_token" not in sig["params"]
        # 0.36.2 utils/_validators.py line 96: validate_hf_hub_args maps use_auth_token= to token=; 1.0.0 does not,
        # and there is no **kwargs: real run, 1.0.0: TypeError ... unexpected keyword argument 'use_auth_token'
        renamed = sig["renamed"]["use_auth_token"]["token"]
        assert renamed == [["0.12.0", "0.36.2"]] and sig["var_keyword"] == []
        # 1.0.0 _validators.py line 148 smoothly_deprecate_legacy_arguments pops resume_download with a warning (run)
        assert _until(sig["params"]["resume_download"], "0.36.2", "1.0.0")
        assert _from(sig["popped"]["resume_download"], "1.0.0", "0.36.2")


def test_user_facing_facts_datasets() -> None:
    top = _symbols("datasets", "datasets")["names"]
    # datasets-2.21.0 __init__.py lines 35/38 (list_metrics, load_metric); 3.0.0: absent
    for name in ("load_metric", "list_metrics", "inspect_metric", "list_datasets"):
        assert _until(top[name], "2.21.0", "3.0.0"), name
    sig = _callable("datasets", "datasets.load_dataset")
    params = sig["params"]
    # datasets-2.21.0 load.py line 2333 `def load_dataset(` with use_auth_token="deprecated" (warns, maps to token);
    # 3.0.0 line 1851: no use_auth_token, so it reaches **config_kwargs: real run, 3.0.0 and 4.0.0 with "csv":
    # TypeError: CsvConfig.__init__() got an unexpected keyword argument 'use_auth_token'
    assert _until(params["use_auth_token"], "2.21.0", "3.0.0") and _from(params["token"], "2.14.0", "2.13.2")
    assert _in(sig["var_keyword"], "3.0.0")
    # trust_remote_code: a parameter 2.16.0-3.6.0; 4.0.0 load.py line 1365 pops it from **config_kwargs and only logs
    # "`trust_remote_code` is not supported anymore." (real run, 4.0.0: logged error, the csv still loads)
    assert _from(params["trust_remote_code"], "2.16.0", "2.15.0") and _until(
        params["trust_remote_code"], "3.6.0", "4.0.0"
    )
    assert _from(sig["popped"]["trust_remote_code"], "4.0.0", "3.6.0")


def test_user_facing_facts_accelerate() -> None:
    utils = _symbols("accelerate", "accelerate.utils")["names"]
    assert utils["find_executable_batch_size"] == [["0.16.0", "1.15.0"]]  # never moved: accelerate.utils throughout
    assert _until(utils["is_tpu_available"], "0.27.2", "0.28.0")
    # accelerate-0.28.0 __init__.py line 32 exports DataLoaderConfiguration; 0.27.2 does not
    assert _from(_symbols("accelerate", "accelerate")["names"]["DataLoaderConfiguration"], "0.28.0", "0.27.2")
    sig = _callable("accelerate", "accelerate.Accelerator.__init__")
    params = sig["params"]
    assert sig["var_keyword"] == []
    # accelerate-0.19.0 accelerator.py: logging_dir= warns and goes to project_configuration; 0.20.0: a TypeError
    # (real run, 0.20.0: Accelerator.__init__() got an unexpected keyword argument 'logging_dir')
    assert _until(params["logging_dir"], "0.19.0", "0.20.0") and _in(params["project_dir"], "0.16.0")
    # accelerate-0.34.2 accelerator.py lines 443-460: FutureWarning, moved into DataLoaderConfiguration; 1.0.0: TypeError
    for name in ("dispatch_batches", "even_batches", "use_seedable_sampler"):
        assert _until(params[name], "0.34.2", "1.0.0"), name
    assert _from(params["dataloader_config"], "0.28.0", "0.27.2")
    # accelerate-1.0.0 accelerator.py line 250 still takes split_batches but never reads it: silently ignored
    # (real run, 1.0.0: Accelerator(split_batches=True).split_batches is False, no warning)
    assert _in(params["split_batches"], "1.15.0")
    assert sig["unused"] == {"split_batches": [["1.0.0", "1.15.0"]]}


def test_user_facing_facts_trl() -> None:
    top = _symbols("trl", "trl")["names"]
    # trl-0.19.1 __init__.py lines 60/157 (DataCollatorForCompletionOnlyLM); 0.20.0: absent (real run: ImportError)
    assert _until(top["DataCollatorForCompletionOnlyLM"], "0.19.1", "0.20.0")
    # trl-0.28.0 __init__.py line 85 "PPOTrainer",  # deprecated import; 0.29.0 has it only in trl/experimental/ppo
    assert _until(top["PPOTrainer"], "0.28.0", "0.29.0")
    for target in ("trl.SFTTrainer.__init__", "trl.DPOTrainer.__init__"):
        sig = _callable("trl", target)
        params = sig["params"]
        # trl-0.11.4 sft_trainer.py line 126 `tokenizer:`; 0.12.0 line 127 @deprecate_kwarg("tokenizer",
        # new_name="processing_class", ...); 0.15.2 still decorated; 0.16.0: no decorator, no **kwargs
        assert _until(params["tokenizer"], "0.11.4", "0.12.0") and _from(params["processing_class"], "0.12.0", "0.11.4")
        assert (
            sig["renamed"] == {"tokenizer": {"processing_class": [["0.12.0", "0.15.2"]]}} and sig["var_keyword"] == []
        )
    sft = _callable("trl", "trl.SFTTrainer.__init__")["params"]
    # trl-0.12.2 sft_trainer.py lines 144/147 (dataset_text_field, max_seq_length); 0.13.0 reads them from args only
    for name in ("dataset_text_field", "max_seq_length", "packing"):
        assert _until(sft[name], "0.12.2", "0.13.0"), name
    config = _callable("trl", "trl.SFTConfig")
    fields = config["params"]
    # trl-0.19.1 sft_config.py line 244 max_seq_length, line 174 max_length; 0.20.0: no max_seq_length
    # (real run: 0.20.0 SFTConfig(max_seq_length=128) -> TypeError unexpected keyword argument; 0.19.1 accepts it)
    assert _until(fields["max_seq_length"], "0.19.1", "0.20.0") and _from(fields["max_length"], "0.16.0", "0.15.2")
    assert _in(fields["dataset_text_field"], "1.16.0") and _in(fields["bf16"], "0.29.0")  # bf16: via trl's BaseConfig
    assert config["inherits"] == {"transformers.TrainingArguments": [["0.9.2", "1.16.0"]]}
    # ... whose own fields are in signatures/transformers.json (max_seq_length is not one of them)
    arguments = _callable("transformers", "transformers.TrainingArguments")["params"]
    assert "max_seq_length" not in arguments
    # transformers-4.50.3 training_args.py line 1430 evaluation_strategy; 4.51.0: only eval_strategy (line 836)
    assert _until(arguments["evaluation_strategy"], "4.50.3", "4.51.0")
    assert _from(arguments["eval_strategy"], "4.41.0", "4.40.2")
    assert "_n_gpu" not in arguments  # a field(init=False)
