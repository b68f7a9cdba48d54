"""Pickling a partition's state (or a model) without holding the loop for long.

A checkpoint must capture the state exactly as it is between two messages; pickling it in the loop's
thread does, and stops the loop meanwhile: about 1 ms for logistic_regression, 100 ms for a
10-tree forest. For a state that is slow to pickle, the loop forks instead (as Redis does for
BGSAVE): the child process holds a copy-on-write image of the memory at that instant, pickles the
state from it and hands the bytes back through a pipe, while the loop goes on after the few
milliseconds the fork itself takes. The child runs no other code: it touches neither Kafka's
client nor the event loop, and ends with ``os._exit``.

Which way each state goes is decided by its last pickling time: in the thread below
``fork_above`` seconds, in a child above it (and the first time, when it is not known yet).

>>> freezer = Freezer(fork_above=1.0)
>>> pickle.loads(freezer.freeze("lr", {"w": [1.0, 2.0]}).result(timeout=10))
{'w': [1.0, 2.0]}
"""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import threading
import time
import warnings
from typing import Any


class Freezer:
    def __init__(self, fork_above: float = 0.005) -> None:
        self.fork_above = fork_above
        self.seconds: dict[Any, float] = {}  # the last pickling time of each state, by key

    def freeze(self, key: Any, state: Any) -> concurrent.futures.Future[bytes]:
        """The pickled bytes of ``state`` as it is now (a future: ready at once, or when the child is done)."""
        if self.seconds.get(key, float("inf")) <= self.fork_above:
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
                with os.fdopen(write, "wb") as out:
                    pickle.dump(state, out, protocol=pickle.HIGHEST_PROTOCOL)
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
        started = time.perf_counter()
        try:
            with os.fdopen(read, "rb") as source:
                blob = source.read()
            _, status = os.waitpid(pid, 0)
        except OSError as exc:
            future.set_exception(exc)
            return
        if status != 0:
            future.set_exception(RuntimeError(f"the pickling child exited with status {status}"))
            return
        self.seconds[key] = time.perf_counter() - started  # about the child's pickling time
        future.set_result(blob)
