"""LongformerSentenceEmbeddings: the document and chunk vectors stage (document_vectors_stage.py) on
Longformer checkpoints."""
from .document_vectors_stage import DocumentVectorsStage
from .stage_families import LONGFORMER


class LongformerSentenceEmbeddings(DocumentVectorsStage):
    family = LONGFORMER
    default_pretrained = "longformer_base_4096"
