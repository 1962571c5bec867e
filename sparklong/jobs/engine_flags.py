"""--engine, --device, --precision and --quantize: the model stages' engine params, for every job.

Unset flags leave the stages as they are (a built stage's defaults, a saved pipeline's saved values);
set ones are applied to every model stage and recorded in the output's manifest, so a later run with
other numerics cannot mix its vectors into the same output.
"""
from __future__ import annotations

import argparse

from ..models.devices import PRECISIONS
from ..params import DEVICES, ENGINES, QUANTIZE, HasEngine
from .inputs import JobError

FLAGS = {  # param -> (choices, help)
    "engine": (ENGINES, "torch (default) or onnx (onnxruntime)"),
    "device": (DEVICES, "auto (default: in a task, the GPU Spark assigned it, else the CPU), cpu or cuda"),
    "precision": (PRECISIONS, "auto (default: bfloat16 on GPUs that have it, float16 on older ones, "
                              "float32 on CPUs), float32, bfloat16 or float16"),
    "quantize": (QUANTIZE, "none (default) or int8 (engine onnx, CPU)"),
}


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    for name, (choices, text) in FLAGS.items():
        p.add_argument(f"--{name}", default=None, choices=choices, help=text)


def engine_flags(args: argparse.Namespace) -> dict:
    """The engine flags that were given, by param name."""
    return {name: getattr(args, name) for name in FLAGS if getattr(args, name) is not None}


def apply_engine_flags(stages, args: argparse.Namespace) -> None:
    """Set the given flags on every model stage (a bad combination is a JobError before any work)."""
    from ..annotators.model_stage import prepare_engine

    flags = engine_flags(args)
    for stage in stages:
        if isinstance(stage, HasEngine):
            for name, value in flags.items():
                getattr(stage, "set" + name.capitalize())(value)
            try:
                prepare_engine(stage)
            except ValueError as exc:
                raise JobError(str(exc)) from exc
