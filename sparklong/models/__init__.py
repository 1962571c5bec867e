"""sparklong's engine (Longformer; ModernBERT, embeddings only so far): config, checkpoint I/O, banded
attention, encoders, heads, tokenizer, ONNX export (onnxruntime is imported only when an exported graph is
run or quantized)."""
from .checkpoint import CheckpointError
from .config import ConfigError, LongformerConfig
from .convert import convert_to_long
from .loading import load
from .modernbert import ModernBertConfig
from .onnx_export import export_onnx

__all__ = ["CheckpointError", "ConfigError", "LongformerConfig", "ModernBertConfig", "convert_to_long", "export_onnx", "load"]
