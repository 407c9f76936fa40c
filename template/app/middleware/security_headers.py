"""Adds the security headers (app/core/security_headers.py) to every response."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.security_headers import DOCS_PATHS, security_headers

RawHeaders = list[tuple[bytes, bytes]]


def _encoded(headers: dict[str, str]) -> RawHeaders:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]


class SecurityHeadersMiddleware:
    """A header the application set itself is kept. The headers are encoded once, here: every
    response would otherwise build and encode the same ones again."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.api_headers = _encoded(security_headers("/", hsts=hsts))
        self.docs_headers = _encoded(security_headers("/docs", hsts=hsts))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.docs_headers if scope["path"] in DOCS_PATHS else self.api_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: RawHeaders = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [h for h in extra if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)
