"""`PUT /model` without stopping the server: the new model is loaded in a worker thread, then swapped in.

Rasa 3.6's handler awaits `rasa.server._load_agent`, whose model loading (TensorFlow graphs, ~15 s) is synchronous
and so blocks the event loop: every resident's turn waits, and turns that were mid-way hit the action timeout.
`install()` replaces that function with one that builds the agent the same way (`rasa.core.agent.load_agent` with
the same endpoints) but runs `Agent.load_model` in an executor. The handler, its token check and the final swap
(`app.ctx.agent = new_agent`, keeping the lock store) stay Rasa's own. Called from the channels' start-up listener.
"""

from __future__ import annotations

import asyncio
import logging
import os
from http import HTTPStatus
from typing import Any

import rasa.core.agent
import rasa.server
from rasa.core.agent import Agent

logger = logging.getLogger(__name__)

_original_load_agent = rasa.server._load_agent


async def load_agent_off_loop(
    model_path: str | None = None,
    model_server: Any = None,
    remote_storage: str | None = None,
    endpoints: Any = None,
) -> Agent:
    """Like `rasa.server._load_agent` for a model file on disk, with the loading itself in a worker thread."""
    if model_server is not None or remote_storage is not None or (endpoints is not None and endpoints.model):
        return await _original_load_agent(model_path, model_server, remote_storage, endpoints)
    if not model_path or not os.path.exists(model_path):
        raise rasa.server.ErrorResponse(
            HTTPStatus.BAD_REQUEST,
            "BadRequest",
            f"Agent with name '{model_path}' could not be loaded.",
            {"parameter": "model", "in": "query"},
        )
    agent = await rasa.core.agent.load_agent(endpoints=endpoints)  # stores and endpoints, no model yet
    try:
        await asyncio.get_running_loop().run_in_executor(None, agent.load_model, model_path)
    except Exception as error:
        logger.exception("model %s could not be loaded", model_path)
        raise rasa.server.ErrorResponse(
            HTTPStatus.INTERNAL_SERVER_ERROR, "LoadingError", f"An unexpected error occurred. Error: {error}"
        ) from error
    if not agent.is_ready():
        raise rasa.server.ErrorResponse(
            HTTPStatus.BAD_REQUEST,
            "BadRequest",
            f"Agent with name '{model_path}' could not be loaded.",
            {"parameter": "model", "in": "query"},
        )
    logger.info("model %s loaded beside the running one; swapping it in", model_path)
    return agent


def install() -> None:
    rasa.server._load_agent = load_agent_off_loop
