"""Request limits (body size; JSON depth and strictness) and per-route latency metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.prometheus import ApiMetrics

# The deepest request body the API takes is 4 levels (a batch: items, item, features, value).
MAX_JSON_DEPTH = 32


class HTTPMiddleware:
    """A pure ASGI middleware that acts on HTTP requests (``handle``); lifespan and websockets pass by.

    Examples
    --------
    A middleware that answers every HTTP request itself (a real one passes most on to ``self.app``):

    >>> from fastapi import FastAPI
    >>> from fastapi.testclient import TestClient
    >>> class Closed(HTTPMiddleware):
    ...     async def handle(self, scope, receive, send):
    ...         await send({"type": "http.response.start", "status": 503, "headers": []})
    ...         await send({"type": "http.response.body", "body": b"closed for maintenance"})
    >>> with TestClient(Closed(FastAPI())) as client:   # the app's lifespan passes by: it starts and stops
    ...     response = client.get("/predict")
    >>> response.status_code, response.text
    (503, 'closed for maintenance')
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand an HTTP request to ``handle``; pass anything else on to the app."""
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request, usually by passing it on to ``self.app``."""
        raise NotImplementedError


class BodyLimit(HTTPMiddleware):
    """Answer 413 to a body over ``max_bytes``, declared or streamed, before it is parsed.

    Examples
    --------
    >>> from fastapi import FastAPI
    >>> from fastapi.testclient import TestClient
    >>> app = FastAPI()
    >>> @app.post("/echo")
    ... async def echo(body: dict) -> dict:
    ...     return body
    >>> app.add_middleware(BodyLimit, max_bytes=20)   # as create_app adds it (STREAMWISE_MAX_BODY_BYTES)
    >>> client = TestClient(app)
    >>> client.post("/echo", json={"amount": 1.5}).json()
    {'amount': 1.5}
    >>> response = client.post("/echo", json={"comment": "x" * 30})   # the route never sees it
    >>> response.status_code, response.json()
    (413, {'detail': 'request body over 20 bytes'})
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a request on to the app, or answer 413 once its body is over ``max_bytes``."""
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        seen = 0
        rejected = False

        async def limited() -> Message:
            # A streamed body over the limit: answer 413 here, then tell the app the client left.
            nonlocal seen, rejected
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes and not rejected:
                rejected = True
                await self._reject(send)
            return {"type": "http.disconnect"} if rejected else message

        async def guarded_send(message: Message) -> None:
            if not rejected:  # after a 413 the app has nothing more to say
                await send(message)

        await self.app(scope, limited, guarded_send)

    async def _reject(self, send: Send) -> None:
        body = f'{{"detail": "request body over {self.max_bytes} bytes"}}'.encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class LatencyMetrics(HTTPMiddleware):
    """Record the latency of each HTTP request, per route and status code.

    The route is its path template, so that ``/items/1`` and ``/items/2`` count as one; a request
    that matches no route counts as ``unmatched``.

    Examples
    --------
    >>> from fastapi import FastAPI
    >>> from fastapi.testclient import TestClient
    >>> from api.prometheus import ApiMetrics
    >>> app, metrics = FastAPI(), ApiMetrics()
    >>> @app.get("/items/{item}")
    ... async def item(item: int) -> dict:
    ...     return {"item": item}
    >>> app.add_middleware(LatencyMetrics, metrics=metrics)
    >>> client = TestClient(app)
    >>> [client.get(path).status_code for path in ("/items/1", "/items/2", "/items/x", "/nowhere")]
    [200, 200, 422, 404]
    >>> count = "streamwise_api_request_seconds_count"   # the histogram's number of observations
    >>> metrics.registry.get_sample_value(count, {"route": "/items/{item}", "status": "200"})
    2.0
    >>> metrics.registry.get_sample_value(count, {"route": "unmatched", "status": "404"})
    1.0
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a request on to the app and record its latency (status 500 when the app answered nothing)."""
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.request(path, str(status["code"]), time.perf_counter() - started)


class JSONBodyError(json.JSONDecodeError):
    """A body that is not strict JSON (FastAPI answers 422 ``json_invalid`` with ``msg`` in ``ctx.error``).

    Examples
    --------
    >>> error = JSONBodyError("trailing comma is not allowed", pos=7)
    >>> isinstance(error, ValueError), error.msg, error.pos
    (True, 'trailing comma is not allowed', 7)
    """

    def __init__(self, msg: str, pos: int = 0) -> None:
        super().__init__(msg, "", pos)


def _depth_over(value: Any, limit: int) -> bool:
    """Return whether ``value`` nests arrays and objects deeper than ``limit`` levels (without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(body: bytes) -> Any:
    """Parse ``body`` as strict JSON (no NaN or Infinity, valid UTF-8) nested at most ``MAX_JSON_DEPTH`` levels.

    The standard library parser recurses: a deeply nested body raises RecursionError, which FastAPI
    answers with a vague 400; and it takes NaN, 1e400 and lone surrogates, which fail validation
    into error answers that cannot be rendered (500).

    Examples
    --------
    >>> parse_json(b'{"amount": 12.5, "tags": ["a", true]}')
    {'amount': 12.5, 'tags': ['a', True]}
    >>> parse_json(b'{"amount": NaN}')   # json.loads would take it
    Traceback (most recent call last):
    ...
    api.limits.JSONBodyError: unexpected character, expected a JSON value: line 1 column 12 (char 11)
    >>> parse_json(b"[" * 32 + b"]" * 32)   # 32 levels: the most it takes
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    >>> parse_json(b"[" * 33 + b"]" * 33)
    Traceback (most recent call last):
    ...
    api.limits.JSONBodyError: JSON nested deeper than 32 levels: line 1 column 1 (char 0)
    """
    too_deep = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise JSONBodyError(too_deep if "depth limit" in exc.msg else exc.msg, exc.pos) from None
    if _depth_over(value, MAX_JSON_DEPTH):
        raise JSONBodyError(too_deep)
    return value


class StrictJSONRequest(Request):
    """A request whose JSON body is parsed by ``parse_json``.

    Examples
    --------
    A request made from an ASGI scope and a ``receive`` that hands over its body (as a route's handler gets it):

    >>> import asyncio
    >>> async def receive():
    ...     return {"type": "http.request", "body": b'{"amount": 12.5}', "more_body": False}
    >>> request = StrictJSONRequest({"type": "http", "method": "POST", "headers": []}, receive)
    >>> asyncio.run(request.json())
    {'amount': 12.5}
    """

    async def json(self) -> Any:
        """Return the body parsed by ``parse_json`` (once: later calls return the same value)."""
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is parsed by ``parse_json``: give it to an ``APIRouter(route_class=...)``.

    Examples
    --------
    >>> from fastapi import APIRouter, FastAPI
    >>> from fastapi.testclient import TestClient
    >>> router = APIRouter(route_class=StrictJSONRoute)
    >>> @router.post("/echo")
    ... async def echo(body: dict) -> dict:
    ...     return body
    >>> app = FastAPI()
    >>> app.include_router(router)
    >>> client = TestClient(app)
    >>> client.post("/echo", json={"amount": 1.5}).json()
    {'amount': 1.5}
    >>> response = client.post("/echo", content=b'{"amount": NaN}', headers={"content-type": "application/json"})
    >>> response.status_code, response.json()["detail"][0]["type"], response.json()["detail"][0]["ctx"]
    (422, 'json_invalid', {'error': 'unexpected character, expected a JSON value'})
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Return FastAPI's handler of the route, given each request as a ``StrictJSONRequest``."""
        handler = super().get_route_handler()

        async def strict_json_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_json_handler
