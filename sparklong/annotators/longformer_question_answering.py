"""LongformerForQuestionAnswering: the question answering stage (question_answering_stage.py) on Longformer
checkpoints."""
from .question_answering_stage import QuestionAnsweringStage
from .stage_families import LONGFORMER


class LongformerForQuestionAnswering(QuestionAnsweringStage):
    family = LONGFORMER
    default_pretrained = "longformer_qa_base_4096_finetuned_squadv2"
