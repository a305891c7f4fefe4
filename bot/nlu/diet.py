"""Rasa's DIETClassifier, with an entity CRF that TensorFlow traces in under half the time.

Training DIET on this data spent its first epoch (25-50 s of a 100-250 s training) building the training graph, and
most of that (~80 %, py-spy) went to the entity CRF, because Rasa's training step records on a persistent gradient tape:

- the CRF's Viterbi decoding, which in training only feeds the F1 shown in the progress bar, was recorded on it, so
  TensorFlow built forward and backward functions for decoding's `tf.cond` and its RNN loop;
- the log-likelihood picks its formula with a `tf.cond` on "is the longest sequence one token?", and the gradient of
  a `cond` that holds a `tf.scan` is expensive to trace.

Here decoding runs off the tape (it has no gradient to give), and the likelihood pads every sequence with one masked
step, so the general formula holds for any length and needs no `cond`: the same numbers (tests/nlu/test_diet.py),
with no change to prediction or to the saved weights' layout. Measured with `make train` on one
machine the same night: DIET's first epoch 49 s -> 21 s. A staff FAQ goes live sooner.
"""

from __future__ import annotations

from typing import Tuple, Type

import tensorflow as tf
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.diet_classifier import DIET
from rasa.nlu.classifiers.diet_classifier import DIETClassifier as RasaDIETClassifier
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow import crf, layers
from rasa.utils.tensorflow.constants import REGULARIZATION_CONSTANT, SCALE_LOSS
from rasa.utils.tensorflow.models import RasaModel
from tensorflow.python.eager import tape  # stop_recording: no public API pauses every active tape

from bot.nlu.fast_predict import FastPredict
from bot.nlu.finetune import LeanFinetune
from bot.nlu.repeatable import repeatable_training


def log_likelihood(
    inputs: tf.Tensor, tag_indices: tf.Tensor, sequence_lengths: tf.Tensor, transition_params: tf.Tensor
) -> tf.Tensor:
    """`rasa.utils.tensorflow.crf.crf_log_likelihood` without its two `tf.cond`s: [batch] log-likelihoods."""
    # One extra step past every sequence's end: the longest sequence has at least two steps, so the multi-step
    # formulas apply; sequence_lengths mask the extra step out of every sum and every gathered alpha.
    inputs = tf.pad(inputs, [[0, 0], [0, 1], [0, 0]])
    tag_indices = tf.pad(tf.cast(tag_indices, tf.int32), [[0, 0], [0, 1]])
    sequence_lengths = tf.cast(sequence_lengths, tf.int32)
    transition_params = tf.cast(transition_params, inputs.dtype)

    sequence_scores = crf.crf_unary_score(tag_indices, sequence_lengths, inputs) + crf.crf_binary_score(
        tag_indices, sequence_lengths, transition_params
    )
    alphas = crf.crf_forward(inputs[:, 1:, :], inputs[:, 0, :], transition_params, sequence_lengths)
    log_norm = tf.reduce_logsumexp(alphas, [1])
    log_norm = tf.where(tf.less_equal(sequence_lengths, 0), tf.zeros_like(log_norm), log_norm)
    return sequence_scores - log_norm


class TapeFreeCRF(layers.CRF):
    """Rasa's CRF layer: decoding off the gradient tape, the likelihood without `tf.cond`."""

    def call(self, logits: tf.Tensor, sequence_lengths: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        with tape.stop_recording():
            return super().call(logits, sequence_lengths)

    def loss(self, logits: tf.Tensor, tag_indices: tf.Tensor, sequence_lengths: tf.Tensor) -> tf.Tensor:
        likelihood = log_likelihood(logits, tag_indices, sequence_lengths, self.transition_params)
        loss = -likelihood
        if self.scale_loss:
            loss *= layers._scale_loss(likelihood)  # Rasa's own scaling, as in layers.CRF.loss
        return tf.reduce_mean(loss)


class FastTraceDIET(FastPredict, LeanFinetune, DIET):
    def _prepare_entity_recognition_layers(self) -> None:
        super()._prepare_entity_recognition_layers()
        # Same keys in _tf_layers as Rasa's, so checkpoints (and --finetune from them) line up.
        for tag_spec in self._entity_tag_specs:
            self._tf_layers[f"crf.{tag_spec.tag_name}"] = TapeFreeCRF(
                tag_spec.num_tags, self.config[REGULARIZATION_CONSTANT], self.config[SCALE_LOSS]
            )


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=True,
)
class DIETClassifier(RasaDIETClassifier):
    """Rasa's DIETClassifier (same options, same predictions) training a FastTraceDIET."""

    @staticmethod
    def model_class() -> Type[RasaModel]:
        return FastTraceDIET

    def train(self, training_data: TrainingData) -> Resource:
        repeatable_training()
        return super().train(training_data)
