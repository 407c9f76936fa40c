from typing import Literal

from pydantic import BaseModel, Field

from app.accounts.schemas import Email, Password
from app.core.schemas import StorableText


class LoginForm(BaseModel):
    """The OAuth2 password grant (RFC 6749, section 4.3.2), sent as a form: `username` carries
    the email. A form has no null, and an empty field counts as a missing one, so the schema
    says neither is accepted."""

    grant_type: Literal["password"] = "password"
    username: StorableText = Field(min_length=1, max_length=320)
    password: StorableText = Field(min_length=1)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = Field(default="bearer")
    expires_in: int
    """Seconds until the access token expires."""


class RefreshRequest(BaseModel):
    refresh_token: StorableText


class EmailRequest(BaseModel):
    """Ask for an email to an address: a password reset link, a verification link."""

    email: Email


class AddressEmailed(BaseModel):
    """The same answer whether or not the address has an account."""

    detail: str = "If an account uses this address, an email is on its way."


class PasswordResetConfirm(BaseModel):
    token: StorableText = Field(min_length=1, max_length=128)
    new_password: Password


class EmailVerificationConfirm(BaseModel):
    token: StorableText = Field(min_length=1, max_length=2048)
