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

Each loaded model also gets a jieba tokenizer of its own (below), so that a model answers the same in every process
whatever was loaded there before.

Installed by `install()`: in `rasa run` by our channels (bot/channels/faults.py), whose blueprints Rasa builds
before it loads the model, and by our evaluations (`bot.evaluate`, the retrain gate). Stock Rasa in `make bench`
(plain `rest` channel) does not get it.
"""

from __future__ import annotations

import glob
import threading
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
    _install_model_jieba()


# --- jieba: one dictionary per loaded model ---------------------------------------------------------------------
#
# Rasa's JiebaTokenizer registers a model's dictionary into jieba's one global tokenizer (`jieba.load_userdict`),
# which adds every word's frequency to the global total again. A second model loaded in the same process (`PUT
# /model`, a pull from the model server, the gate scoring the live model before the candidate) so saw other
# frequencies than the process that scored it, and its confidences moved: the live model was not the model the gate
# scored. Installed with `install()`: each loaded JiebaTokenizer gets a jieba tokenizer of its own, made of jieba's
# main dictionary (read once per process, before any model's words) and that model's dictionary files, once.
# Training (`create`) keeps Rasa's way, in its own process.

_pristine: tuple[dict[str, int], int] | None = None
_pristine_lock = threading.Lock()


def _main_dictionary() -> tuple[dict[str, int], int]:
    """jieba's main dictionary (word → frequency, total) as no model's words have changed it."""
    global _pristine
    with _pristine_lock:
        if _pristine is None:
            import jieba

            if jieba.dt.initialized:  # someone used the global tokenizer already: read the dictionary afresh
                fresh = jieba.Tokenizer()
                fresh.initialize()
                _pristine = (fresh.FREQ, fresh.total)
            else:
                jieba.dt.initialize()
                _pristine = (dict(jieba.dt.FREQ), jieba.dt.total)
        return _pristine


def model_tokenizer(dictionary_folder: str | None) -> Any:
    """A jieba tokenizer with the main dictionary and the files in `dictionary_folder` (in Rasa's order)."""
    import jieba

    frequencies, total = _main_dictionary()
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ, tokenizer.total, tokenizer.initialized = dict(frequencies), total, True
    for path in glob.glob(f"{dictionary_folder}/*") if dictionary_folder else []:
        tokenizer.load_userdict(path)
    return tokenizer


def _load_jieba(cls: Any, config: dict[str, Any], model_storage: Any, resource: Any, *args: Any, **kwargs: Any) -> Any:
    """`JiebaTokenizer.load` with a tokenizer of the model's own (same arguments, same component)."""
    folder = None
    if config["dictionary_path"] is not None:
        try:
            with model_storage.read_from(resource) as directory:
                tokenizer = model_tokenizer(str(directory))
        except ValueError:  # as Rasa: the model has no dictionary resource
            tokenizer = model_tokenizer(folder)
    else:
        tokenizer = model_tokenizer(folder)
    component = cls(config, model_storage, resource)
    component._model_jieba = tokenizer
    return component


def _tokenize(self: Any, message: Any, attribute: str) -> Any:
    """`JiebaTokenizer.tokenize` with the model's own tokenizer (Rasa's global one for a component it trained)."""
    tokenizer = getattr(self, "_model_jieba", None)
    if tokenizer is None:
        return _rasa_tokenize(self, message, attribute)
    from rasa.nlu.tokenizers.tokenizer import Token

    tokens = [Token(word, start) for (word, start, _) in tokenizer.tokenize(message.get(attribute))]
    return self._apply_token_pattern(tokens)


_rasa_tokenize: Any = None


def _install_model_jieba() -> None:
    global _rasa_tokenize
    from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer

    if _rasa_tokenize is None:
        _rasa_tokenize = JiebaTokenizer.tokenize
        JiebaTokenizer.load = classmethod(_load_jieba)  # type: ignore[assignment,method-assign]
        JiebaTokenizer.tokenize = _tokenize  # type: ignore[method-assign]
