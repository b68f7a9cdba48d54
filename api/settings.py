"""API settings, read from the environment (prefix ``STREAMWISE_``) once, at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from online_models import snapshot


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STREAMWISE_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_namespace: str = "streamwise"
    # The worker's model config: its stateless feature transforms are applied to /predict features.
    config: Path | None = Path("config/models.yaml")
    snapshot_key: SecretStr | None = None
    dev: bool = False
    # Admin routes (promote, rollback) need X-API-Key; without a key configured they are off.
    api_key: SecretStr | None = None
    predict_requires_key: bool = False
    default_model: str | None = None
    max_batch: int = Field(default=100, ge=1, le=10_000)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    reload_poll_seconds: float = Field(default=1.0, gt=0)

    def signing_key(self) -> bytes:
        return snapshot.signing_key(self.snapshot_key.get_secret_value() if self.snapshot_key else None, self.dev)
