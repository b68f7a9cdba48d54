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
    """A pure ASGI middleware that acts on HTTP requests (``handle``); lifespan and websockets pass by."""

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
    """Answer 413 to a body over ``max_bytes``, declared or streamed, before it is parsed."""

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
    """Record the latency of each HTTP request, per route and status code."""

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
    """A body that is not strict JSON (FastAPI answers 422 ``json_invalid`` with ``msg`` in ``ctx.error``)."""

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
    """A request whose JSON body is parsed by ``parse_json``."""

    async def json(self) -> Any:
        """Return the body parsed by ``parse_json`` (once: later calls return the same value)."""
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is parsed by ``parse_json``: give it to an ``APIRouter(route_class=...)``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Return FastAPI's handler of the route, given each request as a ``StrictJSONRequest``."""
        handler = super().get_route_handler()

        async def strict_json_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_json_handler
