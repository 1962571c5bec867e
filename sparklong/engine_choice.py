"""The driver's side of a model stage's engine choice, below both the annotators (fit, transform, save)
and the jobs (--engine, --device, --precision, --quantize): before any Spark job or save, the
combination is checked and, for onnxruntime, the graph exported into the model folder."""
from __future__ import annotations

from .engine_options import check_engine
from .models.onnx_files import ensure_onnx
from .params import HasEngine


def prepare_engine(stage) -> None:
    """On the driver, before any Spark job or save: check engine, quantize, device and precision, and for engine 'onnx'
    export the graph of `stage.task` into the model folder once (and its float16 graph when half
    precision is asked for: onnxruntime's CUDA provider runs that), so that executors and a saved
    pipeline find them there. With precision 'auto' a GPU executor exports its float16 graph itself."""
    if not isinstance(stage, HasEngine):
        return
    check_engine(stage.getEngine(), stage.getQuantize(), stage.getDevice(), stage.getPrecision())
    if stage.getEngine() == "onnx":
        ensure_onnx(stage.getModelFolder(), stage.task, stage.getQuantize())
        if stage.getPrecision() in ("float16", "bfloat16") and stage.getQuantize() == "none":
            ensure_onnx(stage.getModelFolder(), stage.task, "none", "float16")
