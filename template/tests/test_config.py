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


def test_cors_origins_is_read_under_its_former_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORS_ALLOW_ORIGINS", raising=False)
    monkeypatch.setenv("CORS_ORIGINS", '["https://app.example.com"]')
    settings = Settings(_env_file=None, secret_key=SecretStr("x" * 48))
    assert settings.cors_allow_origins == ["https://app.example.com"]
