"""`PUT /model` without stopping the server: the new model is loaded in a worker thread, then swapped in.

Rasa 3.6's handler awaits `rasa.server._load_agent`, whose model loading (TensorFlow graphs, ~15 s) is synchronous
and so blocks the event loop: every resident's turn waits, and turns that were mid-way hit the action timeout.
`install()` replaces that function with one that builds the agent the same way (`rasa.core.agent.load_agent` with
the same endpoints) but runs `Agent.load_model` in an executor. The handler, its token check and the final swap
(`app.ctx.agent = new_agent`, keeping the lock store) stay Rasa's own. The same for the pulls from a model server
(`make run-cluster`, bot/deploy.py): Rasa loads a pulled model on the event loop; ours loads it in a worker thread.
Called from the channels' start-up listener.
"""

from __future__ import annotations

import asyncio
import logging
import os
from http import HTTPStatus
from typing import Any

import aiohttp
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


async def update_model_from_server_off_loop(model_server: Any, agent: Agent) -> None:
    """Rasa's model-server pull (`rasa.core.agent._update_model_from_server`, run every `wait_time_between_pulls`
    seconds by the cluster's instances) with the loading in a worker thread: Rasa's own loads the model on the event
    loop, and every resident's turn would wait for it. The download, its ETag check and what is set on the agent
    are Rasa's; the new processor is swapped in on the event loop once it is complete."""
    from functools import partial

    from rasa.core.processor import MessageProcessor
    from rasa.nlu.utils import is_url
    from rasa.utils.common import TempDirectoryPath, get_temp_dir_name

    if not is_url(model_server.url):
        raise aiohttp.InvalidURL(model_server.url)
    with TempDirectoryPath(get_temp_dir_name()) as directory:
        try:
            fingerprint = await rasa.core.agent._pull_model_and_fingerprint(model_server, agent.fingerprint, directory)
            if not fingerprint:
                return
            logger.info("model server has a new model (%s); loading it beside the running one", fingerprint)
            processor = await asyncio.get_running_loop().run_in_executor(
                None,
                partial(
                    MessageProcessor,
                    model_path=directory,
                    tracker_store=agent.tracker_store,
                    lock_store=agent.lock_store,
                    action_endpoint=agent.action_endpoint,
                    generator=agent.nlg,
                    http_interpreter=agent.http_interpreter,
                ),
            )
        except Exception:
            logger.exception("Failed to update model. The previous model will stay loaded instead.")
            return
    _set_processor(agent, processor, fingerprint)
    logger.info("model %s (%s) is live", processor.model_filename, fingerprint)


def _set_processor(agent: Agent, processor: Any, fingerprint: str) -> None:
    """What `Agent.load_model` sets once its processor is built (Rasa 3.6)."""
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator

    agent.processor = processor
    agent.domain = processor.domain
    agent._set_fingerprint(fingerprint)
    agent.tracker_store.domain = agent.domain
    if isinstance(agent.nlg, TemplatedNaturalLanguageGenerator):
        agent.nlg.responses = agent.domain.responses if agent.domain else {}


def install() -> None:
    rasa.server._load_agent = load_agent_off_loop
    rasa.core.agent._update_model_from_server = update_model_from_server_off_loop
