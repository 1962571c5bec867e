"""ModernBertForQuestionAnswering: the question answering stage (question_answering_stage.py) on ModernBERT
checkpoints (model_type modernbert)."""
from .question_answering_stage import QuestionAnsweringStage
from .stage_families import MODERNBERT


class ModernBertForQuestionAnswering(QuestionAnsweringStage):
    family = MODERNBERT
    default_pretrained = None  # docs/pretrained.md
