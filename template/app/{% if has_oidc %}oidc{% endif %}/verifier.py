"""Bearer tokens from an external OpenID Connect issuer, verified against its published keys.

The service is a resource server: it never sees a password and signs nothing. A token is
accepted when its signature verifies with the issuer's key named by its `kid`, its `iss` and
`aud` are the configured ones, and it is within its validity window. The issuer's key set
(JWKS) is fetched with the async HTTP client, kept for OIDC_JWKS_CACHE_SECONDS, and fetched
again early when a token names a key the set lacks (the issuer rotated its keys), at most once
per OIDC_JWKS_MIN_REFRESH_SECONDS so that made-up key ids cannot turn into a flood of requests.
While the issuer is unreachable the keys already fetched stay in use.
"""

import asyncio
import math
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import httpx
import jwt
import structlog

from app.core.config import Settings
from app.core.errors import AppError, UnauthorizedError
from app.core.principal import Principal

logger = structlog.get_logger(__name__)

# OAuth 2.0 scopes: "scope" is a space-separated string (RFC 8693); Microsoft Entra uses "scp".
SCOPE_CLAIMS = ("scope", "scp")
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


class InvalidTokenError(UnauthorizedError):
    code = "invalid_token"
    challenge = 'Bearer error="invalid_token"'


class IdentityProviderUnavailableError(AppError):
    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    code = "identity_provider_unavailable"


def _strings(value: Any) -> list[str]:
    """A claim holding names: a space-separated string or a list of strings."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _claim(claims: dict[str, Any], path: str) -> Any:
    """The claim at a dotted path, such as Keycloak's "realm_access.roles"."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def permissions_of(
    claims: dict[str, Any], roles_claim: str, role_permissions: dict[str, list[str]]
) -> frozenset[str]:
    """Scopes and roles are permissions themselves; OIDC_ROLE_PERMISSIONS expands roles."""
    granted = {scope for name in SCOPE_CLAIMS for scope in _strings(claims.get(name))}
    for role in _strings(_claim(claims, roles_claim)):
        granted.add(role)
        granted.update(role_permissions.get(role, ()))
    return frozenset(granted)


class KeySet:
    """The issuer's signing keys by key id, fetched on demand and cached."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._issuer = settings.oidc_issuer
        self._jwks_url = settings.oidc_jwks_url
        self._ttl = settings.oidc_jwks_cache_seconds
        self._min_interval = settings.oidc_jwks_min_refresh_seconds
        self._http = http
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at = -math.inf
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        if self._needs_fetch(kid):
            async with self._lock:
                # Another request may have fetched the keys while this one waited.
                if self._needs_fetch(kid):
                    await self._fetch()
        if (key := self._keys.get(kid)) is not None:
            return key
        if self._fetched_at is None:
            msg = f"The identity provider {self._issuer} could not be reached to verify the token."
            raise IdentityProviderUnavailableError(msg)
        msg = "The token is signed with a key the identity provider does not publish."
        raise InvalidTokenError(msg)

    def _needs_fetch(self, kid: str) -> bool:
        now = time.monotonic()
        if now - self._attempted_at < self._min_interval:
            return False
        expired = self._fetched_at is None or now - self._fetched_at >= self._ttl
        return expired or kid not in self._keys

    async def _fetch(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            if self._jwks_url is None:
                issuer = self._issuer.rstrip("/")
                discovery = await self._get_json(f"{issuer}/.well-known/openid-configuration")
                self._jwks_url = str(discovery["jwks_uri"])
            keys = jwt.PyJWKSet.from_dict(await self._get_json(self._jwks_url)).keys
        except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWKSetError) as exc:
            logger.warning("jwks_fetch_failed", issuer=self._issuer, error=str(exc))
            return
        self._keys = _signing_keys(keys)
        self._fetched_at = self._attempted_at
        logger.info("jwks_fetched", issuer=self._issuer, key_ids=sorted(self._keys))

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._http.get(url)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            msg = f"{url} did not return a JSON object"
            raise ValueError(msg)
        return document


def _signing_keys(keys: Iterable[jwt.PyJWK]) -> dict[str, jwt.PyJWK]:
    """Public signature keys by id: encryption keys and shared secrets ("oct") are left out."""
    return {
        key.key_id: key
        for key in keys
        if key.key_id is not None and key.public_key_use in {None, "sig"} and key.key_type != "oct"
    }


class TokenVerifier:
    """Turns a bearer token into a `Principal`, or refuses it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._http = httpx.AsyncClient(timeout=settings.oidc_http_timeout_seconds)
        self._keys = KeySet(settings, self._http)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def verify(self, token: str) -> Principal:
        settings = self._settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise InvalidTokenError("The bearer token is not a JWT.") from exc
        # Checked before any key is looked up: "none" and HMAC algorithms are never allowed.
        if header.get("alg") not in settings.oidc_algorithms:
            raise InvalidTokenError("The token is signed with an algorithm that is not accepted.")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidTokenError("The token does not name its signing key (kid).")
        key = await self._keys.key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(settings.oidc_algorithms),
                audience=settings.oidc_audience,
                issuer=settings.oidc_issuer,
                leeway=settings.oidc_leeway_seconds,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidTokenError("The token has expired.") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidTokenError(f"The token is not valid: {exc}.") from exc
        return Principal(
            subject=str(claims["sub"]),
            scopes=permissions_of(
                claims, settings.oidc_roles_claim, settings.oidc_role_permissions
            ),
        )
