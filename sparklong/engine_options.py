"""The values a model stage's engine params take, and the CPU's default token budget per forward pass.

Plain constants that import nothing, so params.py, the jobs' flags and the Arrow runtime read them
without loading torch. models/devices.py maps each precision but 'auto' to its torch dtype;
models/loading.py and the runtime check quantize against QUANTIZE.
"""

ENGINES = ("torch", "onnx")  # onnx: onnxruntime on a graph exported from the same model
DEVICES = ("auto", "cpu", "cuda")  # auto: in a Spark task, the GPU Spark assigned it; else the CPU
# auto: bfloat16 on GPUs that have it, float16 on older ones, float32 on CPUs
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
QUANTIZE = ("none", "int8")  # "int8": int8 linear layers, torch (Int8Linear) or onnxruntime (onnx_export)

CPU_BATCH_TOKENS = 16384  # maxBatchTokens' default; on a GPU an unset budget comes from its memory (cores/forward.py)
