"""The API under bad input: schemathesis against the app's own OpenAPI schema, and hostile bodies.

Every operation gets generated requests, valid and invalid (``GenerationMode``), against a real
redis-server with a trained model registered, once with the admin X-API-Key and once without any key.
Every response goes through all of schemathesis's checks: no 5xx (``not_a_server_error``), only
documented status codes, content types and bodies (``*_conformance``), invalid data rejected and valid
data accepted, and auth that is declared is enforced (``ignored_auth``). Hypothesis runs derandomized,
so CI sees the same examples every time.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
import redis
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import settings
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.python import asgi

from api.limits import MAX_JSON_DEPTH
from api.main import create_app
from api.prometheus import ApiMetrics
from api.serving import ModelServer
from api.settings import ApiSettings
from streams.settings import Settings
from tests.support.api import ADMIN, KEY, ApiEnv, trained

# Each test takes a second or two (ten under load): a hung one fails after 2 minutes, not the global 10.
pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

EXAMPLES = 40  # per operation and test: about 10 s for the whole file

# 413 is how this API rejects a body over its size limit, or a batch over max_batch: a valid limit the
# schema cannot state, so it counts as a rejection of invalid data and as an answer to valid data.
# A schema-valid /predict may also get 422 when the served model cannot take those features (say a
# string where it takes a number): the schema cannot know what a model takes.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]

[[operations]]
include-path-regex = "^/predict"
[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "422", "429", "5xx"]
"""


def fuzz_settings(redis_url: str, namespace: str, **overrides: object) -> ApiSettings:
    """The settings of the ``api`` fixture (tests/support/api.py)."""
    values: dict[str, object] = {
        "kafka_bootstrap": "",  # no workers to tell of champion changes
        "redis_url": redis_url,
        "redis_namespace": namespace,
        "snapshot_key": SecretStr(KEY),
        "api_key": SecretStr(ADMIN),
        "config": None,
        "reload_poll_seconds": 0.5,
        "max_batch": 5,
        "max_body_bytes": 20_000,
        **overrides,
    }
    return ApiSettings(**values)  # type: ignore[arg-type]


# One app for the generated requests, with its own namespace: its lifespan runs in schemathesis's event
# loop from a test's first request on (after ``served`` registered a model) until that test's teardown,
# where schemathesis's pytest plugin shuts it down; the next test starts it again.
REDIS_URL = Settings().redis_url  # as the ``redis_url`` fixture's (tests/plugins/services.py)
NAMESPACE = f"fuzz-{uuid.uuid4().hex[:10]}"
APP = create_app(fuzz_settings(REDIS_URL, NAMESPACE))


def app_schema(*, security_parameters: bool) -> schemathesis.BaseSchema:
    """The app's schema as GET /openapi.json serves it (``from_asgi`` would start the app at import)."""
    schema = schemathesis.openapi.from_dict(APP.openapi(), config=schemathesis.Config.from_str(CONFIG))
    schema.app = APP
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], with_security_parameters=security_parameters
    )
    return schema


def the_served_model_half_the_time(context: schemathesis.HookContext, path_parameters: dict) -> dict:
    """Random names are all unknown (404): name the registered model in about half the cases, so that
    /models/lr/promote and rollback get to answer 200 and 409, and their auth probes run."""
    if "name" in (path_parameters or {}) and len(str(path_parameters["name"])) % 2 == 0:
        return {**path_parameters, "name": "lr"}
    return path_parameters


admin_schema = app_schema(security_parameters=True)
anonymous_schema = app_schema(security_parameters=False)
for _schema in (admin_schema, anonymous_schema):
    _schema.hook("map_path_parameters")(the_served_model_half_the_time)


@pytest.fixture(scope="module")
def served(redis_url: str) -> Iterator[None]:
    assert redis_url == REDIS_URL
    env = ApiEnv(None, NAMESPACE, redis_url)  # type: ignore[arg-type]  # registering needs no client
    env.register(trained(100, seed=1))
    env.register(trained(200, seed=2))  # the champion; rollback to version 1 can succeed
    yield
    asgi.shutdown_lifespans()
    connection = redis.Redis.from_url(redis_url)
    for key in connection.scan_iter(f"{NAMESPACE}:*"):
        connection.delete(key)


fuzz = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)


@admin_schema.parametrize()
@fuzz
def test_every_operation_with_the_admin_key(case: schemathesis.Case, served: None) -> None:
    # ignored_auth also sends each admin request again without a key and with a wrong one.
    case.call_and_validate(headers={"X-API-Key": ADMIN})


@anonymous_schema.parametrize()
@fuzz
def test_every_operation_without_a_key(case: schemathesis.Case, served: None) -> None:
    assert "X-API-Key" not in (case.headers or {})
    case.call_and_validate()


@pytest.mark.parametrize(
    ("method", "path", "request_parts"),
    [
        # A string where the model takes a number: 422 with a message, not a list (was undocumented).
        ("POST", "/predict", {"body": {"model": "lr", "features": {"salary": "lots"}}}),
        ("POST", "/predict/batch", {"body": {"items": [{"model": "lr", "features": {"salary": "lots"}}]}}),
        ("POST", "/predict/batch", {"body": {"items": [{"model": "lr", "features": {"a": 1}}] * 6}}),  # max_batch
        # A time before 1970: Redis refused the negative stream ID (503 "redis unavailable").
        ("GET", "/alerts", {"query": {"since": "0318-02-20T10:33:35Z"}}),
        # Admin answers (200, 404 or 409, as the generated requests left the registry) and their bodies.
        ("POST", "/models/{name}/promote", {"path_parameters": {"name": "lr"}, "body": {"version": 1}}),
        ("POST", "/models/{name}/rollback", {"path_parameters": {"name": "lr"}, "body": {"version": 2}}),
        ("GET", "/metrics", {}),  # text/plain (was documented as JSON)
    ],
)
def test_chosen_requests_get_answers_that_conform(served: None, method: str, path: str, request_parts: dict) -> None:
    """Regressions found by the generated requests above, kept as fixed cases."""
    case = admin_schema[path][method].Case(**request_parts)
    case.call_and_validate(headers={"X-API-Key": ADMIN})


class LosesOneCancellation:
    """A registry whose ``names()`` drops the first cancellation it gets and returns, as Python 3.11's
    ``asyncio.wait_for`` does when a cancellation arrives just as redis-py's write of a command completes."""

    key = b""

    def __init__(self) -> None:
        self.calls = 0
        self.lost = 0
        self.polling = asyncio.Event()

    async def names(self) -> list[str]:
        self.calls += 1
        if self.calls == 1:  # start()'s own refresh
            return []
        self.polling.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if self.lost:
                raise
            self.lost += 1
        return []

    async def changes(self) -> AsyncIterator[dict]:
        await asyncio.Event().wait()
        yield {}


async def test_the_model_server_stops_even_when_a_cancellation_is_lost() -> None:
    """Regression: the lifespan's shutdown (``ModelServer.stop``) cancelled its reload tasks once and waited
    for them; when the cancellation was lost, the poll task went on and the shutdown never ended (CI hung
    in this file's teardowns for 90 minutes)."""
    registry = LosesOneCancellation()
    server = ModelServer(registry, ApiMetrics(), poll_seconds=0.01)  # type: ignore[arg-type]
    await server.start()
    await asyncio.wait_for(registry.polling.wait(), 10)
    stopping = asyncio.create_task(server.stop())
    done, _ = await asyncio.wait({stopping}, timeout=10)
    for task in server._tasks:  # end them, for the next tests, when stop() could not
        task.cancel()
    await asyncio.wait({stopping}, timeout=10)
    assert stopping in done, "stop() waits forever for a task whose cancellation was lost"
    assert registry.lost == 1
    assert all(task.done() for task in server._tasks)


# Hostile bodies, sent by hand.


@pytest.fixture
def big_bodies(redis_url: str) -> Iterator[TestClient]:
    """An app that takes bodies up to 1 MB (the default), so that deep nesting reaches the parser."""
    namespace = f"fuzz-{uuid.uuid4().hex[:10]}"
    with TestClient(create_app(fuzz_settings(redis_url, namespace, max_body_bytes=1_000_000))) as client:
        yield client


def test_an_oversized_body_gets_413(api: ApiEnv) -> None:
    body = orjson.dumps({"features": {"a": "x" * 30_000}})
    for path in ("/predict", "/predict/batch", "/models/lr/promote", "/models/lr/rollback"):
        response = api.client.post(path, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 413, path
        assert response.json() == {"detail": "request body over 20000 bytes"}


def nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("where", ["body", "feature"])
def test_a_deeply_nested_body_gets_422_naming_the_depth(
    big_bodies: TestClient, caplog: pytest.LogCaptureFixture, path: str, kind: str, where: str
) -> None:
    caplog.set_level(logging.DEBUG)
    inner = nested(10_000, kind)
    if where == "feature":
        inner = b'{"features": {"a": ' + inner + b"}}"
        if path == "/predict/batch":
            inner = b'{"items": [' + inner + b"]}"
    response = big_bodies.post(path, content=inner, headers={"content-type": "application/json"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"][0] == "body"
    assert error["ctx"]["error"] == f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    assert "RecursionError" not in caplog.text


def test_nesting_under_the_parser_limit_but_over_ours_is_refused_too(api: ApiEnv) -> None:
    # 900 levels: the standard parser took it (the 422 then echoed it back); past 32 levels, no body
    deep = b'{"features": {"a": ' + nested(900, "array") + b"}}"
    response = api.client.post("/predict", content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["ctx"]["error"] == f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    shallow = {"items": [{"features": {"a": 1.0}}]}  # the deepest body the API takes: 4 levels
    answer = api.client.post("/predict/batch", json=shallow)  # parsed; the item: no model yet
    assert answer.status_code == 200 and answer.json()["items"][0]["status"] == 503


@pytest.mark.parametrize(
    "body",
    [
        b'{"features": {"a": NaN}}',
        b'{"features": {"a": Infinity}}',
        b'{"features": {"a": 1e400}}',
        b'{"features": {"a": {"b": "\\ud800"}}}',
        b'{"model": "lr", "key": "\\udfff"}',
        b'{"features": {"a": "\xff"}}',
    ],
    ids=["nan", "infinity", "overflow", "lone-surrogate-echoed", "lone-surrogate-to-redis", "not-utf8"],
)
def test_bodies_that_are_not_strict_json_get_422_not_500(api: ApiEnv, body: bytes) -> None:
    """Regression: the standard library parser took these, and the API then failed to answer (500):
    NaN and 1e400 in the 422 it rendered (JSON has no NaN), a lone surrogate in the 422 (not UTF-8)
    or in the Redis key it looked up."""
    api.register(trained(50))
    deadline = time.monotonic() + 5
    while api.client.get("/readyz").status_code != 200:  # once the model is served, a key gets to Redis
        assert time.monotonic() < deadline, "the model was not served within 5 s"
        time.sleep(0.01)
    for path, wrapped in (("/predict", body), ("/predict/batch", b'{"items": [' + body + b"]}")):
        response = api.client.post(path, content=wrapped, headers={"content-type": "application/json"})
        assert response.status_code == 422, (path, response.text)
        assert response.json()["detail"][0]["type"] == "json_invalid"


def test_alerts_since_takes_rfc3339_only(api: ApiEnv) -> None:
    """Regression (schemathesis): ``since=0.5`` was read as seconds since the epoch."""
    for since in ("0.5", "1700000000", "2024-05-01", "yesterday"):
        response = api.client.get("/alerts", params={"since": since})
        assert response.status_code == 422, since
        assert "RFC 3339" in response.json()["detail"][0]["msg"]
    for since in ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.5+02:00", "2024-05-01T12:00:00"):
        assert api.client.get("/alerts", params={"since": since}).status_code == 200, since


def test_the_schema_documents_what_the_routes_answer(api: ApiEnv) -> None:
    schema = api.client.get("/openapi.json").json()
    paths = schema["paths"]
    for path, codes in {
        "/predict": {"200", "401", "403", "404", "409", "413", "422", "503"},  # 409: a version asked for is refused
        "/predict/batch": {"200", "401", "403", "413", "422"},  # an item's own 404 or 503 is in its answer
        "/models/{name}/promote": {"200", "401", "403", "404", "413", "422", "503"},
        "/models/{name}/rollback": {"200", "401", "403", "404", "409", "413", "422", "503"},
    }.items():
        assert set(paths[path]["post"]["responses"]) == codes, path
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]
    # Without STREAMWISE_PREDICT_REQUIRES_KEY, the key on predict routes is optional, and says so.
    assert paths["/predict"]["post"]["security"] == [{}, {"APIKeyHeader": []}]
    assert paths["/models/{name}/promote"]["post"]["security"] == [{"APIKeyHeader": []}]
    enforced = create_app(fuzz_settings("redis://unused", "unused", predict_requires_key=True)).openapi()
    assert enforced["paths"]["/predict"]["post"]["security"] == [{"APIKeyHeader": []}]
