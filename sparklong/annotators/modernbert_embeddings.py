"""ModernBertEmbeddings: the word embeddings stage (embeddings_stage.py) on ModernBERT checkpoints
(model_type modernbert)."""
from .embeddings_stage import EmbeddingsStage
from .stage_families import MODERNBERT


class ModernBertEmbeddings(EmbeddingsStage):
    family = MODERNBERT
    default_pretrained = "modernbert_base"
