"""Answering a message without TensorFlow's per-call bookkeeping.

Rasa 3.6 predicts through a `tf.function` with an input signature. Each call, TensorFlow matches the ~20 input
arrays against that signature (canonicalising the arguments, converting and checking each one) and looks up the
traced graph, before running it: under `make bench` at 10 residents at once that bookkeeping was ~14 % of the Rasa
process's time (py-spy), more than the graph itself. The graph is traced once for that signature; this mixin keeps
it and calls it with the arrays converted to tensors of the signature's types, after checking each array's rank and
fixed last dimension as the signature would. Anything unusual (eager mode, a first call, a shape the signature would
refuse) goes Rasa's way. Same outputs (tests/nlu/test_fast_predict.py).
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np
from keras.utils import tf_utils
from rasa.shared.constants import DIAGNOSTIC_DATA
from tensorflow.python.eager import context  # the eager context: no public API makes an EagerTensor directly
from tensorflow.python.framework import constant_op


class _Direct:
    """The traced graph of one prediction function, and its inputs' (dtype, rank, fixed last dimension).

    A plain object, so Keras does not track it as part of the model (a tuple attribute would be)."""

    def __init__(self, function: Any) -> None:
        self.function = function
        self.graph = function.get_concrete_function()
        specs = self.graph.structured_input_signature[0][0]
        self.inputs = [(spec.dtype, spec.shape.rank, spec.shape[-1] if spec.shape.rank else None) for spec in specs]


class FastPredict:
    """Mixin for a Rasa `RasaModel` subclass: `_rasa_predict` calls the traced prediction graph directly."""

    enabled = True  # tests compare with Rasa's own call
    _direct: _Direct | None = None

    def _rasa_predict(self, batch_in: Tuple[np.ndarray, ...]) -> Dict[str, Any]:
        model: Any = self
        direct = self._direct_call(model) if self.enabled and not model._run_eagerly else None
        if direct is None or not _fits(batch_in, direct.inputs):
            return super()._rasa_predict(batch_in)  # type: ignore[misc, no-any-return]
        # What tf.convert_to_tensor ends in for an array in eager mode, without its dispatch layers.
        ctx = context.context()
        pairs = zip(batch_in, direct.inputs, strict=True)
        tensors = [constant_op.convert_to_eager_tensor(array, ctx, dtype) for array, (dtype, _, _) in pairs]
        graph = direct.graph
        outputs = tf_utils.sync_to_numpy_or_python_type(graph._call_flat(tensors, graph.captured_inputs))
        if DIAGNOSTIC_DATA in outputs:
            outputs[DIAGNOSTIC_DATA] = model._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
        return dict(outputs)

    def _direct_call(self, model: Any) -> _Direct | None:
        """The traced graph of the current prediction function (None until Rasa's first call has traced it)."""
        function = model._tf_predict_step
        if function is None or not model.prepared_for_prediction:
            return None
        if self._direct is None or self._direct.function is not function:
            self._direct = _Direct(function)
        return self._direct


def _fits(batch_in: Tuple[np.ndarray, ...], inputs: list[tuple[Any, int, int | None]]) -> bool:
    """Each array has the signature's rank and, where it is fixed, its last dimension."""
    if len(batch_in) != len(inputs):
        return False
    for array, (_, rank, last) in zip(batch_in, inputs, strict=True):
        shape = np.shape(array)
        if len(shape) != rank or (last is not None and rank and shape[-1] != last):
            return False
    return True
