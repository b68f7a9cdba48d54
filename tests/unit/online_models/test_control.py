"""A person's champion change reaches the promotion judge through the learn log, in order."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from online_models.config import parse_config
from online_models.control import ChampionChange, parse_champion_change
from online_models.events import DeadLetter, FeatureVector, Origin
from online_models.learner import Learner
from online_models.pipeline import Pipeline

CONFIG = parse_config(
    {
        "models": [
            {
                "name": "lr",
                "recipe": "logistic_regression",
                "task": "binary",
                "promotion": {"window": 10, "margin": 0.0, "cooldown_events": 0},
            },
            {"name": "lr-nb", "recipe": "naive_bayes", "task": "binary", "challenger_of": "lr"},
        ]
    }
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_MS = 1_767_225_600_000


def test_a_pin_stops_automatic_promotion_until_it_is_unpinned() -> None:
    learner = Learner(CONFIG)
    pin = ChampionChange("lr", "lr", 3, True, "rolled_back", "api", "v4 regressed", T0, Origin("models.control", 0, 0))
    learner.apply(pin)
    judge = learner.judges["lr"]
    assert (judge.champion, judge.pinned) == ("lr", True)
    assert feed(learner, range(200)) == []
    learner.apply(ChampionChange("lr", "lr", 3, False, "unpinned", source=Origin("models.control", 0, 1)))
    assert judge.pinned is False
    assert [p.to_candidate for p in feed(learner, range(200, 400))] == ["lr-nb"]


def feed(learner: Learner, offsets: range) -> list:
    """x in {0, 1, 2}, label x == 1: no line separates it, naive Bayes does (so it beats the champion)."""
    promotions = []
    for i in offsets:
        x = {"a": i % 3 + (i % 7) / 20}  # around 0, 1 and 2
        result = learner.apply(FeatureVector(f"e{i}", T0_MS, None, x, i % 3 == 1, Origin("events.raw", 0, i)))
        promotions += result.promotions
    return promotions


def test_a_change_read_twice_at_one_offset_is_applied_once_and_an_unknown_name_is_ignored() -> None:
    learner = Learner(CONFIG)
    change = ChampionChange("lr", "lr-nb", 2, True, source=Origin("models.control", 0, 5))
    assert not learner.apply(change).duplicate
    assert learner.apply(change).duplicate
    assert learner.judges["lr"].champion == "lr-nb"
    assert (
        learner.apply(ChampionChange("other", "x", 1, True, source=Origin("models.control", 0, 6))).dead_letters == []
    )


def test_a_control_message_that_is_not_one_is_a_dead_letter_with_its_reason() -> None:
    pipeline = Pipeline(CONFIG)
    letter = pipeline.champion_change(b'{"name": "lr", "candidate": "lr", "version": 0}', None, Origin("c", 0, 1))
    assert isinstance(letter, DeadLetter) and letter.reason == "invalid_type" and "version" in letter.detail
    change = pipeline.champion_change(
        orjson.dumps({"name": "lr", "candidate": "lr", "version": 2, "pinned": False}), b"lr", None
    )
    assert isinstance(change, ChampionChange) and change.event == "promoted"
    assert parse_champion_change(change.to_json()).version == 2
