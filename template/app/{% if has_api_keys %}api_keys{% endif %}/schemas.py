from pydantic import BaseModel


class ApiKeyIdentity(BaseModel):
    """The caller, as the API key it sent names it."""

    name: str
