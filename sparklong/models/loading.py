"""`load(folder, task, device, dtype, fast_cpu, attention, quantize)`: a Hugging Face model folder -> a ready
torch module, built by config.json's `model_type`: ModernBERT (modernbert.py), BERT, RoBERTa or XLM-RoBERTa
(bert.py), or Longformer (encoder.py)."""
from __future__ import annotations

import os

import torch

from ..engine_options import check_engine
from .architectures import ARCHITECTURES, architecture, read_config
from .checkpoint import CheckpointError, engine_state_dict, read_state_dict, strip_encoder_prefix, tensor_names
from .devices import DTYPES, resolve_device
from .cpu_linears import pack_cpu_linears, quantize_linears
from .encoder import check_attention
from .heads import TASKS


def load(
    folder: str | os.PathLike,
    task: str = "embeddings",
    device: str = "cpu",
    dtype: str = "float32",
    fast_cpu: bool = True,
    attention: str = "auto",
    quantize: str = "none",
    export: bool = False,
) -> torch.nn.Module:
    """Build the engine for `task` from an HF folder; call it as module(input_ids, attention_mask,
    global_attention_mask). fast_cpu=False keeps plain nn.Linear (for export or debugging).
    attention: the kernel of the sliding-window rows, "sdpa" (SDPA over query blocks), "flex"
    (FlexAttention with a block mask) or "auto" ("sdpa" everywhere: flex was never run on a GPU);
    an exported graph always takes "sdpa". quantize="int8": the encoder layers' linears in int8
    (int8_linear.Int8Linear; CPU and float32 only). export=True: a module to trace into one graph
    (onnx_export.py)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    check_attention(attention)
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"model folder {folder} does not exist")
    target = resolve_device(device)
    check_engine("torch", quantize, str(target), dtype)  # on the device 'auto' resolved to

    cfg = read_config(folder)  # by config.json's model_type; one the engine does not run is refused here
    arch = ARCHITECTURES[cfg.model_type]
    if arch.encoder_state is not None:  # a one-file architecture (modernbert.py, bert.py)
        _check_flat_options(arch.name, attention)
        module = _load_flat(folder, task, cfg, arch.tasks[task], arch.encoder_state, target, DTYPES[dtype])
        module.model.export = export  # for a trace into one graph (onnx_export.py)
        return cpu_passes(module, target, dtype, quantize, fast_cpu)
    encoder_state, head_state = engine_state_dict(read_state_dict(folder), cfg)
    module_cls = TASKS[task]
    _check_head(module_cls, head_state, folder, task)
    cfg = _with_head_labels(cfg, module_cls, head_state)

    with torch.device("meta"):
        module = module_cls(cfg, attention, export)
    state = {f"encoder.{k}": v for k, v in encoder_state.items()}
    state.update(_head_weights(module_cls, head_state))
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {folder} do not fit config.json: {exc}") from exc
    module = module.to(device=target, dtype=DTYPES[dtype]).eval().requires_grad_(False)
    return cpu_passes(module, target, dtype, quantize, fast_cpu)


def cpu_passes(module: torch.nn.Module, target: torch.device, dtype: str, quantize: str,
               fast_cpu: bool) -> torch.nn.Module:
    """A loaded module of any architecture (its layers cpu_linears.EncoderLayer) on `target` in `dtype`,
    in place: the encoder layers' linears in int8 for quantize="int8" (check_engine allows it on the CPU
    in float32 only), then, on the CPU in float32 or bfloat16 with fast_cpu, every linear left in that
    dtype through oneDNN."""
    if quantize == "int8":
        quantize_linears(module)
    if fast_cpu and target.type == "cpu" and dtype in ("float32", "bfloat16"):
        pack_cpu_linears(module, DTYPES[dtype])  # after int8: what it left in float32, the heads
    return module


def _check_flat_options(name: str, attention: str) -> None:
    """What the one-file architectures (ModernBERT, the BERT family) run so far: SDPA kernels."""
    if attention not in ("auto", "sdpa"):
        raise NotImplementedError(f"attention '{attention}' is not implemented for {name}; use 'auto' or 'sdpa'")


def _load_flat(folder: str, task: str, cfg, module_cls, encoder_state, target: torch.device,
               dtype: torch.dtype) -> torch.nn.Module:
    """A one-file architecture's `task` module (ModernBERT's, the BERT family's) with the folder's weights,
    on `target` in `dtype`: cfg its config, module_cls the task's module, encoder_state its mapping of
    the checkpoint's encoder tensors to the module's names. Heads keep their HF names, read with the
    encoder's prefix ("bert.", "roberta.", "model.") stripped (BERT's pooler is saved behind "bert.")."""
    hf_state = read_state_dict(folder)
    head_state = {strip_encoder_prefix(k): v for k, v in hf_state.items()}
    _check_head(module_cls, head_state, folder, task)
    cfg = _with_head_labels(cfg, module_cls, head_state)
    with torch.device("meta"):
        module = module_cls(cfg)
    state = encoder_state(hf_state)
    state.update(_head_weights(module_cls, head_state))
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {folder} do not fit config.json: {exc}") from exc
    return module.to(device=target, dtype=dtype).eval().requires_grad_(False)


def check_task_weights(folder: str, task: str) -> None:
    """Fail early (CheckpointError naming the folder and the missing head) when the folder's
    checkpoint cannot serve `task`; reads tensor names only."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    module_cls = architecture(folder).tasks[task]
    names = {strip_encoder_prefix(name) for name in tensor_names(folder)}
    _check_head(module_cls, names, folder, task)
    weight = module_cls.labels_weight
    if weight and weight not in names:  # e.g. a sequence head's classifier.out_proj is no token head
        raise CheckpointError(f"{folder} has no '{weight}' weights, needed for task '{task}'")


def _with_head_labels(cfg, module_cls, head_state):
    """cfg, or, when its config.json names no labels, cfg with LABEL_i names for the head's rows."""
    if module_cls.labels_weight and not cfg.num_labels and module_cls.labels_weight in head_state:
        return cfg.with_label_count(head_state[module_cls.labels_weight].shape[0])
    return cfg


def _head_weights(module_cls, head_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of the task's head (under its HF names), from a state with other tensors too."""
    return {k: v for k, v in head_state.items() if k.startswith(module_cls.head_prefixes)}


def _check_head(module_cls, head_state, folder: str, task: str) -> None:
    for prefix in module_cls.head_prefixes:
        if not any(k.startswith(prefix) for k in head_state):
            raise CheckpointError(f"{folder} has no '{prefix.rstrip('.')}' weights, needed for task '{task}'")
