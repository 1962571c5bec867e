"""sparklong's engine (Longformer; ModernBERT; BERT, RoBERTa, XLM-RoBERTa): config, checkpoint I/O, banded
attention, encoders, heads, tokenizer, ONNX export (onnxruntime is imported only when an exported graph is
run or quantized)."""
from .bert import BertConfig
from .checkpoint import CheckpointError
from .config import ConfigError, LongformerConfig
from .convert import convert_to_long
from .loading import load
from .modernbert import ModernBertConfig
from .onnx_export import export_onnx

__all__ = ["BertConfig", "CheckpointError", "ConfigError", "LongformerConfig", "ModernBertConfig", "convert_to_long", "export_onnx", "load"]
