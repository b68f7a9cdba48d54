"""Pickling a partition's state (or a model) without holding the loop for long.

A checkpoint must capture the state exactly as it is between two messages; pickling it in the loop's
thread does, and stops the loop meanwhile: about 1 ms for logistic_regression, 100 ms for a
10-tree forest. For a state that is slow to pickle, the loop forks instead (as Redis does for
BGSAVE): the child process holds a copy-on-write image of the memory at that instant, pickles the
state from it and hands the bytes back through a pipe, while the loop goes on after the few
milliseconds the fork itself takes. The child runs no other code: it touches neither Kafka's
client nor the event loop, and ends with ``os._exit``.

Which way each state goes is decided by its last pickling time: in the thread below
``fork_above`` seconds, in a child above it. A state not pickled yet goes by what is known of a
state like it (``like``: a model by its partition's checkpoint, a restored state by how long it
took to load), else in a child: a forest can grow to 100 ms of pickling before its first
checkpoint, and a fork costs a bounded few milliseconds.

>>> freezer = Freezer(fork_above=0.5)
>>> freezer.seconds["slow"] = 1.0   # known to be slow: what is like it is forked
>>> pickle.loads(freezer.freeze("m0", {"w": [1.0, 2.0]}, like="slow").result(timeout=10))
{'w': [1.0, 2.0]}
>>> freezer.seconds["quick"] = 0.001
>>> freezer.freeze("m1", {}, like="quick").done()   # known to be quick: pickled here and now
True
"""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import struct
import threading
import time
import warnings
from typing import Any


class Freezer:
    """Pickles states in the loop's thread or in a forked child, by how long each took last time."""

    def __init__(self, fork_above: float = 0.005) -> None:
        self.fork_above = fork_above
        self.seconds: dict[Any, float] = {}  # the last pickling time of each state, by key

    def freeze(self, key: Any, state: Any, like: Any = None) -> concurrent.futures.Future[bytes]:
        """Pickle ``state`` as it is now; return a future of the bytes (ready at once, or when the child is done)."""
        seconds = self.seconds.get(key)
        if seconds is None:
            seconds = self.seconds.get(like, float("inf"))
        if seconds <= self.fork_above:
            started = time.perf_counter()
            future: concurrent.futures.Future[bytes] = concurrent.futures.Future()
            future.set_result(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
            self.seconds[key] = time.perf_counter() - started
            return future
        return self._fork(key, state)

    def _fork(self, key: Any, state: Any) -> concurrent.futures.Future[bytes]:
        read, write = os.pipe()
        with warnings.catch_warnings():  # Python 3.12 warns of fork in a threaded process: see the module's doc
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: pickle, write, leave (no cleanup: none of the parent's is ours)
            code = 1
            try:
                os.close(read)
                started = time.perf_counter()
                blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write, "wb") as out:
                    out.write(struct.pack("<d", time.perf_counter() - started))  # how long pickling took
                    out.write(blob)
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        future: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        reader = threading.Thread(target=self._collect, args=(key, pid, read, future), name="streamwise-freezer")
        reader.daemon = True
        reader.start()
        return future

    def _collect(self, key: Any, pid: int, read: int, future: concurrent.futures.Future[bytes]) -> None:
        try:
            with os.fdopen(read, "rb") as source:
                data = source.read()
            _, status = os.waitpid(pid, 0)
        except OSError as exc:
            future.set_exception(exc)
            return
        if status != 0 or len(data) < 8:
            future.set_exception(RuntimeError(f"the pickling child exited with status {status}"))
            return
        self.seconds[key] = struct.unpack("<d", data[:8])[0]
        future.set_result(data[8:])
