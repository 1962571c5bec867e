"""sparklong's Longformer engine: config, checkpoint I/O, banded attention, encoder, heads, tokenizer,
ONNX export (onnxruntime is imported only when an exported graph is run or quantized)."""
from .checkpoint import CheckpointError
from .config import ConfigError, LongformerConfig
from .convert import convert_to_long
from .loading import load
from .onnx_export import export_onnx

__all__ = ["CheckpointError", "ConfigError", "LongformerConfig", "convert_to_long", "export_onnx", "load"]
