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
    """The bytes of one keep-alive POST of a JSON body."""
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
        self.started = started
        self.sock.sendall(request)

    def receive(self) -> tuple[int, bytes] | None:
        """Read what is there (the socket is readable); the status and body once an answer is whole."""
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
        """Both runs as one (for a test split in slices)."""
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
    """``rate`` requests per second for ``warmup + seconds``; latencies of those due after the warm-up."""
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
    """The busy connections whose whole answer came within ``timeout``: each with it and the time it
    came. ``required``: no connection readable in that time is a TimeoutError."""
    readable, _, _ = select.select(list(busy), [], [], timeout)
    if required and not readable:
        raise TimeoutError(f"no answer in {timeout:g} s")
    for sock in readable:
        connection = busy[sock]
        answer = connection.receive()
        if answer is not None:
            yield connection, answer, time.perf_counter()


def closed_loop(address: Address, request: bytes, connections: int, seconds: float, warmup: float = 1.0) -> Run:
    """``connections`` connections sending back to back; answers completed in the window count."""
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
    """One request and its answer, waiting for it."""
    connection.send(request, time.perf_counter())
    while True:
        select.select([connection.sock], [], [])
        answer = connection.receive()
        if answer is not None:
            return answer
