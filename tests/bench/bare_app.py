"""The framework alone: one route shaped like the generated `/health/live`, no middleware, no
logging, no settings.

The benchmark serves it with a generated project's packages and server command, so its
throughput is the ceiling FastAPI and uvicorn set on that machine at that time.
"""

from fastapi import FastAPI
from pydantic import BaseModel


class HealthReport(BaseModel):
    status: str
    checks: dict[str, str]


app = FastAPI()


@app.get("/health/live")
async def live() -> HealthReport:
    return HealthReport(status="ok", checks={})
