"""Costs Rasa 3.6 pays on every turn that do not buy anything here, found with py-spy under `make bench`.

Installed by `install()`, which the conversation store calls when it starts (so in every `rasa run` that uses it):

- Rasa validates each action server answer with `jsonschema.validate`, which first validates the *schema* against
  the JSON-Schema meta-schema: a third of a turn once. The answer is still validated, by a validator built once.
- Rasa joins a message's sparse features (four featurizers, sequence and sentence) with `scipy.sparse.hstack`,
  which goes through the general block-matrix code: ~100 µs a join, six a message. `hstack_coo` joins the two COO
  matrices directly (~25 µs): the same rows, columns, values and order.
- Rasa sends the whole conversation to the action server on every action call, so a turn cost more the longer the
  conversation. Our actions read the slots, the latest message and the active form, which Rasa sends in full; of
  the events, rasa-sdk needs only the recent ones (a form's `slots_to_validate()` looks at the events after the
  latest user message). The action server gets the last `ACTION_CALL_TURNS` turns' events.
"""

from __future__ import annotations

import functools
from typing import Any

import rasa
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

# Resident messages whose events go to the action server (with everything after them): rasa-sdk reads only the
# events after the latest one (a form's slot candidates); one more for margin. Ten cost ~3 % of Rasa's CPU at c=10 in
# JSON-encoding the call (py-spy).
ACTION_CALL_TURNS = 2


@functools.lru_cache(maxsize=1)
def _action_response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)  # once, not on every action call
    return validator_class(schema)


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    """`RemoteAction._validate_action_result` with the same checks and message, the schema checked once."""
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    error = best_match(_action_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, make sure your response from the Action endpoint "
        f"is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
    )
    raise error


def recent_events(tracker: DialogueStateTracker, turns: int = ACTION_CALL_TURNS) -> list[Event]:
    """The events from the `turns`-th last resident message on (all of them in a shorter conversation)."""
    events = list(tracker.events)
    messages = [index for index, event in enumerate(events) if isinstance(event, UserUttered)]
    return events[messages[-turns] :] if len(messages) >= turns else events


def _action_call_format(self: Any, tracker: DialogueStateTracker, domain: Any) -> dict[str, Any]:
    """`RemoteAction._action_call_format` with the recent events only; the rest of the tracker state is as Rasa's."""
    state = tracker.current_state(EventVerbosity.NONE)
    state["events"] = [event.as_dict() for event in recent_events(tracker)]
    result = {"next_action": self._name, "sender_id": tracker.sender_id, "tracker": state, "version": rasa.__version__}
    if not self._is_selective_domain_enabled() or domain.does_custom_action_explicitly_need_domain(self.name()):
        result["domain"] = domain.as_dict()
    return result


def hstack_coo(left: Any, right: Any) -> Any:
    """`scipy.sparse.hstack([left, right])` for two sparse matrices: the COO matrix it returns, entry for entry."""
    import numpy as np
    import scipy.sparse

    a, b = left.tocoo(), right.tocoo()
    data = np.concatenate([a.data, b.data]).astype(np.result_type(a.dtype, b.dtype), copy=False)
    rows, columns = np.concatenate([a.row, b.row]), np.concatenate([a.col, b.col + a.shape[1]])
    return scipy.sparse.coo_matrix((data, (rows, columns)), shape=(a.shape[0], a.shape[1] + b.shape[1]))


def _combine_sparse_features(self: Any, additional_features: Any) -> None:
    """`Features._combine_sparse_features` with the same check and message, joined by `hstack_coo`."""
    if self.features.shape[0] != additional_features.features.shape[0]:
        raise ValueError(
            f"Cannot combine sparse features as sequence dimensions do not match: {self.features.shape[0]} != "
            f"{additional_features.features.shape[0]}."
        )
    self.features = hstack_coo(self.features, additional_features.features)
    self._cached_fingerprint = None


def install() -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.nlu.training_data.features import Features

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    RemoteAction._action_call_format = _action_call_format  # type: ignore[method-assign]
    Features._combine_sparse_features = _combine_sparse_features  # type: ignore[method-assign]
