"""Stack-step probe: runs inside the interpreter under test, Python 3.8+.

Standard library only at the top level: torch, transformers, peft, trl and datasets are imported inside
main(), in the target, never in envdoctor's process. For whatever of the stack is installed it runs, in
this one process (imports paid once), what most users really run:

- "trainer": one ``transformers.Trainer`` step of a tiny causal LM built from a config (nothing
  downloaded), which also saves a checkpoint;
- "resume": a second Trainer resumed from that checkpoint (``resume_from_checkpoint``: optimizer,
  scheduler and RNG state are loaded with torch.load), one more step;
- "lora": the same Trainer step with a peft LoRA adapter (when peft is installed);
- "sft": one ``trl.SFTTrainer`` step on text, with a tokenizer built in memory (when trl is installed).

The data is a tiny in-memory ``datasets.Dataset`` when datasets is installed, else a list. Every
output_dir is under one temporary directory (inside ``request["root"]``, a folder envdoctor removes even
when it has to kill this process), removed at the end. A step that raises is recorded with
its exact error and traceback; for a call with a keyword the callee lacks, the callee's file is found
(``callee``), so that envdoctor can name the package that owns it.

Test-only switch (an environment variable, never set by envdoctor itself):
  ENVDOCTOR_TEST_STACK_HANG=FILE   the first step hangs (probes/step.py's test hang: the probe and a child
                                   of it sleep; "PID PGID CHILD_PID" is written to FILE)
"""

import os
import re
import runpy
import shutil
import sys
import tempfile
import time
import traceback
from typing import Any  # noqa: F401 (type comments: this file runs on Python 3.8)

SCHEMA = "envdoctor.stack-step/1"
STEPS = ("trainer", "resume", "lora", "sft")
NEEDS = {"trainer": "transformers", "resume": "transformers", "lora": "peft", "sft": "trl"}
WORDS = ["<pad>", "<eos>", "<unk>"] + ["w%d" % i for i in range(61)]
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "WANDB_DISABLED": "true",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
    "DISABLE_MLFLOW_INTEGRATION": "TRUE",
}
_KEYWORD = re.compile(r"(?P<callee>[\w.<>]+)\(\) got an unexpected keyword argument '(?P<kw>\w+)'")


def _callee(exc):
    """For ``f() got an unexpected keyword argument 'k'``: the function named, found among the loaded
    modules (its module, file and parameters), so that its owner can be told; else None."""
    m = _KEYWORD.search(str(exc))
    if m is None:
        return None
    qualname = m.group("callee")
    parts = qualname.split(".")
    for module in list(sys.modules.values()):
        try:  # a module's __getattr__ can raise anything (torch.classes does)
            found = module.__dict__.get(parts[0]) if hasattr(module, "__dict__") else None
            for part in parts[1:]:
                found = getattr(found, part, None)
            function = getattr(found, "__func__", found)
            code = getattr(function, "__code__", None)
            if code is None or getattr(function, "__qualname__", None) != qualname:
                continue
        except Exception:
            continue
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        return {
            "qualname": qualname,
            "module": getattr(function, "__module__", None),
            "file": code.co_filename,
            "keyword": m.group("kw"),
            "params": list(names),
        }
    return {"qualname": qualname, "module": None, "file": None, "keyword": m.group("kw"), "params": None}


def _error(exc):
    return {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "traceback": traceback.format_exc()[-8000:],
        "callee": _callee(exc) if isinstance(exc, TypeError) else None,
    }


def _import(name):
    try:
        module = __import__(name)
    except BaseException as exc:  # a broken install raises anything
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None, {"ok": False, "version": None, "error": _error(exc)}
    return module, {"ok": True, "version": str(getattr(module, "__version__", "")), "error": None}


def _accepts(callable_, name):
    import inspect

    try:
        return name in inspect.signature(callable_).parameters
    except (TypeError, ValueError):
        return False


class Stack:
    """The installed libraries and the tiny model, data and tokenizer every step shares."""

    def __init__(self, modules, root):
        self.torch = modules["torch"]
        self.transformers = modules["transformers"]
        self.datasets = modules.get("datasets")
        self.peft = modules.get("peft")
        self.trl = modules.get("trl")
        self.root = root

    def model(self):
        t = self.transformers
        self.torch.manual_seed(0)
        small = {"vocab_size": len(WORDS), "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2}
        if hasattr(t, "LlamaConfig"):
            config = t.LlamaConfig(num_hidden_layers=1, num_key_value_heads=2, max_position_embeddings=64, **small)
            return t.LlamaForCausalLM(config), ["q_proj", "v_proj"]
        config = t.GPT2Config(vocab_size=len(WORDS), n_embd=32, n_layer=1, n_head=2, n_positions=64)
        return t.GPT2LMHeadModel(config), ["c_attn"]

    def rows(self):
        g = self.torch.Generator().manual_seed(0)
        ids = self.torch.randint(3, len(WORDS), (8, 16), generator=g).tolist()
        return {"input_ids": ids, "attention_mask": [[1] * 16 for _ in ids], "labels": ids}

    def texts(self):
        return {"text": [" ".join(WORDS[3 + (i * 7 + j) % 61] for j in range(12)) for i in range(8)]}

    def dataset(self, columns):
        if self.datasets is not None:
            return self.datasets.Dataset.from_dict(columns)
        keys = list(columns)
        return [dict(zip(keys, values)) for values in zip(*columns.values())]  # noqa: B905 (3.8)

    def tokenizer(self):
        """A word-level fast tokenizer built in memory (nothing downloaded)."""
        import tokenizers  # type: ignore[import-not-found]

        vocab = {w: i for i, w in enumerate(WORDS)}
        core = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab=vocab, unk_token="<unk>"))
        core.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
        tok = self.transformers.PreTrainedTokenizerFast(
            tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
        )
        tok.model_max_length = 64
        return tok

    def args(self, cls, name, steps, **extra):
        """TrainingArguments (or a subclass, SFTConfig) for ``steps`` tiny steps on the CPU or the GPU there is."""
        kwargs = {
            "output_dir": os.path.join(self.root, name),
            "max_steps": steps,
            "per_device_train_batch_size": 4,
            "learning_rate": 1e-3,
            "report_to": [],
            "disable_tqdm": True,
            "logging_steps": 1,
            "save_strategy": "steps",
            "save_steps": 1,
            "seed": 0,
            "dataloader_num_workers": 0,
            "dataloader_pin_memory": False,
            "bf16": False,  # fp32: the precisions are the precision step's business (trl's configs default to bf16)
            "fp16": False,
        }
        kwargs.update(extra)
        return cls(**{k: v for k, v in kwargs.items() if _accepts(cls, k) or k == "output_dir"})


def _snapshot(model, only_trainable):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad or not only_trainable}


def _changed(torch, before, model):
    now = dict(model.named_parameters())
    return any(not torch.equal(before[n], now[n].detach()) for n in before if n in now)


def _finite(value):
    return value is not None and value == value and value not in (float("inf"), float("-inf"))


def _run_trainer(stack, trainer, model, resume=None):
    """train() once; what it did."""
    before = _snapshot(model, only_trainable=True)
    out = trainer.train(resume_from_checkpoint=resume) if resume else trainer.train()
    loss = getattr(out, "training_loss", None)
    loss = None if loss is None else float(loss)
    return {
        "loss": loss,
        "loss_finite": _finite(loss),
        "global_step": int(getattr(out, "global_step", 0) or 0),
        "weights_changed": _changed(stack.torch, before, model),
    }


def step_trainer(stack):
    t = stack.transformers
    model, _ = stack.model()
    trainer = t.Trainer(
        model=model, args=stack.args(t.TrainingArguments, "trainer", 1), train_dataset=stack.dataset(stack.rows())
    )
    record = _run_trainer(stack, trainer, model)
    record["checkpoint"] = os.path.join(stack.root, "trainer", "checkpoint-1")
    record["checkpoint_saved"] = os.path.isdir(record["checkpoint"])
    return record


def step_resume(stack, checkpoint):
    t = stack.transformers
    if not checkpoint or not os.path.isdir(checkpoint):
        raise RuntimeError("no checkpoint to resume from: the Trainer step saved none")
    model, _ = stack.model()
    args = stack.args(t.TrainingArguments, "trainer", 2)
    trainer = t.Trainer(model=model, args=args, train_dataset=stack.dataset(stack.rows()))
    record = _run_trainer(stack, trainer, model, resume=checkpoint)
    record["resumed_from_step"] = 1
    return record


def step_lora(stack):
    t, peft = stack.transformers, stack.peft
    model, targets = stack.model()
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=targets, lora_dropout=0.0, task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, config)
    args = stack.args(t.TrainingArguments, "lora", 1, save_strategy="no")
    trainer = t.Trainer(model=model, args=args, train_dataset=stack.dataset(stack.rows()))
    record = _run_trainer(stack, trainer, model)
    record["trainable_parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return record


def step_sft(stack):
    trl = stack.trl
    model, _ = stack.model()
    tok = stack.tokenizer()
    config_cls = getattr(trl, "SFTConfig", None) or stack.transformers.TrainingArguments
    extra = {"save_strategy": "no", "packing": False, "dataset_text_field": "text"}
    extra["max_length" if _accepts(config_cls, "max_length") else "max_seq_length"] = 32
    args = stack.args(config_cls, "sft", 1, **extra)
    kwargs = {"model": model, "args": args, "train_dataset": stack.dataset(stack.texts())}
    init = trl.SFTTrainer.__init__
    kwargs["processing_class" if _accepts(init, "processing_class") else "tokenizer"] = tok
    if not _accepts(config_cls, "dataset_text_field") and _accepts(init, "dataset_text_field"):
        kwargs["dataset_text_field"] = "text"  # trl < 0.8: on the trainer
    trainer = trl.SFTTrainer(**kwargs)
    return _run_trainer(stack, trainer, trainer.model)


def _timed(name, run):
    record = {"step": name, "ran": False, "error": None, "seconds": None}
    start = time.perf_counter()
    try:
        record.update(run())
        record["ran"] = True
    except BaseException as exc:  # the exact error is the product here
        if isinstance(exc, KeyboardInterrupt):
            raise
        record["error"] = _error(exc)
    record["seconds"] = round(time.perf_counter() - start, 3)
    return record


def _progress(request, text):
    """One line appended to the file ``request["progress"]`` names (envdoctor reads it while the steps run:
    stdout and stderr belong to the libraries)."""
    path = request.get("progress")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError:
        pass


def main(request):
    for key, value in OFFLINE.items():
        os.environ.setdefault(key, value)
    wanted = [s for s in request.get("steps") or STEPS if s in STEPS]
    result = {"schema": SCHEMA, "python": sys.executable, "imports": {}, "steps": []}  # type: dict[str, Any]
    modules = {}
    names = ["torch", "transformers", "accelerate", "datasets"]
    names += [NEEDS[s] for s in ("lora", "sft") if s in wanted]  # peft, trl: only for their steps
    for name in names:
        _progress(request, "import %s" % name)
        module, record = _import(name)
        result["imports"][name] = record
        if module is not None:
            modules[name] = module
    if "torch" not in modules or "transformers" not in modules:
        return result
    root = tempfile.mkdtemp(prefix="envdoctor-stack-", dir=request.get("root"))
    try:
        stack = Stack(modules, root)
        checkpoint = [None]  # the Trainer step's checkpoint, for the resume step
        for name in wanted:
            if NEEDS[name] not in modules:
                result["steps"].append({"step": name, "ran": False, "skipped": "%s is not importable" % NEEDS[name]})
                continue
            if name == "resume" and checkpoint[0] is None:
                result["steps"].append({"step": name, "ran": False, "skipped": "the Trainer step saved no checkpoint"})
                continue
            _progress(request, "step %s" % name)
            if os.environ.get("ENVDOCTOR_TEST_STACK_HANG"):  # test only: the precision step's hang
                here = os.path.dirname(os.path.abspath(__file__))
                runpy.run_path(os.path.join(here, "step.py"))["_hang"](os.environ["ENVDOCTOR_TEST_STACK_HANG"])
            if name == "trainer":
                record = _timed(name, lambda: step_trainer(stack))
                checkpoint[0] = record.get("checkpoint") if record.get("checkpoint_saved") else None
            elif name == "resume":
                record = _timed(name, lambda: step_resume(stack, checkpoint[0]))
            elif name == "lora":
                record = _timed(name, lambda: step_lora(stack))
            else:
                record = _timed(name, lambda: step_sft(stack))
            record.pop("checkpoint", None)
            result["steps"].append(record)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return result
