"""LongformerEmbeddings: the word embeddings stage (embeddings_stage.py) on Longformer checkpoints."""
from .embeddings_stage import EmbeddingsStage
from .stage_families import LONGFORMER


class LongformerEmbeddings(EmbeddingsStage):
    family = LONGFORMER
    default_pretrained = "longformer_base_4096"
