"""Worker and CLI settings, read from the environment (prefix ``STREAMWISE_``) at the edges only."""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from online_models import snapshot
from online_models.events import MAX_EVENT_BYTES


class Settings(BaseSettings):
    """Everything the worker, the producer and the topic admin need to know about their world."""

    model_config = SettingsConfigDict(env_prefix="STREAMWISE_", extra="ignore")

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", min_length=1)
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    partitions: int = Field(default=1, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1)
    app_id: str = Field(default="streamwise", pattern=r"^[A-Za-z0-9._-]+$")
    config: Path = Path("config/models.yaml")
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_namespace: str = Field(default="streamwise", min_length=1)
    max_event_bytes: int = Field(default=MAX_EVENT_BYTES, ge=64)
    status_interval: float = Field(default=1.0, gt=0)
    web_port: int = Field(default=6066, ge=0, le=65535)
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    store: str = "memory://"
    # How long the broker waits for a silent worker before moving its partitions to another one.
    session_timeout: float = Field(default=10.0, ge=6.0)
    log_level: str = "info"
    # HMAC-SHA256 key of model snapshots; no default outside development mode.
    snapshot_key: SecretStr | None = None
    dev: bool = False
    registry_retain: int = Field(default=10, ge=1)
    feature_ttl_seconds: int = Field(default=86_400, ge=1)  # online feature store entries
    # Optional HTTP endpoint that receives every drift alert as a JSON POST.
    alert_webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    alert_webhook_retries: int = Field(default=5, ge=0, le=20)
    alert_webhook_backoff: float = Field(default=0.5, gt=0)
    alert_webhook_timeout: float = Field(default=5.0, gt=0)
    alert_webhook_queue: int = Field(default=1000, ge=1)

    @field_validator("alert_webhook_url")
    @classmethod
    def _valid_url(cls, url: str | None) -> str | None:
        if url is not None:
            try:
                httpx.URL(url)
            except httpx.InvalidURL as exc:
                raise ValueError(f"not a valid URL: {exc}") from None
        return url

    def signing_key(self) -> bytes:
        return snapshot.signing_key(self.snapshot_key.get_secret_value() if self.snapshot_key else None, self.dev)

    def topic(self, name: str) -> str:
        """The full name of topic ``name`` (``events.raw`` -> ``<prefix>events.raw``)."""
        return f"{self.topic_prefix}{name}"
