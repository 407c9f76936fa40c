"""The caller, from an access token the identity provider issued, and permission checks."""

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core.errors import UnauthorizedError
from app.core.principal import Principal
from app.oidc.verifier import TokenVerifier

bearer_scheme = HTTPBearer(
    bearerFormat="JWT",
    description="An access token issued by the identity provider (OIDC_ISSUER).",
    auto_error=False,
)


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    if credentials is None:
        raise UnauthorizedError("Not authenticated.", code="not_authenticated")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def permission_required(permission: str) -> Any:
    """A route dependency refusing callers whose token does not grant `permission`."""

    async def check(principal: CurrentPrincipal) -> None:
        principal.require(permission)

    return Depends(check)
