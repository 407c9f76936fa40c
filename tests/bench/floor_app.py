"""The floor of an authenticated read: FastAPI, the token check and one raw asyncpg query.

What the generated `GET /api/v1/items/{item_id}` does at the least: verify the bearer token as
the service does (HS256, issuer, audience, required claims, its type), read the item by primary
key with asyncpg, and answer with a response model. No middleware, no ORM, no session, no user
row, no logging. The benchmark serves it like bare_app.py, with the project's packages, server
command and settings (SECRET_KEY, JWT_ISSUER, JWT_AUDIENCE, DATABASE_URL from the environment),
against the project's seeded database; PostgreSQL variants only.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

import asyncpg
import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

SECRET_KEY = os.environ["SECRET_KEY"]
ISSUER = os.environ["JWT_ISSUER"]
AUDIENCE = os.environ["JWT_AUDIENCE"]
# SQLAlchemy's URL names its driver; asyncpg wants the plain scheme.
DATABASE_URL = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
POOL_SIZE = int(os.environ.get("DB_POOL_SIZE", "10"))


class ItemRead(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    created_at: datetime
    updated_at: datetime


class HealthReport(BaseModel):
    status: str
    checks: dict[str, str]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with asyncpg.create_pool(DATABASE_URL, min_size=1, max_size=POOL_SIZE) as pool:
        app.state.pool = pool
        yield


app = FastAPI(lifespan=lifespan)
bearer = HTTPBearer()


async def subject(
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
) -> str:
    try:
        claims = jwt.decode(
            credentials.credentials,
            SECRET_KEY,
            algorithms=["HS256"],
            issuer=ISSUER,
            audience=AUDIENCE,
            options={"require": ["iss", "aud", "sub", "exp", "jti", "type"]},
        )
    except jwt.InvalidTokenError as error:
        raise HTTPException(401, "The token is invalid.") from error
    if claims["type"] != "access":
        raise HTTPException(401, "An access token is required.")
    return str(claims["sub"])


@app.get("/health/live")
async def live() -> HealthReport:
    return HealthReport(status="ok", checks={})


@app.get("/api/v1/items/{item_id}")
async def read_item(
    item_id: uuid.UUID, request: Request, _: Annotated[str, Depends(subject)]
) -> ItemRead:
    row = await request.app.state.pool.fetchrow(
        "SELECT id, title, description, created_at, updated_at FROM items WHERE id = $1",
        item_id,
    )
    if row is None:
        raise HTTPException(404, "Item not found.")
    return ItemRead.model_validate(dict(row))
