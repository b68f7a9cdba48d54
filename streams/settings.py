"""Worker and CLI settings, read from the environment (prefix ``STREAMWISE_``) at the edges only."""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field, FilePath, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from online_models import snapshot
from online_models.events import MAX_EVENT_BYTES
from streams.kafka.connection import KafkaConnection

# The settings of the development stack, written by `make up` (infra/stack.sh): read when present,
# so that every command works against it as printed; the environment wins over it. ``""`` reads no
# file (the tests: only their own settings).
ENV_FILE = os.environ.get("STREAMWISE_ENV_FILE", ".run/env") or None
SETTINGS_CONFIG = SettingsConfigDict(env_prefix="STREAMWISE_", extra="ignore", env_file=ENV_FILE)

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
KAFKA_SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
KAFKA_SSL_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
MASK = "***"
_QUERY_PASSWORD = re.compile(r"(?i)(^|&)(password=)[^&]*")


def redacted_url(url: str) -> str:
    """Return ``url`` with its password masked, safe to log or print.

    The password of ``redis://user:password@host`` / ``rediss://:password@host`` and a ``password=``
    query argument are masked.

    >>> redacted_url("rediss://default:s3cret@redis.example.com:6380/0")
    'rediss://default:***@redis.example.com:6380/0'
    >>> redacted_url("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # not parseable: no part of it can be shown safely
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        if ":" in userinfo:
            netloc = f"{userinfo.partition(':')[0]}:{MASK}@{host}"
    query = _QUERY_PASSWORD.sub(rf"\g<1>\g<2>{MASK}", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return parts._replace(netloc=netloc, query=query).geturl()


def redacted_repr_args(args: Iterable[tuple[str | None, Any]]) -> Iterator[tuple[str | None, Any]]:
    """Yield a settings model's repr arguments with the password of every ``*_url`` field masked."""
    for name, value in args:
        yield name, redacted_url(value) if name and name.endswith("_url") and isinstance(value, str) else value


def check_redis_ca_certs(ca_certs: Path | None, redis_url: str | None) -> Path | None:
    """Return ``ca_certs``, or raise ValueError when it is set without a ``rediss://`` URL.

    ``redis_ssl_ca_certs`` only makes sense with TLS, i.e. a ``rediss://`` URL.
    """
    if ca_certs is not None and redis_url is not None and urlsplit(redis_url).scheme != "rediss":
        raise ValueError("only used with TLS: STREAMWISE_REDIS_URL must start with rediss://")
    return ca_certs


class KafkaSettings(BaseSettings):
    """Where the Kafka brokers are and how to reach them, and the topics' names.

    One definition for the worker, the CLI and the API (which tells the workers of a person's
    champion changes).
    """

    model_config = SETTINGS_CONFIG

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", min_length=1)
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    # Compression of what Streamwise produces: worth its CPU across a slow or paid network only.
    kafka_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"
    # Kafka security, for every client (Faust/aiokafka and confluent-kafka); see docs/security.md.
    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: KafkaSaslMechanism = "PLAIN"
    kafka_sasl_username: str | None = Field(default=None, validate_default=True)
    kafka_sasl_password: SecretStr | None = Field(default=None, validate_default=True)
    kafka_ssl_cafile: FilePath | None = None  # CA bundle verifying the brokers (default: the system's)
    kafka_ssl_certfile: FilePath | None = None  # client certificate (mutual TLS), with kafka_ssl_keyfile
    kafka_ssl_keyfile: FilePath | None = Field(default=None, validate_default=True)

    def topic(self, name: str) -> str:
        """Return the full name of topic ``name`` (``events.raw`` -> ``<prefix>events.raw``)."""
        return f"{self.topic_prefix}{name}"

    # Security. Validation errors never show a password: the only error about kafka_sasl_password
    # is its absence, and pydantic prints the offending input.

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(
        "kafka_sasl_username",
        "kafka_sasl_password",
        "kafka_ssl_cafile",
        "kafka_ssl_certfile",
        "kafka_ssl_keyfile",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # STREAMWISE_X= in a compose file means "not set"

    @field_validator("kafka_sasl_username", "kafka_sasl_password")
    @classmethod
    def _sasl_credentials(cls, value: Any, info: ValidationInfo) -> Any:
        protocol = info.data.get("kafka_security_protocol")
        if protocol is None:  # invalid itself, reported as such
            return value
        if protocol in KAFKA_SASL_PROTOCOLS:
            if value is None:
                raise ValueError(f"required with kafka_security_protocol={protocol}")
        elif value is not None and info.field_name == "kafka_sasl_username":
            raise ValueError(f"only used with kafka_security_protocol SASL_PLAINTEXT or SASL_SSL, not {protocol}")
        return value

    @field_validator("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
    @classmethod
    def _ssl_files(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        protocol = info.data.get("kafka_security_protocol")
        if value is not None and protocol is not None and protocol not in KAFKA_SSL_PROTOCOLS:
            raise ValueError(f"only used with kafka_security_protocol SSL or SASL_SSL, not {protocol}")
        certfile = info.data.get("kafka_ssl_certfile", value)  # absent: invalid itself, reported as such
        if info.field_name == "kafka_ssl_keyfile" and (certfile is None) != (value is None):
            raise ValueError("kafka_ssl_certfile and kafka_ssl_keyfile go together (certificate and its key)")
        return value

    def kafka(self) -> KafkaConnection:
        """Return where the brokers are and how to reach them: every Kafka client's config starts here."""
        return KafkaConnection(self.kafka_bootstrap, self.kafka_client_config(), self.kafka_compression)

    def kafka_client_config(self) -> dict[str, str]:
        """Return the security part of every confluent-kafka client's config (admin, producer, consumer).

        It is merged into that config: empty with PLAINTEXT. Holds the SASL password: never log it.
        """
        protocol = self.kafka_security_protocol
        if protocol == "PLAINTEXT":
            return {}
        config: dict[str, str] = {"security.protocol": protocol}
        if protocol in KAFKA_SASL_PROTOCOLS:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
            config["sasl.username"] = self.kafka_sasl_username or ""
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else ""
        if protocol in KAFKA_SSL_PROTOCOLS:
            for key, path in (
                ("ssl.ca.location", self.kafka_ssl_cafile),
                ("ssl.certificate.location", self.kafka_ssl_certfile),
                ("ssl.key.location", self.kafka_ssl_keyfile),
            ):
                if path is not None:
                    config[key] = str(path)
        return config

    def kafka_ssl_context(self) -> ssl.SSLContext | None:
        """Return the TLS context of the Faust (aiokafka) clients with SSL or SASL_SSL, else None.

        The context verifies the brokers (and their host names) against kafka_ssl_cafile or the
        system's CAs, and presents kafka_ssl_certfile when set.
        """
        if self.kafka_security_protocol not in KAFKA_SSL_PROTOCOLS:
            return None
        cafile = str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
        if self.kafka_ssl_certfile is not None:
            keyfile = str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None
            context.load_cert_chain(str(self.kafka_ssl_certfile), keyfile)
        return context

    def faust_credentials(self) -> CredentialsT | None:
        """Return the ``broker_credentials`` of the Faust app.

        None with PLAINTEXT, SSLCredentials with SSL, SASLCredentials with SASL_PLAINTEXT, and with
        SASL_SSL (SASL over the TLS context).
        """
        protocol = self.kafka_security_protocol
        if protocol == "PLAINTEXT":
            return None
        import faust  # here: the CLI's other commands do not need to import Faust

        context = self.kafka_ssl_context()
        if protocol == "SSL":
            return faust.SSLCredentials(context)
        return faust.SASLCredentials(
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None,
            mechanism=self.kafka_sasl_mechanism,
            ssl_context=context,  # None: SASL_PLAINTEXT; a context: SASL_SSL
        )


class RedisSettings(BaseSettings):
    """Where Redis is and the prefix of Streamwise's keys.

    Redis's URL carries the password, and TLS as ``rediss://``. One definition for the worker, the
    CLI and the API.
    """

    model_config = SETTINGS_CONFIG

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_namespace: str = Field(default="streamwise", min_length=1)
    # CA bundle verifying the Redis server of a rediss:// URL (default: the system's).
    redis_ssl_ca_certs: FilePath | None = None

    @field_validator("redis_ssl_ca_certs", mode="before")
    @classmethod
    def _empty_ca_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # STREAMWISE_X= in a compose file means "not set"

    @field_validator("redis_ssl_ca_certs")
    @classmethod
    def _redis_tls(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return check_redis_ca_certs(value, info.data.get("redis_url"))

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        """Return the repr arguments with URL passwords masked.

        repr() and str() mask URL passwords this way; SecretStr fields mask themselves.
        """
        return redacted_repr_args(super().__repr_args__())


class Settings(KafkaSettings, RedisSettings):
    """Everything the worker, the producer and the topic admin need to know about their world."""

    model_config = SETTINGS_CONFIG

    partitions: int = Field(default=1, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1)
    app_id: str = Field(default="streamwise", pattern=r"^[A-Za-z0-9._-]+$")
    config: Path = Path("config/models.yaml")
    max_event_bytes: int = Field(default=MAX_EVENT_BYTES, ge=64)
    status_interval: float = Field(default=1.0, gt=0)
    web_port: int = Field(default=6066, ge=0, le=65535)
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    # Loopback by default; a container sets 0.0.0.0 so that Prometheus in another one can scrape it.
    metrics_host: str = Field(default="127.0.0.1", min_length=1)
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
    # Partition checkpoints (each partition's whole state, for exact recovery): taken after this
    # many messages or seconds, whichever comes first. Offsets are committed only up to a checkpoint.
    checkpoint_every_events: int = Field(default=10_000, ge=1)
    checkpoint_every_seconds: float = Field(default=10.0, gt=0)
    # The engine's loop (streams.engine): most messages taken per poll, and how long a poll waits
    # for its first message (also how often an idle loop does its periodic work).
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    poll_timeout: float = Field(default=0.05, gt=0, le=10)
    # A stop (SIGTERM) ends the worker within this many seconds, even with Kafka or Redis away:
    # what is not checkpointed by then is read again by the next worker.
    shutdown_timeout: float = Field(default=25.0, ge=1, le=300)

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
        """Return the key that signs and verifies model snapshots (``online_models.snapshot.signing_key``).

        ``snapshot_key`` when set, else the development key in development mode; otherwise ConfigError.
        """
        return snapshot.signing_key(self.snapshot_key.get_secret_value() if self.snapshot_key else None, self.dev)
