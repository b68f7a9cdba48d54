"""Security settings, without any service: Kafka SASL/SSL client configs for confluent-kafka and
Faust, Redis TLS options, validation naming the field, and no secret in reprs or URLs shown."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import certifi
import pytest
import redis.asyncio as aioredis
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from prometheus_client import CollectorRegistry
from pydantic import SecretStr, ValidationError

import api.main
from api.settings import ApiSettings
from online_models.config import parse_config
from online_models.exceptions import ConfigError
from online_models.pipeline import Pipeline
from online_models.storage import redis_connect
from streams.cli import models as models_cli
from streams.cli import tail as tail_cli
from streams.engine import engine, outputs
from streams.kafka import admin, consumer, producer
from streams.prometheus import StreamMetrics
from streams.settings import Settings, redacted_url
from streams.worker.app import create_app

PASSWORD = "hunter2-s3cret"
CA = certifi.where()  # a real CA bundle, so that ssl.create_default_context accepts it


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: no STREAMWISE_* from the environment running the tests."""
    for name in list(os.environ):
        if name.startswith("STREAMWISE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def client_cert(tmp_path: Path) -> tuple[Path, Path]:
    """Files that exist: enough for the settings and the confluent-kafka config (paths only)."""
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("cert")
    key.write_text("key")
    return cert, key


def sasl(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": "svc-streamwise",
        "kafka_sasl_password": PASSWORD,
        "kafka_ssl_cafile": CA,
    }
    return Settings(**{**values, **overrides})


# --- confluent-kafka configs -------------------------------------------------------------------


def test_plaintext_adds_nothing_to_any_client() -> None:
    settings = Settings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.kafka_client_config() == {}
    assert settings.faust_credentials() is None
    assert settings.kafka_ssl_context() is None
    assert redis_connect.options(settings) == {}


def test_ssl_config(client_cert: tuple[Path, Path]) -> None:
    cert, key = client_cert
    settings = Settings(
        kafka_security_protocol="SSL", kafka_ssl_cafile=CA, kafka_ssl_certfile=cert, kafka_ssl_keyfile=key
    )
    assert settings.kafka_client_config() == {
        "security.protocol": "SSL",
        "ssl.ca.location": CA,
        "ssl.certificate.location": str(cert),
        "ssl.key.location": str(key),
    }
    assert Settings(kafka_security_protocol="SSL").kafka_client_config() == {"security.protocol": "SSL"}


def test_sasl_plaintext_config() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password=PASSWORD,
    )
    assert settings.kafka_client_config() == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc",
        "sasl.password": PASSWORD,
    }


def test_sasl_ssl_config() -> None:
    assert sasl(kafka_sasl_mechanism="scram-sha-256").kafka_client_config() == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "svc-streamwise",
        "sasl.password": PASSWORD,
        "ssl.ca.location": CA,
    }


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMWISE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STREAMWISE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("STREAMWISE_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("STREAMWISE_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("STREAMWISE_KAFKA_SSL_CAFILE", CA)
    monkeypatch.setenv("STREAMWISE_KAFKA_SSL_CERTFILE", "")  # empty: not set
    assert Settings().kafka_client_config()["sasl.mechanism"] == "SCRAM-SHA-512"
    assert Settings().kafka_ssl_certfile is None


class Recorder:
    """Stands for a confluent-kafka client class: keeps the config it was built with."""

    configs: list[dict[str, Any]]

    def __init__(self) -> None:
        self.configs = []

    def __call__(self, config: dict[str, Any]) -> Recorder:
        self.configs.append(config)
        return self

    def subscribe(self, topics: list[str]) -> None:
        pass

    def poll(self, timeout: float) -> None:
        return None

    def flush(self, timeout: float) -> int:
        return 0

    def produce(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


CLIENTS = ("admin", "producer", "consumer", "alerts", "engine consumer", "engine producer")


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> dict[str, Recorder]:
    recorders = {name: Recorder() for name in CLIENTS}
    monkeypatch.setattr(admin, "AdminClient", recorders["admin"])
    monkeypatch.setattr(producer, "Producer", recorders["producer"])
    monkeypatch.setattr(consumer, "Consumer", recorders["consumer"])
    monkeypatch.setattr(tail_cli, "Consumer", recorders["alerts"])
    monkeypatch.setattr(engine, "Consumer", recorders["engine consumer"])
    monkeypatch.setattr(outputs, "Producer", recorders["engine producer"])
    return recorders


def build_every_client(settings: Settings) -> None:
    admin.admin_client(settings.kafka())
    producer.produce(settings.kafka(), [])
    consumer.read_topic(settings.kafka(), "t", expected=0)
    config = parse_config({"models": [{"name": "lr", "recipe": "logistic_regression", "task": "binary"}]})
    metrics = StreamMetrics(["lr"], CollectorRegistry())
    engine.Engine(settings.model_copy(update={"dev": True}), Pipeline(config), metrics)


def test_plaintext_client_configs_are_exactly_the_clients_own(clients: dict[str, Recorder]) -> None:
    build_every_client(Settings())
    tail_cli.tail(tail_cli.Stream.alerts, as_json=False, from_beginning=False, max_records=None, timeout=0.0)
    assert clients["admin"].configs == [
        {"bootstrap.servers": "127.0.0.1:9092", "socket.connection.setup.timeout.ms": 5000}
    ]
    assert clients["producer"].configs == [
        {
            "bootstrap.servers": "127.0.0.1:9092",
            "linger.ms": 5,
            "enable.idempotence": True,
            "compression.type": "none",
            "partitioner": "murmur2_random",
            "message.max.bytes": 4_194_304,
        }
    ]
    (read,) = clients["consumer"].configs
    assert set(read) == {"bootstrap.servers", "group.id", "auto.offset.reset", "enable.auto.commit"}
    (tail,) = clients["alerts"].configs
    assert set(tail) == {"bootstrap.servers", "group.id", "auto.offset.reset", "enable.auto.commit"}
    intake, learners = clients["engine consumer"].configs  # a group each: intake, and the learners
    assert (intake["group.id"], learners["group.id"]) == ("streamwise", "streamwise.learners")
    for engine_consumer in (intake, learners):
        assert engine_consumer["partition.assignment.strategy"] == "cooperative-sticky"
        assert not any(k.startswith(("sasl.", "ssl.", "security.")) for k in engine_consumer)


def test_every_client_gets_the_security_config(clients: dict[str, Recorder], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = sasl()
    build_every_client(settings)
    for name, value in settings.model_dump(mode="json").items():
        if value is not None:
            monkeypatch.setenv(f"STREAMWISE_{name.upper()}", str(value))
    monkeypatch.setenv("STREAMWISE_KAFKA_SASL_PASSWORD", PASSWORD)  # model_dump masks it
    tail_cli.tail(tail_cli.Stream.alerts, as_json=False, from_beginning=False, max_records=None, timeout=0.0)
    security = settings.kafka_client_config()
    for name in CLIENTS:
        assert clients[name].configs, name
        for config in clients[name].configs:
            assert {k: config[k] for k in security} == security, name


# --- Faust (aiokafka) --------------------------------------------------------------------------


def test_faust_ssl_credentials() -> None:
    credentials = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=CA).faust_credentials()
    assert isinstance(credentials, SSLCredentials)
    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["security_protocol"] == "SSL"
    context = auth["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_faust_sasl_plaintext_credentials() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="svc", kafka_sasl_password=PASSWORD
    )
    credentials = settings.faust_credentials()
    assert isinstance(credentials, SASLCredentials)
    assert PASSWORD not in repr(credentials)
    assert credentials_to_aiokafka_auth(credentials) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "svc",
        "sasl_plain_password": PASSWORD,
        "ssl_context": None,
    }


def test_faust_sasl_over_ssl_credentials() -> None:
    auth = credentials_to_aiokafka_auth(sasl(kafka_sasl_mechanism="SCRAM-SHA-256").faust_credentials())
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("svc-streamwise", PASSWORD)
    assert isinstance(auth["ssl_context"], ssl.SSLContext)


def test_the_faust_app_gets_the_credentials() -> None:
    assert create_app(Settings()).conf.broker_credentials is None
    app = create_app(sasl())
    assert credentials_to_aiokafka_auth(app.conf.broker_credentials)["security_protocol"] == "SASL_SSL"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_the_client_certificate_is_loaded(tmp_path: Path) -> None:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=streamwise-test"),
        ],
        check=True,
        capture_output=True,
    )
    settings = Settings(
        kafka_security_protocol="SSL", kafka_ssl_cafile=CA, kafka_ssl_certfile=cert, kafka_ssl_keyfile=key
    )
    assert isinstance(settings.kafka_ssl_context(), ssl.SSLContext)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_password": PASSWORD}, "kafka_sasl_username"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "svc"}, "kafka_sasl_password"),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "", "kafka_sasl_password": PASSWORD},
            "kafka_sasl_username",
        ),
        ({"kafka_sasl_username": "svc", "kafka_sasl_password": PASSWORD}, "kafka_sasl_username"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nonexistent/ca.pem"}, "kafka_ssl_cafile"),
        ({"kafka_ssl_cafile": CA}, "kafka_ssl_cafile"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": CA}, "kafka_ssl_keyfile"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": CA}, "kafka_ssl_keyfile"),
        ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol"),
        ({"kafka_security_protocol": "SSL", "kafka_sasl_mechanism": "GSSAPI"}, "kafka_sasl_mechanism"),
        ({"redis_ssl_ca_certs": CA}, "redis_ssl_ca_certs"),  # not a rediss:// URL
        ({"redis_url": "rediss://h:6380/0", "redis_ssl_ca_certs": "/nonexistent/ca.pem"}, "redis_ssl_ca_certs"),
    ],
)
def test_a_bad_setting_fails_naming_the_field(values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**values)
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]
    assert field in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_a_bad_setting_from_the_environment_fails_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMWISE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STREAMWISE_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("STREAMWISE_KAFKA_SSL_CAFILE", "/nonexistent/ca.pem")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert {error["loc"] for error in caught.value.errors()} == {("kafka_sasl_username",), ("kafka_ssl_cafile",)}
    assert PASSWORD not in str(caught.value)


def test_the_api_checks_its_redis_tls_setting() -> None:
    with pytest.raises(ValidationError) as caught:
        ApiSettings(redis_url="redis://h:6379/0", redis_ssl_ca_certs=CA)
    assert [error["loc"] for error in caught.value.errors()] == [("redis_ssl_ca_certs",)]


def test_snapshot_signing_needs_a_key_outside_development_mode() -> None:
    for settings in (Settings(), ApiSettings()):
        with pytest.raises(ConfigError) as caught:
            settings.signing_key()
        assert caught.value.field == "STREAMWISE_SNAPSHOT_KEY"


# --- Redis -------------------------------------------------------------------------------------


def test_redis_options_only_with_a_ca_bundle() -> None:
    assert redis_connect.options(Settings(redis_url="rediss://:pw@h:6380/0")) == {}
    with_ca = Settings(redis_url="rediss://:pw@h:6380/0", redis_ssl_ca_certs=CA)
    assert redis_connect.options(with_ca) == {"ssl_ca_certs": CA}
    api_with_ca = ApiSettings(redis_url="rediss://:pw@h:6380/0", redis_ssl_ca_certs=CA)
    assert redis_connect.options(api_with_ca, 5, 5) == {
        "ssl_ca_certs": CA,
        "socket_timeout": 5,
        "socket_connect_timeout": 5,
    }


async def test_redis_clients_get_password_and_tls_from_the_url() -> None:
    settings = Settings(redis_url=f"rediss://default:{PASSWORD}@redis.example:6380/2", redis_ssl_ca_certs=CA)
    client = redis_connect.connect(settings)  # no connection made yet
    pool = client.connection_pool
    assert pool.connection_class is aioredis.SSLConnection
    assert pool.connection_kwargs["password"] == PASSWORD
    assert pool.connection_kwargs["ssl_ca_certs"] == CA
    assert PASSWORD not in repr(client)
    await client.aclose()
    assert PASSWORD not in repr(redis_connect.connect_sync(settings))


async def test_the_api_and_the_models_cli_pass_the_redis_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    real = aioredis.from_url

    def from_url(url: str, **kwargs: Any) -> aioredis.Redis:
        calls.append((url, kwargs))
        return real(url, **kwargs)

    monkeypatch.setattr(aioredis, "from_url", from_url)
    url = f"rediss://:{PASSWORD}@redis.example:6380/0"
    parts = api.main.redis_backends(ApiSettings(redis_url=url, redis_ssl_ca_certs=CA, dev=True, config=None))
    assert parts.close is not None
    await parts.close()
    parts = api.main.redis_backends(ApiSettings(dev=True, config=None))
    assert parts.close is not None
    await parts.close()
    assert calls == [
        (url, {"socket_timeout": 5, "socket_connect_timeout": 5, "ssl_ca_certs": CA}),
        ("redis://127.0.0.1:6379/0", {"socket_timeout": 5, "socket_connect_timeout": 5}),
    ]


def test_the_models_cli_passes_the_redis_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    real = aioredis.from_url

    def from_url(url: str, **kwargs: Any) -> aioredis.Redis:
        calls.append((url, kwargs))
        return real(url, **kwargs)

    async def nothing(registry: object) -> None:
        return None

    monkeypatch.setattr(aioredis, "from_url", from_url)
    monkeypatch.setenv("STREAMWISE_DEV", "1")
    monkeypatch.setenv("STREAMWISE_REDIS_URL", "rediss://:pw@redis.example:6380/0")
    monkeypatch.setenv("STREAMWISE_REDIS_SSL_CA_CERTS", CA)
    models_cli._run(nothing)
    assert calls == [("rediss://:pw@redis.example:6380/0", {"ssl_ca_certs": CA})]


# --- no secret shown ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("", ""),
        ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("rediss://default:hunter2@redis.example:6380/1", "rediss://default:***@redis.example:6380/1"),
        ("rediss://user:p%40ss@redis.example:6380", "rediss://user:***@redis.example:6380"),
        ("redis://u:p@ss@h:6379/0", "redis://u:***@h:6379/0"),  # an unescaped @ in the password
        ("redis://h:6379/0?password=hunter2&db=1", "redis://h:6379/0?password=***&db=1"),
        ("redis://onlyuser@h:6379", "redis://onlyuser@h:6379"),
        ("unix:///tmp/redis.sock?db=0", "unix:///tmp/redis.sock?db=0"),
        ("redis://[::1:6379/0", "***"),  # unparseable: nothing shown
    ],
)
def test_redacted_url(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


def test_settings_never_show_a_secret() -> None:
    settings = sasl(
        redis_url=f"rediss://default:{PASSWORD}@redis.example:6380/0",
        snapshot_key=SecretStr(PASSWORD),
        alert_webhook_url=f"https://hooks:{PASSWORD}@hooks.example/alerts",
    )
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == PASSWORD
    for shown in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert PASSWORD not in shown
    assert "rediss://default:***@redis.example:6380/0" in repr(settings)
    api_settings = ApiSettings(
        redis_url=f"redis://:{PASSWORD}@127.0.0.1:6379/0", snapshot_key=PASSWORD, api_key=PASSWORD, config=None
    )
    for shown in (repr(api_settings), str(api_settings)):
        assert PASSWORD not in shown
    assert "redis://:***@127.0.0.1:6379/0" in repr(api_settings)
