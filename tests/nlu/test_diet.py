"""bot.nlu.diet: the entity CRF computes what Rasa's does (values and gradients), with no tf.cond to trace."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from rasa.utils.tensorflow import crf, layers

from bot.nlu.diet import DIETClassifier, FastTraceDIET, TapeFreeCRF, log_likelihood


def _batch(max_len: int, lengths: list[int], num_tags: int = 5, seed: int = 0) -> tuple[tf.Tensor, ...]:
    rng = np.random.default_rng(seed)
    inputs = tf.constant(rng.normal(size=(len(lengths), max_len, num_tags)), tf.float32)
    tags = tf.constant(rng.integers(0, num_tags, size=(len(lengths), max_len)), tf.int32)
    transitions = tf.Variable(rng.normal(size=(num_tags, num_tags)), dtype=tf.float32)
    return inputs, tags, tf.constant(lengths, tf.int32), transitions


@pytest.mark.parametrize(
    "max_len,lengths",
    [(1, [1, 1, 0]), (2, [2, 1, 0]), (7, [7, 3, 1, 0, 5]), (30, [30, 29, 2])],
    ids=["one-step", "two-steps", "mixed", "long"],
)
def test_log_likelihood_and_gradients_equal_rasas(max_len: int, lengths: list[int]) -> None:
    inputs, tags, lengths_t, transitions = _batch(max_len, lengths)
    results = []
    for formula in (
        lambda: crf.crf_log_likelihood(inputs, tags, lengths_t, transitions)[0],
        lambda: log_likelihood(inputs, tags, lengths_t, transitions),
    ):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(inputs)
            value = formula()
            total = tf.reduce_sum(value)
        gradients = tape.gradient(total, [inputs, transitions], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        results.append((value.numpy(), *(g.numpy() for g in gradients)))
    for rasa, ours in zip(*results, strict=True):
        np.testing.assert_allclose(ours, rasa, rtol=1e-5, atol=1e-5)


def _training_graph(layer: layers.CRF) -> tuple[tf.types.experimental.ConcreteFunction, int]:
    """Decoding and loss under a persistent tape, as in Rasa's train step; and how many functions TF had to build."""
    inputs, tags, lengths, _ = _batch(6, [6, 2, 4])
    layer(inputs, lengths)  # builds the transition weights

    @tf.function
    def step(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            predicted, _ = layer(x, lengths)
            loss = layer.loss(x, tags, lengths)
        return predicted, tape.gradient(loss, x)

    concrete = step.get_concrete_function(tf.TensorSpec([None, None, 5], tf.float32))
    return concrete, len(concrete.graph.as_graph_def().library.function)


def test_training_graph_is_smaller_and_decodes_as_rasa() -> None:
    layer = TapeFreeCRF(num_tags=5, reg_lambda=0.002, scale_loss=False)
    ours, ours_functions = _training_graph(layer)
    _, rasas_functions = _training_graph(layers.CRF(num_tags=5, reg_lambda=0.002, scale_loss=False))
    # Rasa's: forward and backward functions for three tf.conds (46 on TF 2.12); ours: decoding's cond, unrecorded
    assert ours_functions * 2 < rasas_functions, (ours_functions, rasas_functions)

    inputs, _, lengths, _ = _batch(6, [6, 2, 4], seed=1)
    predicted, gradient = ours(inputs)
    assert gradient.shape == inputs.shape
    expected, _ = layers.CRF.call(layer, inputs, lengths)  # Rasa's decoding, same weights
    np.testing.assert_array_equal(predicted.numpy(), expected.numpy())


def test_the_component_is_rasas_classifier_training_the_fast_model() -> None:
    assert DIETClassifier.__name__ == "DIETClassifier"  # entities keep extractor "DIETClassifier"
    assert DIETClassifier.model_class() is FastTraceDIET
