"""The intake's per-key windows: checkpointed anywhere, resumed exactly; bad events change nothing."""

from __future__ import annotations

import orjson

from online_models import checkpoint
from online_models.config import parse_config
from online_models.events import MIN_MS, DeadLetter, FeatureVector, Origin
from online_models.intake import Intake
from online_models.pipeline import EmbeddedRunner, Pipeline
from tests.support.windows import expected, mismatch, random_stream

KEY = b"intake-test-signing-key-00000000"
CONFIG = parse_config(
    {
        "models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}],
        "features": {
            "aggregates": [{"source": "w", "stats": ["count", "mean"]}],
            "windows": [
                {"source": "v", "seconds": 5, "stats": ["count", "sum", "mean", "min", "max", "var"]},
                {"source": "w", "seconds": 60, "stats": ["count", "max"]},
            ],
            "since_previous": True,
        },
    }
)
EVENTS = random_stream(seed=21, n=1500)
RAW = [
    orjson.dumps({"event_id": f"e{i}", "ts": ts, "key": key, "features": features, "label": i % 3 == 0})
    for i, (key, ts, features) in enumerate(EVENTS)
]


def feed(intake: Intake, messages: list[bytes], first: int = 0) -> list[FeatureVector]:
    vectors = []
    for offset, value in enumerate(messages, start=first):
        vector = intake.event(value, None, None, Origin("events.raw", 0, offset))
        assert isinstance(vector, FeatureVector), vector
        vectors.append(vector)
    return vectors


def test_vectors_carry_the_windows_of_their_key() -> None:
    vectors = feed(Intake(CONFIG), RAW)
    for vector, want in zip(vectors, expected(CONFIG.features, EVENTS), strict=True):
        assert mismatch(CONFIG.features, vector.features, want) is None, vector


def test_an_intake_checkpointed_mid_stream_goes_on_exactly() -> None:
    straight = feed(Intake(CONFIG), RAW)
    intake = Intake(CONFIG)
    resumed = feed(intake, RAW[:600])
    for cut in (600, 1100):
        intake = checkpoint.restore(checkpoint.take(intake, CONFIG, KEY), CONFIG, KEY, Intake)
        assert intake.next_offset("events.raw") == cut
        resumed += feed(intake, RAW[cut : cut + 500] if cut == 600 else RAW[cut:], first=cut)
    assert [v.features for v in resumed] == [v.features for v in straight]


def test_a_dead_letter_leaves_the_key_state_as_it_was() -> None:
    intake = Intake(CONFIG)
    feed(intake, RAW[:200])
    before = checkpoint.state_digest(intake.key_states)
    bad = [
        {"event_id": "b1", "ts": EVENTS[199][1], "key": "k1", "features": {"v": "high", "w": 1}},
        {"event_id": "b2", "ts": EVENTS[199][1], "key": "k1", "features": {"v": 1.0, "w": False}},
        {"event_id": "b3", "ts": MIN_MS + 1000, "key": "k1", "features": {"v": 1.0}},  # 1 s after year 1
    ]
    letters = [intake.event(orjson.dumps(b), None, None, None) for b in bad]
    reasons = [d.reason if isinstance(d, DeadLetter) else None for d in letters]
    assert reasons == ["non_numeric_feature", "non_numeric_feature", "invalid_ts"]
    assert checkpoint.state_digest(intake.key_states) == before


def test_the_embedded_runner_keeps_each_keys_newest_vector_with_its_windows() -> None:
    runner = EmbeddedRunner(Pipeline(CONFIG))
    vectors = [runner.process(value).vector for value in RAW]
    newest = {v.key: v.features for v in vectors if v is not None and v.key is not None}
    assert runner.features.vectors == newest
    assert all("v_count_5s" in x or "v" not in x for x in newest.values())


def test_an_intake_counts_its_dead_letters_by_reason() -> None:
    intake = Intake(parse_config({"models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}]}))
    for i, value in enumerate(
        [b"{", b'{"event_id": "e", "features": {}}', b"{", b'{"event_id": "f", "features": {"x": 1}}']
    ):
        intake.event(value, None, None, Origin("raw", 0, i))
    assert intake.letters == {"invalid_json": 2, "empty_features": 1}


SHOP = parse_config(
    {
        "models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}],
        "features": {"transforms": [{"name": "amount_log", "op": "log1p", "source": "amount"}]},
    }
)


def test_a_bad_value_costs_its_feature_not_the_event() -> None:
    intake = Intake(SHOP)
    events = [
        {"event_id": "o1", "ts": 0, "features": {"amount": -5, "country": "FR"}},  # log1p(-5): no amount_log
        {"event_id": "o2", "ts": 1, "features": {"amount": None, "country": "DE"}},  # a missing value
        {"event_id": "o3", "ts": 2, "features": {"amount": "lots", "country": "US"}},  # no number to transform
        {"event_id": "o4", "ts": 3, "features": {"amount": 9.0, "country": "FR"}},
    ]
    vectors = [intake.event(orjson.dumps(e), None, None, Origin("raw", 0, i)) for i, e in enumerate(events)]

    assert all(isinstance(v, FeatureVector) for v in vectors), vectors
    assert [sorted(v.features) for v in vectors] == [  # type: ignore[union-attr]
        ["amount", "country"], ["country"], ["amount", "country"], ["amount", "amount_log", "country"]
    ]  # fmt: skip
    assert intake.dropped == {
        "amount_log: transform_failed": 1, "amount: null": 1, "amount_log: non_numeric_feature": 1
    }  # fmt: skip
    warnings = intake.take_warnings()  # the first of each kind goes to the DLQ as a warning, with its event
    assert [(w.reason, w.event_id) for w in warnings] == [("feature_dropped", e) for e in ("o1", "o2", "o3")]
    assert "amount_log" in warnings[0].detail and intake.take_warnings() == []
    assert intake.letters == {}


def test_every_dead_letter_carries_the_event_id_it_can_read() -> None:
    intake = Intake(CONFIG)
    bad = [
        b'{"event_id": "n1", "features": {"v": NaN}}',  # not JSON: the id read from the text
        b'{"event_id": "n2", "features": {"v": 1e999}}',
        b'{"event_id": "n3", "ts": 5, "key": "k", "features": {"v": "high"}}',  # a window's source: no number
        b'{"event_id": "n4", "features": ',
    ]
    letters = [intake.event(value, None, None, None) for value in bad]
    assert [(d.reason, d.event_id) for d in letters] == [  # type: ignore[union-attr]
        ("non_finite", "n1"), ("non_finite", "n2"), ("non_numeric_feature", "n3"), ("invalid_json", "n4")
    ]  # fmt: skip
