"""Refuses request bodies over a size limit with 413, before they are read into memory."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import ContentTooLargeError, error_response


class BodySizeLimitMiddleware:
    """A declared Content-Length is checked before the application runs. A body without one
    (chunked) is counted as it streams in; reading past the limit raises `ContentTooLargeError`,
    which the error handlers answer."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    error = ContentTooLargeError(limit)
                    response = error_response(error.status_code, error.code, error.detail)
                    await response(scope, receive, send)
                    return
                # The server delivers no more than the declared length: nothing to count.
                await self.app(scope, receive, send)
                return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ContentTooLargeError(limit)
            return message

        await self.app(scope, counting_receive, send)
