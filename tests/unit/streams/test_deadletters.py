"""Dead letters are logged once per kind and power of ten, with the running count: a stream that
refuses every event does not bury the log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from online_models.events import DeadLetter, Origin
from streams.deadletters import DeadLetterLog

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def model_error(model: str, kind: str) -> DeadLetter:
    detail = f"model {model!r} failed to learn: {kind}: boom"
    return DeadLetter("model_error", detail, b"{}", Origin("features", 0, 1), NOW, event_id="e", model=model)


def test_each_kind_is_logged_at_1_10_100_with_its_count(caplog: pytest.LogCaptureFixture) -> None:
    logged = DeadLetterLog()
    with caplog.at_level(logging.WARNING, logger="streamwise.deadletters"):
        for _ in range(1000):
            logged.note(model_error("a", "TypeError"))
        for _ in range(20):
            logged.note(model_error("b", "TypeError"))  # another model: its own kind
        logged.note(model_error("a", "KeyError"))  # another exception: its own kind
        logged.note(DeadLetter("invalid_json", "unexpected end", b"{", Origin("events.raw", 0, 9), NOW))

    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 4 + 2 + 1 + 1, lines
    assert [line.split("(")[-1].split(" ")[0] for line in lines[:4]] == ["1", "10", "100", "1000"]
    assert "model 'a'" in lines[0] and "features[0]@1" in lines[0]
    assert logged.counts[("model_error", "a", "learn: TypeError")] == 1000
