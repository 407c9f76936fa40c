import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import Settings


@pytest.mark.parametrize("secret", ["change-me", "too-short"])
def test_production_refuses_a_placeholder_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY is a placeholder"):
        Settings(environment="production", secret_key=SecretStr(secret))


def test_production_accepts_a_real_secret() -> None:
    settings = Settings(environment="production", secret_key=SecretStr("x" * 48))
    assert not settings.is_development


def test_development_tolerates_a_placeholder_secret() -> None:
    assert Settings(environment="development", secret_key=SecretStr("change-me")).is_development
