"""Deadlines for slow clients on every Sanic server we start: the web app, Rasa and the action server.

Sanic 21.12's REQUEST_TIMEOUT (while the header arrives) and RESPONSE_TIMEOUT (while the handler reads the body and
answers) are *idle* timeouts: every byte received starts them afresh, so a client sending a byte every few seconds
held a connection as long as it liked (slowloris; the audit kept connections for > 96 s with a byte every 5 s).
`install()` makes Sanic serve with a protocol that also counts from a request's first byte:

- ``REQUEST_HEADER_TIMEOUT`` (default 15 s): the whole header must be in by then;
- ``REQUEST_BODY_TIMEOUT`` (default 30 s): the whole body must be in that much later (64 KB on the web app,
  ``REQUEST_MAX_BYTES`` on Rasa).

Past a deadline the connection gets 408 and is closed. Both are Sanic settings, so they come from the environment as
``SANIC_REQUEST_HEADER_TIMEOUT`` / ``SANIC_REQUEST_BODY_TIMEOUT`` in all three servers (Sanic reads every
``SANIC_*`` variable into the config of each app it creates: Rasa's ``rasa_server``, rasa-sdk's app, ours). Sanic's
own timeouts still apply (an idle kept-alive connection closes after KEEP_ALIVE_TIMEOUT, 5 s).

Installed by `python -m bot.launch` (how bot/serve.py starts Rasa and the action server) and by `python -m bot.web`.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import Any

from sanic.http import Stage
from sanic.server.protocols.http_protocol import HttpProtocol
from sanic.server.protocols.websocket_protocol import WebSocketProtocol

logger = logging.getLogger(__name__)

HEADER_TIMEOUT = 15.0
BODY_TIMEOUT = 30.0
TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


def _setting(app: Any, name: str, default: float) -> float:
    try:
        value = float(app.config.get(name, default))
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


class _Deadlines:
    """Deadlines for a request's header and body, counted from its first byte, on top of a Sanic protocol.

    One timer per request, set when its first byte arrives (Sanic's own check runs every half of its shortest
    timeout: every 30 s in Rasa, whose keep-alive timeout is 120 s)."""

    app: Any
    loop: Any
    _http: Any
    _task: Any
    transport: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.header_timeout = _setting(self.app, "REQUEST_HEADER_TIMEOUT", HEADER_TIMEOUT)
        self.body_timeout = _setting(self.app, "REQUEST_BODY_TIMEOUT", BODY_TIMEOUT)
        self._request_started = 0.0
        self._deadline: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        http = getattr(self, "_http", None)  # not set before the connection's task starts
        if http is None or http.stage is Stage.IDLE:  # the first bytes of a request
            self._request_started = monotonic()
            self._check_again_in(self.header_timeout)
        super().data_received(data)  # type: ignore[misc]

    def _check_again_in(self, seconds: float) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(max(seconds, 0.0) + 0.01, self._check_deadlines)

    def _check_deadlines(self) -> None:
        self._deadline = None
        http, task = getattr(self, "_http", None), getattr(self, "_task", None)
        if http is None or task is None:  # the connection is gone
            return
        waited = monotonic() - self._request_started
        if http.stage is Stage.REQUEST:
            limit, late = self.header_timeout, "Request header timeout"
        elif http.stage is Stage.HANDLER and http.request_body:  # the handler is still reading the body
            limit, late = self.header_timeout + self.body_timeout, "Request body timeout"
        else:  # idle, or the whole request is in
            return
        if waited < limit:
            self._check_again_in(limit - waited)
            return
        # Answered here, not by the app's error handlers (rasa-sdk's turns every exception into a 500): 408, then the
        # connection's task ends without reading more of the request and the connection is closed.
        logger.info("%s: 408 after %.1f s, connection closed", late, waited)
        if http.response is None and self.transport is not None:
            self.transport.write(TIMEOUT_RESPONSE)
        http.keep_alive = False
        http.request_body = None
        http.stage = Stage.FAILED  # nothing more is sent on this connection
        task.cancel()


class DeadlineHttpProtocol(_Deadlines, HttpProtocol):
    """Sanic's HTTP protocol with the deadlines."""


class DeadlineWebSocketProtocol(_Deadlines, WebSocketProtocol):
    """The same for apps with websocket routes (Sanic picks this protocol for them)."""


def install() -> None:
    """Make every Sanic app of this process serve with the deadline protocols (`Sanic.run` picks its protocol from
    these two names when the caller gives none, as Rasa and rasa-sdk do)."""
    import sanic.app

    sanic.app.HttpProtocol = DeadlineHttpProtocol  # type: ignore[misc]
    sanic.app.WebSocketProtocol = DeadlineWebSocketProtocol  # type: ignore[misc]
