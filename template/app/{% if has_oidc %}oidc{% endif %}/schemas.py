from pydantic import BaseModel


class PrincipalRead(BaseModel):
    """The caller as the service sees its access token."""

    subject: str
    permissions: list[str]
