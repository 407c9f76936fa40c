from pydantic import BaseModel


class Page[T](BaseModel):
    items: list[T]
    total: int
    limit: int
    offset: int


class HealthReport(BaseModel):
    status: str
    checks: dict[str, str]
