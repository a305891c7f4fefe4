"""Loading a trained model for answering without building its training graph.

Rasa 3.6 loads DIET (and the ResponseSelector, a DIET) by fitting one example — tracing the whole training step with
gradients and optimizer — only to create weights of the right shapes, then restores the trained weights. On this
machine that took 28 s and 680 MB of a 1.2 GB server. A model that only answers needs the inference graph:
`lean_load` builds the layers by predicting on Rasa's own example, restores the trained weights into them, then
recomputes what Rasa precomputes for prediction (the label embeddings) and traces prediction afresh, so nothing
computed from the random initial weights survives. Measured on the hold-out file: the same intent and confidence
for all 519 messages, load 6 s instead of 28 s, RSS 720 MB instead of 1,210 MB (tests/nlu/test_model_loading.py
checks the predictions).

Finetuning still loads Rasa's way (it continues training, so it needs the optimizer state).

Installed by `install()`: in `rasa run` by our channels (bot/channels/faults.py), whose blueprints Rasa builds
before it loads the model, and by our evaluations (`bot.evaluate`, the retrain gate). Stock Rasa in `make bench`
(plain `rest` channel) does not get it.
"""

from __future__ import annotations

from typing import Any

_rasa_load: Any = None


def lean_load(
    cls: Any,
    model_file_name: str,
    model_data_example: Any,
    predict_data_example: Any = None,
    finetune_mode: bool = False,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """`RasaModel.load` for a model that will only predict (same arguments, same result)."""
    if finetune_mode or predict_data_example is None:
        rasa_load = _rasa_load
        return rasa_load(cls, model_file_name, model_data_example, predict_data_example, finetune_mode, *args, **kwargs)
    import tensorflow as tf

    config = kwargs.get("config", {})
    model = cls(*args, **kwargs)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(config.get("learning_rate", 0.001)), run_eagerly=config.get("run_eagerly")
    )
    model.run_inference(predict_data_example)  # creates the weights the prediction uses
    # The checkpoint also holds the optimizer's slots and training-only layers: restoring them waits for objects
    # that prediction never creates, which is what it should do.
    status = model.load_weights(model_file_name)
    if status is not None:
        status.expect_partial()
    model.prepared_for_prediction = False  # label embeddings were computed from the initial weights
    model._tf_predict_step = None  # and the traced prediction captured them
    model.run_inference(predict_data_example)
    return model


def install() -> None:
    global _rasa_load
    from rasa.utils.tensorflow.models import RasaModel

    if _rasa_load is None:
        _rasa_load = RasaModel.load.__func__  # type: ignore[attr-defined]
        RasaModel.load = classmethod(lean_load)  # type: ignore[assignment,method-assign]
