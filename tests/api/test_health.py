from fastapi.testclient import TestClient

from api.main import create_app


def test_healthz_says_ok() -> None:
    with TestClient(create_app()) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_unknown_route_is_404() -> None:
    with TestClient(create_app()) as client:
        assert client.get("/nope").status_code == 404
