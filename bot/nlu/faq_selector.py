"""Rasa's ResponseSelector for staff FAQs, trained afresh when the rest of the model is finetuned, so a new FAQ does not
need a full training.

A new FAQ is a new label for the selector (`faq/f0003`). Rasa's selector sizes its label features by the number of
labels, so it cannot be finetuned with one more ("expected … 3, received … 4"), and every new FAQ cost a full
training of DIET (two to three minutes here). But the selector learns only from the FAQs' own phrases (tens, not
thousands), in seconds: when `rasa train --finetune` runs, this selector does not load the old one and trains from
scratch, while DIET, which must learn that the new phrases are a FAQ at all, is finetuned.

(Finetuning a selector whose labels were described by their text, so the width stayed the same, was tried: from two
FAQs to three its loss started at ~900 and it settled on one ranking for every phrase; trained afresh it learns
them all.)

The FAQ keys are not responses in the domain (the answer is read from the KB by `action_answer_topic`), so adding
one changes neither the domain nor Rasa's labels (the intent stays `faq`), and Rasa's finetuning checks pass. Rasa
still wants a response per key to report; the selector keeps its own (the key) instead of warning on every message.
"""

from __future__ import annotations

from typing import Any, Dict, Type

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.selectors.response_selector import DIET2BOW, ResponseSelector
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data import util
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.constants import EPOCHS
from rasa.utils.tensorflow.model_data import RasaModelData
from rasa.utils.tensorflow.models import RasaModel

from bot.nlu.fast_predict import FastPredict

FINETUNE_EPOCHS = "finetune_epochs"
FINETUNE_FRACTION = "finetuning_epoch_fraction"  # Rasa's key in a component's config while finetuning


class FastPredictDIET2BOW(FastPredict, DIET2BOW):
    """Rasa's selector model, answering without TensorFlow's per-call bookkeeping (bot/nlu/fast_predict.py)."""


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class FaqSelector(ResponseSelector):
    """Rasa's ResponseSelector (same options), trained from scratch on the FAQs whenever the model is finetuned."""

    @staticmethod
    def model_class(use_text_as_label: bool) -> Type[RasaModel]:  # type: ignore[override]
        return ResponseSelector.model_class(use_text_as_label) if use_text_as_label else FastPredictDIET2BOW

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        # Epochs when it is trained afresh during a finetuning; Rasa would give it a fraction of `epochs`
        # (--epoch-fraction), too few to learn the FAQs from scratch.
        return {**ResponseSelector.get_default_config(), FINETUNE_EPOCHS: ResponseSelector.get_default_config()[EPOCHS]}

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> ResponseSelector:
        if not execution_context.is_finetuning:
            return super().load(config, model_storage, resource, execution_context, **kwargs)
        if FINETUNE_FRACTION in config:
            config = {**config, EPOCHS: config[FINETUNE_EPOCHS]}
        fresh = cls(config, model_storage, resource, execution_context)  # the trained selector is not needed
        fresh.finetune_mode = False
        return fresh

    def preprocess_train_data(self, training_data: TrainingData) -> RasaModelData:
        model_data = super().preprocess_train_data(training_data)
        # A response per key, so Rasa's lookup finds one; the resident's answer comes from the KB.
        keys = (self.index_label_id_mapping or {}).values()
        self.responses = {util.intent_response_key_to_template_key(key): [{TEXT: key}] for key in keys}
        return model_data
