"""A light HTTP/1.1 load generator: blocking sockets, select(), one pre-built request, no dependency.

Two modes, both on keep-alive connections to one host:

- ``open_loop``: requests scheduled at a fixed rate, independently of the answers (each goes out on
  an idle connection; a new one opens when all are busy, up to ``max_connections``, after which due
  requests wait in the generator, their clocks running). A request's latency runs from its
  *scheduled* send time, so a stall of the server (or of this generator) shows up in the figures
  instead of silently delaying the next sends (no coordinated omission).
- ``closed_loop``: ``connections`` connections each sending the next request as soon as the answer
  arrives, for a fixed time after a warm-up: the maximum throughput.

Answers must carry a Content-Length (uvicorn's JSON answers do); any status but 200 counts as an
error. ``select.select`` takes its timeout in microseconds (epoll and poll in milliseconds), which
keeps the pacing tight; the generator's own CPU time is reported so its overhead can be judged.
"""

from __future__ import annotations

import gc
import select
import socket
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

Address = tuple[str, int]
# uvicorn closes a keep-alive connection idle for 5 s (timeout_keep_alive): the open loop's pool does
# not reuse one idle that long (a burst late in a run took one the server had closed).
KEEP_ALIVE_SECONDS = 4.0


def post(address: Address, path: str, body: bytes) -> bytes:
    """Return the bytes of one keep-alive POST of JSON ``body`` to ``path`` on ``address``."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, address: Address) -> None:
        self.sock = socket.create_connection(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.started = 0.0  # when the request in flight was due (open loop) or sent (closed loop)
        self.freed = time.perf_counter()  # when it last became idle

    def send(self, request: bytes, started: float) -> None:
        """Send ``request``, its latency counted from ``started`` (a ``time.perf_counter`` time, in seconds)."""
        self.started = started
        self.sock.sendall(request)

    def receive(self) -> tuple[int, bytes] | None:
        """Read what is there (the socket is readable); return the status and body once an answer is whole.

        Return None while the answer is incomplete. Raise ConnectionError when the server closed the
        connection or the answer has no Content-Length.
        """
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            raise ConnectionError("an answer without Content-Length")
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : line_end if line_end > 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return None
        status = int(head[9:12])
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        return status, body

    def close(self) -> None:
        """Close the connection's socket."""
        self.sock.close()


@dataclass
class Run:
    """What a load run measured (times in seconds); ``latencies`` only of the measured window."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    answers: int = 0  # every answer, warm-up included
    seconds: float = 0.0  # the measured window (open loop: until the last of its answers)
    cpu: float = 0.0  # this process's CPU time over the whole run, warm-up included
    wall: float = 0.0  # the whole run's wall time
    connections: int = 0

    def add(self, other: Run) -> Run:
        """Return both runs as one (for a test split in slices): sums, and the larger connection count."""
        return Run(
            self.latencies + other.latencies,
            self.errors + other.errors,
            self.answers + other.answers,
            self.seconds + other.seconds,
            self.cpu + other.cpu,
            self.wall + other.wall,
            max(self.connections, other.connections),
        )

    @property
    def rate(self) -> float:
        """The requests answered per second over the measured window (0.0 for an empty window)."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def open_loop(
    address: Address,
    request: bytes,
    rate: float,
    seconds: float,
    warmup: float = 1.0,
    pool: int = 8,
    max_connections: int = 64,
    drain: float = 10.0,
) -> Run:
    """Send ``rate`` requests per second for ``warmup + seconds``; measure the latencies of those due after the warm-up.

    ``pool`` connections are opened first, and more (up to ``max_connections``) when all are busy.
    Requests still unanswered ``drain`` seconds after the last was due count as errors.
    """
    period = 1.0 / rate
    total = round((warmup + seconds) * rate)
    idle = [Connection(address) for _ in range(pool)]
    busy: dict[socket.socket, Connection] = {}
    due: deque[float] = deque()  # due but no idle connection yet
    run = Run(seconds=seconds)
    gc.disable()
    cpu = time.process_time()
    start = time.perf_counter() + 0.01
    measured_from = start + warmup
    deadline = start + warmup + seconds + drain
    sent = 0
    try:
        while sent < total or due or busy:
            now = time.perf_counter()
            if now > deadline:
                run.errors += len(busy) + len(due) + total - sent  # never answered: count as errors
                break
            while sent < total and start + sent * period <= now:
                due.append(start + sent * period)
                sent += 1
            _send_due(address, request, due, idle, busy, max_connections, now)
            wait = max(0.0, start + sent * period - time.perf_counter()) if sent < total else drain
            if busy:
                _take_answers(run, busy, idle, wait, measured_from)
            else:
                time.sleep(wait)
    finally:
        run.wall = time.perf_counter() - start
        run.cpu = time.process_time() - cpu
        gc.enable()
        run.connections = len(idle) + len(busy)
        for connection in [*idle, *busy.values()]:
            connection.close()
    return run


def _send_due(
    address: Address,
    request: bytes,
    due: deque[float],
    idle: list[Connection],
    busy: dict[socket.socket, Connection],
    max_connections: int,
    now: float,
) -> None:
    """Send each due request on an idle connection, opening one while fewer than ``max_connections`` are busy."""
    while due:
        if not idle:
            if len(busy) >= max_connections:
                return
            idle.append(Connection(address))
        connection = idle.pop()
        if now - connection.freed > KEEP_ALIVE_SECONDS:  # the server may have closed it: a new one
            connection.close()
            connection = Connection(address)
        connection.send(request, due.popleft())
        busy[connection.sock] = connection


def _take_answers(
    run: Run, busy: dict[socket.socket, Connection], idle: list[Connection], wait: float, measured_from: float
) -> None:
    """Free the connections answered within ``wait``; record the latency of those sent after the warm-up."""
    for connection, answer, done in answered(busy, wait):
        del busy[connection.sock]
        connection.freed = done
        idle.append(connection)
        run.answers += 1
        if connection.started >= measured_from:
            run.latencies.append(done - connection.started)
            run.errors += answer[0] != 200
            run.seconds = max(run.seconds, done - measured_from)


def answered(
    busy: dict[Any, Connection], timeout: float, required: bool = False
) -> Iterator[tuple[Connection, tuple[int, bytes], float]]:
    """Yield the busy connections whose whole answer came within ``timeout`` (s), each with it and its time.

    The time is a ``time.perf_counter`` time. With ``required``, no connection readable within
    ``timeout`` raises TimeoutError.
    """
    readable, _, _ = select.select(list(busy), [], [], timeout)
    if required and not readable:
        raise TimeoutError(f"no answer in {timeout:g} s")
    for sock in readable:
        connection = busy[sock]
        answer = connection.receive()
        if answer is not None:
            yield connection, answer, time.perf_counter()


def closed_loop(address: Address, request: bytes, connections: int, seconds: float, warmup: float = 1.0) -> Run:
    """Send requests back to back on ``connections`` connections; measure the answers completed in the window.

    Each connection sends its next request as soon as an answer arrives, for ``warmup + seconds``; the
    window is the last ``seconds``, and the run's rate is the maximum throughput (requests/s).
    """
    conns = [Connection(address) for _ in range(connections)]
    busy = {c.sock: c for c in conns}
    run = Run(seconds=seconds, connections=connections)
    gc.disable()
    cpu = time.process_time()
    start = time.perf_counter()
    measured_from, end = start + warmup, start + warmup + seconds
    try:
        for connection in conns:
            connection.send(request, start)
        while busy:
            for connection, answer, done in answered(busy, 10.0, required=True):
                run.answers += 1
                if measured_from <= done < end:
                    run.latencies.append(done - connection.started)
                    run.errors += answer[0] != 200
                if done < end:
                    connection.send(request, done)
                else:
                    del busy[connection.sock]
    finally:
        run.wall = time.perf_counter() - start
        run.cpu = time.process_time() - cpu
        gc.enable()
        for connection in conns:
            connection.close()
    return run


def exchange(connection: Connection, request: bytes) -> tuple[int, bytes]:
    """Send one request on ``connection`` and return its answer (status and body), waiting for it."""
    connection.send(request, time.perf_counter())
    while True:
        select.select([connection.sock], [], [])
        answer = connection.receive()
        if answer is not None:
            return answer
