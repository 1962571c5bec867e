"""--engine, --device, --precision and --quantize: the model stages' engine params, for every job; and
--task-gpus: GPUs for the model stage's tasks only.

Unset flags leave the stages as they are (a built stage's defaults, a saved pipeline's saved values);
set ones are applied to every model stage and recorded in the output's manifest, so a later run with
other numerics cannot mix its vectors into the same output.
"""
from __future__ import annotations

import argparse

from ..engine_choice import prepare_engine
from ..engine_options import DEVICES, ENGINES, PRECISIONS, QUANTIZE
from ..params import HasEngine, set_params
from .job_error import JobError

FLAGS = {  # param -> (choices, help)
    "engine": (ENGINES, "torch (default) or onnx (onnxruntime)"),
    "device": (DEVICES, "auto (default: in a task, the GPU Spark assigned it, else the CPU), cpu or cuda"),
    "precision": (PRECISIONS, "auto (default: bfloat16 on GPUs that have it, float16 on older ones, "
                              "float32 on CPUs), float32, bfloat16 or float16"),
    "quantize": (QUANTIZE, "none (default) or int8: int8 linear layers on the CPU (either engine)"),
}


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    for name, (choices, text) in FLAGS.items():
        p.add_argument(f"--{name}", default=None, choices=choices, help=text)
    p.add_argument("--task-gpus", type=float, default=None, metavar="N",
                   help="GPUs per task of the model stage only, through a stage-level resource profile (dynamic "
                        "allocation off; standalone, YARN, Kubernetes): executors need "
                        "spark.executor.resource.gpu.amount, and with spark.task.resource.gpu.amount unset the "
                        "CPU stages hold no GPU")


def model_stage_profile(spark, gpus: float | None):
    """The TaskResourceProfile of the stage that runs the model and commits shards: `gpus` GPUs and
    spark.task.cpus cores per task; None (the session's defaults) when not asked for."""
    if gpus is None:
        return None
    if gpus <= 0:
        raise JobError(f"--task-gpus must be more than 0, got {gpus:g}")
    conf = spark.sparkContext.getConf()
    if spark.sparkContext.master.startswith("local[") or spark.sparkContext.master == "local":
        raise JobError("--task-gpus needs a cluster manager that schedules GPUs (standalone, YARN, Kubernetes); "
                       "local mode gives tasks none")
    if not conf.get("spark.executor.resource.gpu.amount", None):
        raise JobError("--task-gpus needs executors with GPUs: set spark.executor.resource.gpu.amount and "
                       "spark.executor.resource.gpu.discoveryScript (docs/gpu.md)")
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    cpus = int(conf.get("spark.task.cpus", "1"))
    return ResourceProfileBuilder().require(TaskResourceRequests().cpus(cpus).resource("gpu", gpus)).build


def engine_flags(args: argparse.Namespace) -> dict:
    """The engine flags that were given, by param name."""
    return {name: getattr(args, name) for name in FLAGS if getattr(args, name) is not None}


def apply_engine_flags(stages, args: argparse.Namespace) -> list[dict]:
    """Set the given flags on every model stage (a bad combination is a JobError before any work); the model
    stages' engine settings then (HasEngine.engine_settings), in order."""
    flags = engine_flags(args)
    settings = []
    for stage in stages:
        if isinstance(stage, HasEngine):
            set_params(stage, flags)
            try:
                prepare_engine(stage)
            except ValueError as exc:
                raise JobError(str(exc)) from exc
            settings.append(stage.engine_settings())
    return settings
