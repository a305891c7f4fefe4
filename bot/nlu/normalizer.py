"""A pipeline step before the tokenizer: traditional -> simplified, full-width -> half-width.

Residents write 社保卡怎麼辦 or ＪＧ－２０２６…; the training data is mostly simplified. Converting character by
character keeps every offset, so entity annotations in the training data stay valid.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.text import squeeze, to_simplified


# Registered as a tokenizer so the recipe runs it in pipeline order in both training and prediction.
@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class ChineseNormalizer(GraphComponent):
    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ChineseNormalizer:
        return cls()

    @staticmethod
    def _normalise(message: Message) -> None:
        text = message.get(TEXT)
        if isinstance(text, str) and text:
            message.set(TEXT, to_simplified(text))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._normalise(example)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        # At prediction only (training data keeps its entity offsets): panic typing such as `   电梯   困人  `,
        # 救命！！！ or 快快快 reads as the plain sentence the model learnt from.
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str) and text and not text.startswith("/"):
                message.set(TEXT, squeeze(text) or to_simplified(text))
        return messages
