"""What every benchmark report says about its run: the machine (CPU model, versions) and the run's
wall time and load averages (other processes on the machine skew timings: a report says so)."""
from __future__ import annotations

import os
import platform
import sys
import time

import torch


def machine_info(device: str = "cpu") -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "platform": platform.platform(), "cpu": cpu_name(), "cpu_flags": cpu_flags()}
    for package in ("transformers", "onnxruntime"):
        try:
            info[package] = __import__(package).__version__
        except ImportError:
            pass
    if device == "cuda":
        info["device_name"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    else:
        info["device_name"] = info["cpu"]
    return info


# /proc/cpuinfo flags that decide the CPU kernels: AVX-512, its bf16 and int8 (VNNI) dot products, AMX tiles
KERNEL_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile")


def cpu_flags() -> dict[str, bool]:
    """Which of KERNEL_FLAGS /proc/cpuinfo lists (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return {}
    return {flag: flag in flags for flag in KERNEL_FLAGS}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class RunClock:
    """Started at construction; record() gives the wall time and the load averages at start and end."""

    def __init__(self):
        self.started, self.load_at_start = time.time(), os.getloadavg()

    def record(self) -> dict:
        return {"wall_s": round(time.time() - self.started, 1),
                "load_average_1_5_15min": {"start": [round(x, 2) for x in self.load_at_start],
                                           "end": [round(x, 2) for x in os.getloadavg()]}}


def pyplot_for(path: str):
    """matplotlib.pyplot (headless) to draw `path` with, or None (said on stderr) when not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"--plot {path}: matplotlib is not installed (pip install matplotlib); no PNG written", file=sys.stderr)
        return None
    return plt
