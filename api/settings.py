"""API settings, read from the environment (prefix ``STREAMWISE_``) once, at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from online_models import snapshot
from streams.settings import KafkaSettings, RedisSettings


class ApiSettings(KafkaSettings, RedisSettings):
    """The API's settings, with those of Kafka and Redis."""

    # Kafka serves one purpose here: telling the workers of a person's promote, rollback or unpin
    # (the control topic); an empty STREAMWISE_KAFKA_BOOTSTRAP turns that off.
    kafka_bootstrap: str = "127.0.0.1:9092"
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
    # Fewer garbage collections once started (online_models/gc_tuning.py); `streamwise api` turns it on.
    tune_gc: bool = False

    def signing_key(self) -> bytes:
        """Return the key that signs and verifies snapshots (the development key only with ``dev``)."""
        return snapshot.signing_key(self.snapshot_key.get_secret_value() if self.snapshot_key else None, self.dev)
