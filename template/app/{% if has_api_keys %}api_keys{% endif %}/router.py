from fastapi import APIRouter

from app.api_keys.dependencies import CurrentPrincipal
from app.api_keys.schemas import ApiKeyIdentity

router = APIRouter(prefix="/api-keys", tags=["api keys"])


@router.get("/me")
async def read_current_api_key(principal: CurrentPrincipal) -> ApiKeyIdentity:
    """Who the API key in the request belongs to."""
    return ApiKeyIdentity(name=principal.subject)
