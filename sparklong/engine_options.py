"""The values a model stage's engine params take, the combinations of them an engine serves, and the
CPU's default token budget per forward pass.

Constants and plain checks without torch (only cores/value_checks.py, which imports nothing), so
params.py, the jobs' flags and the Arrow runtime read them without loading model code.
models/devices.py maps each precision but 'auto' to its torch dtype. check_engine is the one check of
a combination: the driver (engine_choice.py), the worker cache (udfs/model_cache.py), models.load,
export_onnx and onnxruntime's placement all call it.
"""
from .cores.value_checks import check_choice

ENGINES = ("torch", "onnx")  # onnx: onnxruntime on a graph exported from the same model
DEVICES = ("auto", "cpu", "cuda")  # auto: in a Spark task, the GPU Spark assigned it; else the CPU
# auto: bfloat16 on GPUs that have it, float16 on older ones, float32 on CPUs
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
QUANTIZE = ("none", "int8")  # "int8": int8 linear layers, torch (Int8Linear) or onnxruntime (onnx_export)

CPU_BATCH_TOKENS = 16384  # maxBatchTokens' default; on a GPU an unset budget comes from its memory (cores/forward.py)


def cpu_only(quantize: str) -> bool:
    """Whether this quantization runs on the CPU only, in float32: int8 linear layers do (either engine)."""
    return quantize == "int8"


def check_engine(engine: str, quantize: str, device: str = "auto", precision: str = "auto") -> None:
    """The combinations no engine serves, as a ValueError: an unknown engine, quantize or precision, and
    int8 asked for on a GPU ('cuda' or 'cuda:N') or in another precision than float32 ('auto' is float32
    on the CPU)."""
    check_choice("engine", engine, ENGINES)
    check_choice("quantize", quantize, QUANTIZE)
    check_choice("precision", precision, PRECISIONS)
    if cpu_only(quantize) and str(device).startswith("cuda"):
        raise ValueError(f"quantize={quantize!r} runs on the CPU (engine {engine!r}); use device='cpu' or 'auto', "
                         "or precision='bfloat16' on a GPU")
    if cpu_only(quantize) and precision not in ("auto", "float32"):
        raise ValueError(f"quantize={quantize!r} runs on the CPU in float32 (engine {engine!r}), got precision="
                         f"{precision!r}; leave precision 'auto' or set 'float32', or use quantize='none'")
