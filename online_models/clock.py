"""Time in the core: an injectable clock (a test passes its own) and epoch milliseconds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the current time, in UTC (the default clock)."""
    return datetime.now(tz=UTC)


def epoch_ms(ts: datetime) -> int:
    """Return the milliseconds from the epoch to ``ts``.

    Examples
    --------
    >>> epoch_ms(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
    1000
    """
    return int(ts.timestamp() * 1000)
