"""The log and count of dead letters: one place for what every stage that refuses a message reports.

A stream that refuses every event for one reason (a model that cannot take a kind of label, a
producer that sends bad JSON) would log every one of them: thousands of identical lines that hide
everything else. So each kind of dead letter (its reason, model and, for a failure, the exception
type) is logged at its 1st, 10th, 100th, ... occurrence, with its running count; every one is
counted in the worker's metrics and goes to the dead-letter topic all the same.

>>> from datetime import UTC, datetime
>>> from online_models.events import DeadLetter
>>> logged = DeadLetterLog()
>>> letter = DeadLetter("model_error", "model 'a' failed to learn: TypeError: '>' not supported", None, None,
...                     datetime(2026, 1, 1, tzinfo=UTC), model="a")
>>> [logged.note(letter) for _ in range(12)].count(True)   # the 1st and the 10th
2
>>> logged.counts
Counter({('model_error', 'a', 'learn: TypeError'): 12})
"""

from __future__ import annotations

import logging
from collections import Counter

from online_models.events import DeadLetter, sampled

log = logging.getLogger("streamwise.deadletters")


def kind_of(letter: DeadLetter) -> tuple[str, str | None, str]:
    """Return what makes two dead letters the same failure: reason, model and, for a failure, its stage and type.

    >>> from datetime import UTC, datetime
    >>> kind_of(DeadLetter("unexpected_error", "KeyError: 'x'", None, None, datetime(2026, 1, 1, tzinfo=UTC)))
    ('unexpected_error', None, 'KeyError')
    """
    detail = letter.detail
    if letter.reason == "model_error" and " failed to " in detail:  # "model 'a' failed to learn: TypeError: ..."
        stage, kind = detail.split(" failed to ", 1)[1].split(": ", 2)[:2]
        return letter.reason, letter.model, f"{stage}: {kind}"
    if letter.reason == "unexpected_error":  # "TypeError: ..."
        return letter.reason, letter.model, detail.split(":", 1)[0]
    return letter.reason, letter.model, ""


class DeadLetterLog:
    """Log dead letters once per kind and power of ten, with the running count of that kind."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str | None, str]] = Counter()

    def note(self, letter: DeadLetter) -> bool:
        """Count ``letter``; log it when its kind's count is 1, 10, 100, ...; return whether it was logged."""
        kind = kind_of(letter)
        self.counts[kind] += 1
        count = self.counts[kind]
        if not sampled(count):
            return False
        origin = letter.origin
        where = f"{origin.topic}[{origin.partition}]@{origin.offset}" if origin else "(no origin)"
        model = f" of model {letter.model!r}" if letter.model else ""
        log.warning("dead letter %s%s from %s: %s (%d of this kind so far; logged at 1, 10, 100, ...)",
                    letter.reason, model, where, letter.detail[:300], count)  # fmt: skip
        return True
