"""export_onnx: the engine traced into one ONNX graph that serves every batch size, length and
number of global tokens (0 included), optionally with int8 linear layers. One
onnxruntime contrib op (com.microsoft MultiHeadAttention, block_attention.py) runs the band's query blocks
(Longformer's layers, ModernBERT's sliding ones); the rest is standard ONNX. Every architecture's graph
has the same inputs and outputs; ModernBERT and the BERT family take global_attention_mask and ignore it.

The graph comes from torch's TorchScript exporter (`dynamo=False`) tracing a module loaded with
export=True: the banded attention gathers each block's keys by a row index (no as_strided) and reads no
Python number from the data, so the trace records shapes
symbolically (checked at lengths, batch sizes and global counts never traced, in tests/test_onnx_*).
torch.export (the dynamo exporter) refuses the data-dependent number of global slots.
"""
from __future__ import annotations

import importlib
import os
import re
import tempfile
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..engine_options import check_engine
from .activations import ACTIVATIONS
from .architectures import architecture
from .cpu_linears import encoder_layers
from .heads import TASKS
from .loading import load

INPUT_NAMES = ("input_ids", "attention_mask", "global_attention_mask")
_BL = {0: "batch", 1: "length"}
# Per task: output name -> its dynamic axes (sequence logits have no length axis).
OUTPUTS = {
    "embeddings": {"last_hidden_state": _BL},
    "question_answering": {"start_logits": _BL, "end_logits": _BL},
    "sequence_classification": {"logits": {0: "batch"}},
    "token_classification": {"logits": _BL},
}
# Bump when the exported graph changes: graphs cached in model folders by an older version are re-exported.
GRAPH_VERSION = 7
# int8 (quantize_int8): each FFN's ffn_out stays float32 and ffn_in's input is smoothed with this alpha,
# the choice that kept a trained model's per-token cosine to float32 highest (docs/engine.md).
SMOOTH_ALPHA = 0.75
NORM_EXTREME = 4.0  # a LayerNorm output channel's extreme |value|, as |gamma| * this + |beta|
# Slices of a float32 graph's feed-forward width (SlicedFeedForward): onnxruntime's CPU GEMM runs the
# narrower products faster, and 4 slices was the fastest count (docs/engine.md).
FFN_SLICES = 4
ONNX_DTYPES = ("float32", "float16")
OPSET = 17


def exporter_id() -> str:
    """What made a graph: this graph version, the torch that traced it, the opset."""
    return f"sparklong-graph-{GRAPH_VERSION} torch-{torch.__version__} opset-{OPSET}"


def require(module: str):
    """Import an optional dependency of engine 'onnx', naming the extra that brings it when missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"engine 'onnx' needs the '{module.split('.')[0]}' package: pip install 'sparklong[onnx]' "
            "(CPU) or 'sparklong[gpu]' (CUDA)"
        ) from exc


def export_onnx(
    folder: str | os.PathLike,
    path: str | os.PathLike,
    task: str = "embeddings",
    quantize: str = "none",
    dtype: str = "float32",
    opset: int = OPSET,
) -> str:
    """Write the model of an HF folder (Longformer, ModernBERT, BERT, RoBERTa, XLM-RoBERTa) as one ONNX
    graph to `path` (atomically); returns path.

    Inputs input_ids, attention_mask, global_attention_mask: int64 [batch, length], both axes dynamic
    (ModernBERT and the BERT family ignore the last). Outputs as OUTPUTS[task]. quantize="int8":
    dynamic int8 quantization of the linear layers' MatMuls (weights int8 per
    channel, activations quantized at run time), for the CPU. dtype="float16": a half-precision graph
    for onnxruntime's CUDA provider.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if dtype not in ONNX_DTYPES:
        raise ValueError(f"dtype for ONNX must be one of {', '.join(ONNX_DTYPES)}, got {dtype!r}")
    check_engine("onnx", quantize, "cpu", dtype)  # an int8 graph is quantized from a float32 one
    longformer = architecture(folder).encoder_state is None  # the one-file architectures' layers are not Longformer's
    require("onnx")  # torch's exporter writes through it
    module = load(folder, task=task, device="cpu", dtype=dtype, fast_cpu=False, export=True)  # nn.Linear -> MatMul
    if quantize == "int8":
        smooth_ffn_inputs(module)
    if dtype == "float32" and longformer:  # slices suit onnxruntime's CPU GEMM; float16 graphs are CUDA's
        slice_feed_forwards(module, FFN_SLICES)  # a float32 graph run on CUDA is sliced too
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=os.path.dirname(path)) as tmp:  # same filesystem
        traced = os.path.join(tmp, "model.onnx")
        _trace(module, task, traced, opset)
        if quantize == "int8":
            quantized = os.path.join(tmp, "model.int8.onnx")
            quantize_int8(traced, quantized, type(encoder_layers(module)[0]).FFN_OUT_NODE)
            traced = quantized
        os.replace(traced, path)  # readers never see a half-written file
    return path


def _trace(module: torch.nn.Module, task: str, path: str, opset: int) -> None:
    axes = {**{name: _BL for name in INPUT_NAMES}, **OUTPUTS[task]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice; index-export notes
        torch.onnx.export(
            module, sample_inputs(module.config), path, dynamo=False, opset_version=opset,
            input_names=list(INPUT_NAMES), output_names=list(OUTPUTS[task]), dynamic_axes=axes,
        )
    _restore_unused_inputs(path)


def _restore_unused_inputs(path: str) -> None:
    """Put back the inputs the exporter dropped because no output depends on them (global_attention_mask
    of ModernBERT and the BERT family), so that every graph takes INPUT_NAMES, whatever its architecture;
    onnxruntime accepts and ignores them."""
    onnx = require("onnx")
    model = onnx.load(path, load_external_data=False)
    given = {i.name: i for i in model.graph.input}
    if all(name in given for name in INPUT_NAMES):
        return
    inputs = [given.get(name) or onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT64, ["batch", "length"])
              for name in INPUT_NAMES] + [i for name, i in given.items() if name not in INPUT_NAMES]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    onnx.save(model, path)


def sample_inputs(cfg) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Trace inputs [2, L]: the second row padded, global tokens in the first row only. The graph does
    not depend on them: tests check it at other lengths, batch sizes and global counts."""
    length = min(cfg.max_tokens, 23)
    ids = torch.randint(3, cfg.vocab_size, (2, length), generator=torch.Generator().manual_seed(0))
    ids[:, 0] = getattr(cfg, "bos_token_id", 0)  # Longformer's <s>; any id for the others
    mask = torch.ones_like(ids)
    mask[1, length // 2 :] = 0
    ids[1, length // 2 :] = cfg.pad_token_id
    glob = torch.zeros_like(ids)
    glob[0, :: max(1, length // 3)] = 1
    return ids, mask, glob


class SmoothedLinear(nn.Module):
    """x W^T + b as (x / s) (W s)^T + b: equal in float32, but int8 then quantizes x / s, whose channels
    have more even ranges (SmoothQuant: s = a^alpha / w^(1 - alpha), a and w the per-channel extremes
    of the input and of the weight), so one per-tensor activation scale loses less of them."""

    def __init__(self, linear: nn.Linear, norm: nn.LayerNorm, alpha: float = SMOOTH_ALPHA):
        super().__init__()
        shift = 0.0 if norm.bias is None else norm.bias.abs()  # ModernBERT's norms have no bias
        extreme = (norm.weight.abs() * NORM_EXTREME + shift).clamp_min(1e-5)  # [E], no data needed
        scale = extreme**alpha / linear.weight.abs().amax(0).clamp_min(1e-5) ** (1 - alpha)  # [E]
        self.register_buffer("inv_scale", 1 / scale)
        self.weight = nn.Parameter(linear.weight * scale, requires_grad=False)  # [F, E]
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x * self.inv_scale, self.weight, self.bias)


def smooth_ffn_inputs(module: nn.Module) -> None:
    """Smooth each feed-forward's first linear against the LayerNorm that feeds it (int8 exports only;
    each architecture's layer names the pair: smooth_ffn_input)."""
    for layer in encoder_layers(module):
        layer.smooth_ffn_input(SmoothedLinear)


class SlicedFeedForward(nn.Module):
    """ffn_out(act(ffn_in(h))) as a sum over slices of the intermediate width: each slice's product,
    activation and product back run before the next, so only a [rows, F / slices] intermediate exists
    at a time. onnxruntime runs the whole [rows, F] intermediate through memory between MatMul,
    BiasGelu and MatMul, and its CPU GEMM runs the slices' narrower products faster (docs/engine.md).
    The torch engine has no need: it runs these layers in 512-row chunks, where slices were slower."""

    def __init__(self, ffn_in: nn.Module, ffn_out: nn.Linear, act, slices: int):
        super().__init__()
        self.act = act
        slices = min(slices, ffn_in.weight.shape[0])  # no empty slice
        # SmoothedLinear: divide once, then every slice takes the divided input
        self.register_buffer("inv_scale", getattr(ffn_in, "inv_scale", None))
        self.ffn_in = nn.ModuleList(
            _linear(w, b) for w, b in zip(ffn_in.weight.tensor_split(slices, 0), ffn_in.bias.tensor_split(slices)))
        self.ffn_out = nn.ModuleList(  # the first slice adds the bias
            _linear(w, ffn_out.bias if i == 0 else None)
            for i, w in enumerate(ffn_out.weight.tensor_split(slices, 1)))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """[..., E] -> [..., E]."""
        if self.inv_scale is not None:
            h = h * self.inv_scale
        out = None
        for first, second in zip(self.ffn_in, self.ffn_out):
            part = second(self.act(first(h)))  # [..., E]
            out = part if out is None else out + part
        return out


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    linear.weight = nn.Parameter(weight.detach().contiguous(), requires_grad=False)
    if bias is not None:
        linear.bias = nn.Parameter(bias.detach().contiguous(), requires_grad=False)
    return linear


def slice_feed_forwards(module: nn.Module, slices: int) -> None:
    """Run every layer's feed-forward in `slices` slices of its width (SlicedFeedForward). Plain linears
    only (an export's, smoothed or not): a fused CPU linear or an int8 one has no weight to slice."""
    for layer in module.encoder.layers:
        for linear in (layer.ffn_in, layer.ffn_out):
            if type(linear) not in (nn.Linear, SmoothedLinear):
                raise TypeError(f"slice_feed_forwards takes nn.Linear feed-forwards, got {type(linear).__name__}")
        act = ACTIVATIONS[layer.act_name].fn
        layer.ffn_slices = SlicedFeedForward(layer.ffn_in, layer.ffn_out, act, slices)


def quantize_int8(src: str, dst: str, ffn_out_node: re.Pattern) -> None:
    """Dynamic int8 quantization of the MatMuls with constant weights (the linear layers: weights int8
    per output channel, activations per tensor at run time), except each feed-forward's second linear
    (the nodes ffn_out_node matches, the layer class's FFN_OUT_NODE): its input (after GELU, or GeGLU's
    product) has outliers one activation scale cannot hold. Attention's activation-by-activation MatMuls
    and the embeddings stay float32."""
    onnx = require("onnx")
    quantization = require("onnxruntime.quantization")
    graph = onnx.load(src, load_external_data=False).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and ffn_out_node.search(n.name)]
    if not keep:  # the exporter named its nodes otherwise: never quantize these by accident
        raise RuntimeError(f"no feed-forward output MatMul found in {src} to keep in float32")
    quantization.quantize_dynamic(
        src, dst, op_types_to_quantize=["MatMul"], per_channel=True, weight_type=quantization.QuantType.QInt8,
        nodes_to_exclude=keep, extra_options={"MatMulConstBOnly": True},
    )
