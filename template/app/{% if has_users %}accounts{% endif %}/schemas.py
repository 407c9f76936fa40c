import re
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from app.core.schemas import StorableText
from app.core.timestamps import Timestamp

# An email address as the schema's "format: email" defines it (RFC 5321), and as its pattern
# states: a dot-atom before the @, a host name after it, reserved names such as example.test or
# localhost included (test and internal deployments use them; whether mail arrives is learnt by
# sending it, not from the syntax). Left out: a quoted local part ("john doe"@...) and an address
# literal (a@[192.0.2.1]), which nobody signs up with.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*$"
EMAIL_MAX_LENGTH = 254
_EMAIL = re.compile(EMAIL_PATTERN)


def _email_address(value: str) -> str:
    if len(value) > EMAIL_MAX_LENGTH or _EMAIL.fullmatch(value) is None:
        raise PydanticCustomError("value_error", "value is not a valid email address")
    return value.lower()


Email = Annotated[
    str,
    AfterValidator(_email_address),
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "pattern": EMAIL_PATTERN,
            "maxLength": EMAIL_MAX_LENGTH,
        }
    ),
]
Password = Annotated[StorableText, Field(min_length=8, max_length=128)]


class UserCreate(BaseModel):
    email: Email
    password: Password
    full_name: StorableText = Field(default="", max_length=200)


class UserUpdate(BaseModel):
    # Refused rather than ignored: a password sent here would be dropped without a word (it
    # changes at POST /users/me/password, with the current one).
    model_config = ConfigDict(extra="forbid")

    full_name: StorableText | None = Field(default=None, max_length=200)


class PasswordChange(BaseModel):
    current_password: StorableText = Field(max_length=128)
    new_password: Password


class EmailChange(BaseModel):
    new_email: Email
    current_password: StorableText = Field(max_length=128)


class UserAdminUpdate(BaseModel):
    """What a superuser may change on any account."""

    model_config = ConfigDict(extra="forbid")

    is_active: bool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    is_active: bool
    is_superuser: bool
    email_verified_at: Timestamp | None
    created_at: Timestamp
