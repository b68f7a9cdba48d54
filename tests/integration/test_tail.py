"""`streamwise tail {predictions,dlq,alerts}`: a reader of the output topics, filtered by model."""

from __future__ import annotations

import time

import orjson
import pytest

from streams.kafka import admin
from streams.kafka.producer import produce
from streams.testing import StreamEnv

pytestmark = [pytest.mark.kafka, pytest.mark.redis]  # stream_env: Kafka, and Redis for its workers


def prediction(event_id: str, model: str) -> bytes:
    return orjson.dumps({"event_id": event_id, "model": model, "generation": 1, "prediction": True,
                         "proba": {"true": 0.75, "false": 0.25}, "ts": 0, "processed_at": 0})  # fmt: skip


def test_tail_follows_predictions_and_dead_letters_of_one_model(stream_env: StreamEnv) -> None:
    predictions, dlq = stream_env.topic("predictions"), stream_env.topic("events.dlq")
    admin.create_topics(stream_env.bootstrap, [predictions, dlq], 1)
    letter = {"reason": "model_error", "detail": "learn: TypeError", "event_id": "e2", "model": "lr",
              "topic": "events.raw", "partition": 0, "offset": 7}  # fmt: skip
    messages = [(predictions, b"e1", prediction("e1", "ht")), (predictions, b"e1", prediction("e1", "lr")),
                (predictions, None, b"not json"), (predictions, b"e2", prediction("e2", "lr")),
                (dlq, b"e2", orjson.dumps(letter))]  # fmt: skip
    assert not produce(stream_env.bootstrap, messages).errors

    def tail(*args: str) -> list[str]:
        out = stream_env.cli("tail", *args, "--from-beginning", "--timeout", "60").stdout
        return out.splitlines()

    lines = tail("predictions", "--model", "lr", "--max", "2")
    assert [line.split()[:3] for line in lines] == [["e1", "model=lr", "gen=1"], ["e2", "model=lr", "gen=1"]]
    assert lines[0].endswith("-> true p=0.750")  # the prediction as published (and as /predict says it)
    assert [orjson.loads(line)["model"] for line in tail("predictions", "--json", "--max", "2")] == ["ht", "lr"]
    assert tail("predictions", "--max", "3")[2] == "(not a predictions record) not json"
    assert tail("dlq", "--max", "1") == ["model_error events.raw[0]@7 event=e2 model=lr: learn: TypeError"]


def test_tail_from_the_beginning_with_more_wanted_than_there_are_stops_at_the_end(stream_env: StreamEnv) -> None:
    dlq = stream_env.topic("events.dlq")
    admin.create_topics(stream_env.bootstrap, [dlq], 2)
    letters = [orjson.dumps({"reason": "invalid_json", "detail": f"bad {i}", "topic": "events.raw"}) for i in range(11)]
    assert not produce(stream_env.bootstrap, [(dlq, None, letter) for letter in letters]).errors

    started = time.monotonic()
    done = stream_env.cli("tail", "dlq", "--from-beginning", "--max", "20", "--timeout", "120")
    assert len(done.stdout.splitlines()) == 11, done.stdout
    assert time.monotonic() - started < 60, "it waited for records the topic does not hold"
