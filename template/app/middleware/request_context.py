"""Request id, access log and the answer to unexpected errors, as a pure ASGI middleware (no
per-request task overhead)."""

import re
import time
import uuid

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import FilteringBoundLogger

from app.core.errors import internal_error_response
from app.core.logging import REQUEST_ID_HEADER, REQUEST_ID_KEY

# An incoming id is kept only if it is short and plain, so it is safe to log and echo back.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_REQUEST_ID_HEADER_NAME = REQUEST_ID_HEADER.lower().encode("latin-1")

logger = structlog.get_logger(__name__)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            request_id = value.decode("latin-1")
            return request_id if _VALID_REQUEST_ID.match(request_id) else None
    return None


class RequestContextMiddleware:
    """Binds the request id to the log context and the response, and logs one `request` line
    with the status the client was actually sent.

    An exception no handler turned into a response ends here: it is logged once, as
    `unhandled_error` with the request id, and answered with the 500 envelope. It is not raised
    on: the server would log it a second time ("Exception in ASGI application").
    """

    def __init__(self, app: ASGIApp, *, access_log: FilteringBoundLogger) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**{REQUEST_ID_KEY: request_id})
        started = time.perf_counter()
        status_code: int | None = None
        complete = False

        request_id_header = (_REQUEST_ID_HEADER_NAME, request_id.encode("latin-1"))

        async def send_with_request_id(message: Message) -> None:
            nonlocal status_code, complete
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), request_id_header]
            await send(message)
            if message["type"] == "http.response.start":
                status_code = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as exc:
            logger.exception("unhandled_error", error_type=type(exc).__name__)
            if status_code is None:
                await internal_error_response(Request(scope))(scope, receive, send_with_request_id)
        finally:
            # A response cut after its status line was sent (an error while streaming the body)
            # is logged with `complete=false`: the client did not get what the status says.
            self.access_log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                **({} if complete else {"complete": False}),
            )
