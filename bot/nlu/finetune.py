"""`rasa train --finetune` with one trace of the training step instead of three.

Finetuning DIET in Rasa 3.6 builds TensorFlow's training graph three times before the first real step:
`RasaModel.load` fits one example only to create weights of the right shapes, then restores the trained ones; a new
FAQ brings new words, so the sparse input layers grow and `adjust_for_incremental_training` compiles a fresh
optimizer and fits one example again; then training traces its own step.
On this machine each trace cost 5-8 s of a FAQ's wait.

Here loading builds the weights by predicting on Rasa's example (prediction needs every weight a training step
reads, except the optimizer's) and restores the trained weights into them; the checkpoint's optimizer slots are
restored when the optimizer creates them. After the layers grow, the model is compiled as Rasa does, and training
builds the new layers in its own trace. Training then starts from the same weights as Rasa's way
(tests/nlu/test_finetune.py).
"""

from __future__ import annotations

from typing import Any, Dict, List

import tensorflow as tf
from rasa.utils.tensorflow.constants import INTENT_CLASSIFICATION, LEARNING_RATE, RUN_EAGERLY
from rasa.utils.tensorflow.model_data import FeatureArray, RasaModelData
from rasa.utils.tensorflow.models import LABEL_KEY, LABEL_SUB_KEY, RasaModel


class LeanFinetune:
    """Mixin for a Rasa `RasaModel` subclass: finetuning loads and grows the model without extra traces."""

    @classmethod
    def load(
        cls,
        model_file_name: str,
        model_data_example: RasaModelData,
        predict_data_example: RasaModelData | None = None,
        finetune_mode: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> RasaModel:
        if not finetune_mode or predict_data_example is None:
            return super().load(  # type: ignore[misc]
                model_file_name, model_data_example, predict_data_example, finetune_mode, *args, **kwargs
            )
        config = kwargs.get("config", {})
        model = cls(*args, **kwargs)
        model.compile(  # type: ignore[attr-defined]
            optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)), run_eagerly=config.get(RUN_EAGERLY)
        )
        model.run_inference(predict_data_example)  # type: ignore[attr-defined]
        model.load_weights(model_file_name)  # type: ignore[attr-defined]  # optimizer slots: restored on creation
        model.prepared_for_prediction = False  # type: ignore[attr-defined]  # computed from the initial weights
        model._tf_predict_step = None  # type: ignore[attr-defined]
        return model  # type: ignore[no-any-return]

    def _compile_and_fit(self, data_example: Dict[str, Dict[str, List[FeatureArray]]]) -> None:
        """Rasa's step after growing the sparse layers, without fitting one example: training builds them."""
        model: Any = self
        model.compile(
            optimizer=tf.keras.optimizers.Adam(model.config[LEARNING_RATE]), run_eagerly=model.config[RUN_EAGERLY]
        )
        key, sub_key = (LABEL_KEY, LABEL_SUB_KEY) if model.config[INTENT_CLASSIFICATION] else (None, None)
        model._update_data_signatures(RasaModelData(label_key=key, label_sub_key=sub_key, data=data_example))
