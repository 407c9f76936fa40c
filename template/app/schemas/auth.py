from typing import Literal

from pydantic import BaseModel, Field


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = Field(default="bearer")
    expires_in: int
    """Seconds until the access token expires."""


class RefreshRequest(BaseModel):
    refresh_token: str
