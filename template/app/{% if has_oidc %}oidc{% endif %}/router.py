from fastapi import APIRouter

from app.oidc.dependencies import CurrentPrincipal
from app.oidc.schemas import PrincipalRead

router = APIRouter(prefix="/me", tags=["me"])


@router.get("")
async def read_me(principal: CurrentPrincipal) -> PrincipalRead:
    """The caller's subject and the permissions its token grants."""
    return PrincipalRead(subject=principal.subject, permissions=sorted(principal.scopes or ()))
