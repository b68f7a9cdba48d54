"""API settings, read from the environment (prefix ``STREAMWISE_``) once, at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from online_models import snapshot
from streams.settings import KafkaSettings, RedisSettings


class ApiSettings(KafkaSettings, RedisSettings):
    """The API's settings, with those of Kafka and Redis.

    Examples
    --------
    Read from ``STREAMWISE_*`` variables at start-up; arguments given here win over them:

    >>> settings = ApiSettings(snapshot_key="a-secret-of-16-bytes-or-more", max_batch=50, default_model="nb")
    >>> settings.max_batch, settings.default_model
    (50, 'nb')
    >>> settings.snapshot_key   # a secret does not show in a repr, nor in logs
    SecretStr('**********')
    >>> settings.signing_key()
    b'a-secret-of-16-bytes-or-more'
    >>> ApiSettings(snapshot_key=None, dev=False).signing_key()
    Traceback (most recent call last):
    ...
    online_models.exceptions.ConfigError: STREAMWISE_SNAPSHOT_KEY: required to sign and verify model snapshots ...
    >>> ApiSettings(max_batch=0)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for ApiSettings
    max_batch
      Input should be greater than or equal to 1 ...
    """

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
