"""The error envelope, as documented in the OpenAPI schema (see app/core/errors.py)."""

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str | None
    details: list[dict[str, Any]] | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


# Every route can refuse a request or fail, and always answers in the envelope; declared once,
# on the application, so every operation in the schema (and every generated client) says so.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorEnvelope, "description": "The request was refused."},
    "5XX": {"model": ErrorEnvelope, "description": "The service failed or is unavailable."},
}
