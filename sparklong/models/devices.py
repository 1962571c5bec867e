"""Which device and precision a model runs on: the GPU Spark assigned to the task, else the current one.

Spark's GPU scheduling gives each task the addresses of its GPUs (`TaskContext.resources()["gpu"]`,
read in udfs/task_resources.py); the first one is the task's device. An address is the index
that the discovery script printed: torch's index too, unless CUDA_VISIBLE_DEVICES narrows what the
process sees (container isolation, a resource plugin), where torch numbers the visible GPUs from 0.
"""
from __future__ import annotations

import os
from typing import Sequence

import torch

from ..engine_options import PRECISIONS

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}  # PRECISIONS but auto


def cuda_index(address: str, visible: str | None = None, count: int | None = None) -> int:
    """torch's CUDA index for a Spark GPU address. visible: CUDA_VISIBLE_DEVICES ('2,3': address '3'
    is index 1); count: how many GPUs torch sees (None: unknown, not checked)."""
    listed = [v.strip() for v in visible.split(",") if v.strip()] if visible else []
    if address in listed:
        return listed.index(address)
    try:
        index = int(address)
    except ValueError:
        raise ValueError(f"Spark assigned GPU address {address!r}, which is not a CUDA index "
                         f"(CUDA_VISIBLE_DEVICES={visible!r}); the discovery script must print indices") from None
    if index < 0 or (count is not None and index >= count):
        raise ValueError(f"Spark assigned GPU address {address!r} but this process sees {count} CUDA device(s) "
                         f"(CUDA_VISIBLE_DEVICES={visible!r})")
    return index


def choose_device(device: str, gpus: Sequence[str], cuda_count: int, current: int = 0,
                  visible: str | None = None) -> str:
    """The device for `device` ('auto', 'cpu', 'cuda' or 'cuda:N'): the first GPU Spark assigned the task
    (gpus: its addresses), else the current CUDA device, else the CPU for 'auto'. 'cuda' with no CUDA
    device is an error, not a silent CPU run. Pure: the facts come as arguments (resolve_device)."""
    if device == "cpu":
        return "cpu"
    if device not in ("auto", "cuda") and not str(device).startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if cuda_count == 0:
        if device == "auto":
            return "cpu"
        raise ValueError(f"device={device!r} was asked for but torch sees no CUDA device")
    if str(device).startswith("cuda:"):  # named by the caller (sparklong.models.load): taken as is
        return str(device)
    if gpus:
        return f"cuda:{cuda_index(gpus[0], visible, cuda_count)}"
    return f"cuda:{current}"


def resolve_device(device: str, gpus: Sequence[str] = ()) -> torch.device:
    """choose_device with this process's facts: torch's CUDA devices and CUDA_VISIBLE_DEVICES."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    current = torch.cuda.current_device() if count else 0
    return torch.device(choose_device(device, gpus, count, current, os.environ.get("CUDA_VISIBLE_DEVICES")))


def resolve_precision(precision: str, device: torch.device, bf16: bool | None = None) -> str:
    """'auto' is bfloat16 on a CUDA device that supports it, float16 on older GPUs, float32 on the CPU;
    anything else is taken as asked. bf16: whether the device supports bfloat16 (None: ask torch)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type != "cuda":
        return "float32"
    if bf16 is None:
        with torch.cuda.device(device):
            bf16 = torch.cuda.is_bf16_supported()
    return "bfloat16" if bf16 else "float16"


# /proc/cpuinfo flags of CPUs that compute bfloat16 natively: x86's AVX512-BF16 (AMD Zen 4+, Intel Cooper Lake,
# Sapphire Rapids+) and AMX-BF16 (Intel Sapphire Rapids+); Arm's BF16 (Graviton 3+, Neoverse V1+)
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_bf16_native(cpuinfo: str | None = None) -> bool | None:
    """Whether this CPU computes bfloat16 natively, from the flags (x86) or Features (Arm) lines of
    /proc/cpuinfo (or the given text); None where they cannot be read (not Linux). Without it bfloat16
    still runs, emulated by oneDNN or torch's fallbacks, slower than float32."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return None
    lines = [line for line in cpuinfo.splitlines() if line.split(":")[0].strip() in ("flags", "Features")]
    if not lines:
        return None
    return bool(NATIVE_BF16_FLAGS & set(lines[0].split(":", 1)[1].split()))


def slow_cpu_precision(dtype: str, device: torch.device, native_bf16: bool | None) -> str | None:
    """The one-line warning for a precision this CPU runs slower than float32, or None: bfloat16 without
    native bfloat16 (native_bf16: cpu_bf16_native()), and float16, which no CPU path here computes natively."""
    if device.type != "cpu" or dtype == "float32":
        return None
    if dtype == "bfloat16" and native_bf16:
        return None
    why = ("this CPU has no native bfloat16 (no avx512_bf16, amx_bf16 or Arm bf16 flag)" if native_bf16 is False
           else "this CPU's bfloat16 support is unknown" if dtype == "bfloat16"
           else "CPUs compute float16 through conversions")
    return (f"sparklong: precision {dtype!r} on the CPU runs, but slower than float32: {why}; "
            "set precision 'float32' (or 'auto') for speed")
