"""Domain errors and the single JSON error envelope every failure is answered with.

Services raise `AppError` subclasses; they never import FastAPI. The handlers registered by
`install_error_handlers` turn those, HTTP errors and validation errors into
`{"error": {"code", "message", "request_id", "details"}}`; `internal_error_response` is the
same envelope for an unexpected exception.
"""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.core.logging import current_request_id
from app.core.security_headers import security_headers


class AppError(Exception):
    status_code = HTTPStatus.BAD_REQUEST
    code = "bad_request"
    retry_after_seconds: int | None = None

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFoundError(AppError):
    status_code = HTTPStatus.NOT_FOUND
    code = "not_found"


class ConflictError(AppError):
    status_code = HTTPStatus.CONFLICT
    code = "conflict"


class UnauthorizedError(AppError):
    status_code = HTTPStatus.UNAUTHORIZED
    code = "unauthorized"
    # The WWW-Authenticate challenge: how to authenticate (RFC 6750 for bearer tokens).
    challenge = "Bearer"


class ForbiddenError(AppError):
    status_code = HTTPStatus.FORBIDDEN
    code = "forbidden"


class TooManyRequestsError(AppError):
    status_code = HTTPStatus.TOO_MANY_REQUESTS
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_seconds: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_seconds = retry_after_seconds


class ServiceUnavailableError(AppError):
    """A dependency cannot serve the request now; the client may retry shortly."""

    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    code = "service_unavailable"
    retry_after_seconds = 1


class ContentTooLargeError(StarletteHTTPException):
    """A request body over the size limit. An HTTP exception rather than an `AppError`: it is
    raised while FastAPI reads the body, where only HTTP exceptions pass through unchanged."""

    code = "content_too_large"

    def __init__(self, limit: int) -> None:
        message = f"The request body is larger than the limit of {limit} bytes."
        super().__init__(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, message)


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    request_id = current_request_id()
    body: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details:
        body["details"] = details
    # The X-Request-ID header is added by `RequestContextMiddleware`, which every response
    # passes through.
    return JSONResponse({"error": body}, status_code=int(status_code), headers=headers)


def _status_code_name(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "http_error"


# The methods a 405's `Allow` header can name.
HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method routed at the request's path, for a 405's `Allow` header.

    Starlette names only the methods of the first route whose path matched, and FastAPI makes
    a route for each method (`GET /items` and `POST /items` are two routes). Each route is asked
    with its public `matches`, which routers added with `include_router` answer too.
    """
    routes = request.app.router.routes

    def routed(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] is Match.FULL for route in routes)

    return ", ".join(filter(routed, HTTP_METHODS))


def internal_error_response(request: Request) -> JSONResponse:
    """The answer to an exception no handler took: it says nothing about the error.

    `RequestContextMiddleware` sends it and logs the exception, once; it is answered outside
    the middleware that adds security headers, so it carries them itself.
    """
    hsts = not request.app.state.settings.is_development
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "internal_error",
        "An unexpected error occurred.",
        headers=security_headers(request.url.path, hsts=hsts),
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def handle_app_error(_: Request, exc: AppError) -> JSONResponse:
        headers: dict[str, str] = {}
        if isinstance(exc, UnauthorizedError):
            headers["WWW-Authenticate"] = exc.challenge
        if exc.retry_after_seconds is not None:
            headers["Retry-After"] = str(exc.retry_after_seconds)
        return error_response(exc.status_code, exc.code, exc.message, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def handle_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = exc.headers
        if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return error_response(
            exc.status_code, _status_code_name(exc.status_code), message, headers=headers
        )

    @app.exception_handler(ContentTooLargeError)
    async def handle_content_too_large(_: Request, exc: ContentTooLargeError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def handle_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The rejected input is left out on purpose: it may hold a password.
        details = [
            {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
            for error in exc.errors()
        ]
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "validation_error",
            "The request is not valid.",
            details=details,
        )
