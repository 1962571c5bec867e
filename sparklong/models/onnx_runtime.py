"""onnxruntime behind the engine's call signature: OnnxModule(input_ids, attention_mask,
global_attention_mask) takes and returns torch tensors exactly as the torch module does."""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Sequence

import numpy as np
import torch

from ..engine_options import check_engine, cpu_only
from .devices import cuda_index
from .encoder import check_input_ids, cpu_run_rows
from .heads import TASKS
from .onnx_export import INPUT_NAMES, OUTPUTS, require
from .onnx_files import read_graph_manifest

log = logging.getLogger("sparklong")

CUDA_EP, CPU_EP = "CUDAExecutionProvider", "CPUExecutionProvider"


class OnnxModelError(ValueError):
    """An .onnx file that cannot serve: unreadable, corrupt, truncated or made for another task."""


@dataclasses.dataclass(frozen=True)
class OnnxPlacement:
    """Where a graph runs: provider (and its GPU), graph dtype and quantization, with the reason in words."""

    provider: str
    dtype: str
    quantize: str
    reason: str
    fallback: bool = False  # less than was asked for (CPU for a GPU, float32 for half): logged as a warning
    device_id: int = 0  # the CUDA provider's GPU

    @property
    def device(self) -> str:
        return f"cuda:{self.device_id}" if self.provider == CUDA_EP else "cpu"

    def providers(self) -> list:
        """InferenceSession's providers: the CUDA provider on its GPU with the CPU's as fallback."""
        if self.provider == CPU_EP:
            return [CPU_EP]
        return [(CUDA_EP, {"device_id": self.device_id}), CPU_EP]


def place(device: str, precision: str, quantize: str, gpus: Sequence[str] = ()) -> OnnxPlacement:
    """CUDA when asked for (or 'auto') and onnxruntime has its CUDA provider, on the first GPU Spark
    assigned the task (gpus), half precision as float16 there ('auto' included: onnxruntime's CUDA
    kernels are float16); float32 on the CPU; int8 only on the CPU. An explicit 'cuda' that cannot be
    served is an error, not a silent CPU run."""
    ort = require("onnxruntime")

    check_engine("onnx", quantize, device, precision)
    has_cuda = CUDA_EP in ort.get_available_providers()
    if str(device).startswith("cuda"):
        if not has_cuda:
            raise ValueError(
                "device='cuda' was asked for engine 'onnx' but onnxruntime has no CUDAExecutionProvider: "
                "install sparklong[gpu] (onnxruntime-gpu) on a machine with CUDA"
            )
    if has_cuda and device != "cpu" and not cpu_only(quantize):
        half = precision != "float32"
        note = "; bfloat16 asked, float16 used" if precision == "bfloat16" else ""
        named = str(device).partition(":")[2]
        gpu = int(named) if named else cuda_index(gpus[0], os.environ.get("CUDA_VISIBLE_DEVICES")) if gpus else 0
        where = f"GPU {gpu}" + (f" (Spark task GPU {gpus[0]})" if gpus and not named else "")
        return OnnxPlacement(CUDA_EP, "float16" if half else "float32", "none",
                             f"CUDAExecutionProvider on {where}, {'float16' if half else 'float32'}{note}",
                             device_id=gpu)
    why = "device='cpu'" if device == "cpu" else "int8 runs on the CPU" if has_cuda else "no CUDAExecutionProvider"
    asked_half = precision in ("float16", "bfloat16")
    note = f"; {precision} asked, float32 used (half precision only pays on GPUs)" if asked_half else ""
    missed_gpu = device == "auto" and not has_cuda and torch.cuda.is_available()  # CPU onnxruntime on a GPU host
    return OnnxPlacement(CPU_EP, "float32", quantize, f"CPUExecutionProvider ({why}){note}", asked_half or missed_gpu)


def open_session(path: str, providers: Sequence = (CPU_EP,), threads: int | None = None):
    """An InferenceSession on `path`; a missing, truncated or corrupt file raises OnnxModelError."""
    ort = require("onnxruntime")

    if not os.path.isfile(path):
        raise OnnxModelError(f"ONNX model {path} does not exist")
    manifest = read_graph_manifest(path)
    size = os.path.getsize(path)
    if manifest and manifest.get("bytes") not in (None, size):
        raise OnnxModelError(
            f"ONNX model {path} is truncated or altered: {size} bytes, the export wrote {manifest['bytes']}. "
            f"Delete it (and {os.path.basename(path)}.json) to export it again"
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    # The intra-op threads spin while a run lasts, not after it: spinning on after a run took a core from
    # whatever the worker did next (a 512-row GEMM right after a run: 167-185 GFLOP/s, 204-213 with this;
    # the run itself as fast either way; 2-core AMD EPYC).
    options.add_session_config_entry("session.force_spinning_stop", "1")
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(path, options, providers=list(providers))
    except Exception as exc:  # onnxruntime raises its own pybind exception types (InvalidProtobuf, Fail, ...)
        raise OnnxModelError(
            f"ONNX model {path} cannot be loaded; the file is corrupt or truncated, or not an ONNX model "
            f"({type(exc).__name__}: {str(exc)[:300]}). Delete it to export it again, or run "
            f"sparklong.models.export_onnx(folder, path, task=...)"
        ) from exc


class OnnxModule:
    """Callable like the torch task module: torch tensors in, torch tensors out, same structure. config:
    the folder's, of any architecture (architectures.read_config)."""

    def __init__(self, path: str, config, task: str, providers: Sequence = (CPU_EP,), threads: int | None = None):
        self.path, self.task = path, task
        self.session = open_session(path, providers, threads)
        inputs = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        if inputs != INPUT_NAMES or self.output_names != tuple(OUTPUTS[task]):
            raise OnnxModelError(
                f"ONNX model {path} has inputs {inputs} and outputs {self.output_names}; task '{task}' needs "
                f"{INPUT_NAMES} and {tuple(OUTPUTS[task])}"
            )
        if task in ("sequence_classification", "token_classification") and not config.num_labels:
            labels = self.session.get_outputs()[0].shape[-1]  # the head's width is fixed in the graph
            config = config.with_label_count(labels)
        self.config = config
        self.providers = self.session.get_providers()
        self.threads = threads

    def __call__(self, input_ids, attention_mask=None, global_attention_mask=None):
        check_input_ids(input_ids, self.config)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if global_attention_mask is None and self.config.global_attention:  # Longformer's tasks' defaults
            global_attention_mask = TASKS[self.task].default_global_mask(self.config, input_ids)
        if global_attention_mask is None:  # the graph's input either way (ignored without global attention)
            global_attention_mask = torch.zeros_like(input_ids)
        feed = {
            name: tensor.detach().to("cpu", torch.int64).numpy()
            for name, tensor in zip(INPUT_NAMES, (input_ids, attention_mask, global_attention_mask))
        }
        batch, length = input_ids.shape
        rows = cpu_run_rows(length) if self.providers[0] == CPU_EP else max(batch, 1)  # session runs
        runs = [self.session.run(list(self.output_names), {name: a[start : start + rows] for name, a in feed.items()})
                for start in range(0, max(batch, 1), rows)]  # every output has the batch axis first
        outputs = [torch.from_numpy(parts[0] if len(parts) == 1 else np.concatenate(parts)) for parts in zip(*runs)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)
