"""sparklong's Longformer engine: config, checkpoint I/O, banded attention, encoder, heads, tokenizer."""
from .checkpoint import CheckpointError
from .config import ConfigError, LongformerConfig
from .convert import convert_to_long
from .loading import load

__all__ = ["CheckpointError", "ConfigError", "LongformerConfig", "convert_to_long", "load"]
