"""Quieter logs while the broker is away.

Faust's Kafka client (aiokafka) logs the same error every 100 ms of an outage. Each distinct message
passes at most once per ``every`` seconds, with the count of those it held back; the engine's health
log says the same thing (``streamwise.health``).
"""

from __future__ import annotations

import logging
import time


class RepeatsFilter(logging.Filter):
    """A logging filter that passes each distinct message at most once per ``every`` seconds.

    Messages are told apart by logger and template (``record.msg``), not by their arguments.

    Examples
    --------
    >>> repeats = RepeatsFilter(every=60.0)
    >>> def record(host):
    ...     return logging.makeLogRecord({"name": "aiokafka", "msg": "Unable to connect to %s", "args": (host,)})
    >>> repeats.filter(record("kafka-1")), repeats.filter(record("kafka-2")), repeats.filter(record("kafka-1"))
    (True, False, False)
    >>> repeats.seen[("aiokafka", "Unable to connect to %s")][1]   # held back since it last passed
    2
    """

    def __init__(self, every: float = 30.0) -> None:
        super().__init__()
        self.every = every
        self.seen: dict[tuple[str, str], tuple[float, int]] = {}  # (logger, template) -> (last passed, held since)

    def filter(self, record: logging.LogRecord) -> bool:
        """Return whether ``record`` passes; one that passes after repeats says how many were held back."""
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last, held = self.seen.get(key, (-self.every, 0))
        if now - last < self.every:
            self.seen[key] = (last, held + 1)
            return False
        if held:
            record.msg = f"{record.msg} ({held} more like it in the last {self.every:g} s)"
        self.seen[key] = (now, 0)
        return True


def quiet_repeats(prefix: str = "aiokafka", every: float = 30.0) -> None:
    """Attach one RepeatsFilter to every logger under ``prefix`` that exists now (they are made at import).

    Examples
    --------
    >>> client = logging.getLogger("flaky_client.conn")   # made before: filtered
    >>> quiet_repeats("flaky_client", every=60.0)
    >>> [type(f).__name__ for f in client.filters], logging.getLogger("flaky_client.later").filters
    (['RepeatsFilter'], [])
    """
    repeats = RepeatsFilter(every)
    for name in list(logging.root.manager.loggerDict):
        if name == prefix or name.startswith(prefix + "."):
            logging.getLogger(name).addFilter(repeats)
