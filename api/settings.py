"""API settings, read from the environment (prefix ``STREAMWISE_``) once, at start-up."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import Field, FilePath, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from online_models import snapshot
from streams.settings import check_redis_ca_certs, redacted_repr_args


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
    # Fewer garbage collections once started (streams/gc_tuning.py); `streamwise api` turns it on.
    tune_gc: bool = False
    # CA bundle verifying the Redis server of a rediss:// URL (default: the system's).
    redis_ssl_ca_certs: FilePath | None = None

    @field_validator("redis_ssl_ca_certs", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("redis_ssl_ca_certs")
    @classmethod
    def _redis_tls(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return check_redis_ca_certs(value, info.data.get("redis_url"))

    def signing_key(self) -> bytes:
        return snapshot.signing_key(self.snapshot_key.get_secret_value() if self.snapshot_key else None, self.dev)

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        """repr() and str() mask the Redis URL's password; SecretStr fields mask themselves."""
        return redacted_repr_args(super().__repr_args__())
