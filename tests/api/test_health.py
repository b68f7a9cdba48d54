from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.main import create_app
from api.settings import ApiSettings
from online_models.exceptions import ConfigError


def test_healthz_says_ok_without_any_service() -> None:
    settings = ApiSettings(redis_url="redis://127.0.0.1:1/0", dev=True, config=None)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/nope").status_code == 404
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["problems"][0].startswith("redis unreachable")


def test_the_api_refuses_to_start_without_a_signing_key() -> None:
    try:
        create_app(ApiSettings(snapshot_key=None, dev=False, config=None))
    except ConfigError as exc:
        assert exc.field == "STREAMWISE_SNAPSHOT_KEY"
    else:
        raise AssertionError("started without a key")
    assert create_app(ApiSettings(snapshot_key=SecretStr("x" * 16), config=None)) is not None
