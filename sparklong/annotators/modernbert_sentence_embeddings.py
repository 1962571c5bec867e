"""ModernBertSentenceEmbeddings: the document and chunk vectors stage (document_vectors_stage.py) on
ModernBERT checkpoints (model_type modernbert)."""
from .document_vectors_stage import DocumentVectorsStage
from .stage_families import MODERNBERT


class ModernBertSentenceEmbeddings(DocumentVectorsStage):
    family = MODERNBERT
    default_pretrained = "gte_modernbert_base"
