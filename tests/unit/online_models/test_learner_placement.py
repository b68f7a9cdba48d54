"""Placement: each model name learns on one learn-log partition, and a label's own facts are said once."""

from __future__ import annotations

from online_models.config import parse_config
from online_models.datasets import synthetic_events
from online_models.events import FeatureVector, Origin
from online_models.labels import LabelEvent
from online_models.learner import Learner
from online_models.placement import Placement

CONFIG = parse_config(
    {
        "models": [
            {"name": "lr", "recipe": "logistic_regression", "task": "binary"},
            {"name": "nb", "recipe": "naive_bayes", "task": "binary"},
            {"name": "nb2", "recipe": "naive_bayes", "task": "binary", "challenger_of": "nb"},
        ],
        "data_drift": {"features": ["salary"]},
    }
)


def test_each_name_learns_on_one_partition_with_its_challengers() -> None:
    placement = Placement(CONFIG, partitions=4)
    learners = [Learner(CONFIG, partition=p, placement=placement) for p in range(4)]
    assert [[m.name for m in learner.models] for learner in learners] == [["lr"], ["nb", "nb2"], [], []]
    assert [learner.primary for learner in learners] == [True, False, False, False]
    assert [learner.data_drift is not None for learner in learners] == [True, False, False, False]
    assert learners[1].placed_like(placement)
    assert not Learner(CONFIG, partition=1).placed_like(placement)  # one partition: every model on it


def test_every_hosting_learner_learns_the_whole_stream_and_one_reports_a_labels_dead_letters() -> None:
    placement = Placement(CONFIG, partitions=2)
    learners = [Learner(CONFIG, partition=p, placement=placement) for p in placement.hosts]
    events = list(synthetic_events("agrawal", 300, seed=3))
    for i, event in enumerate(events):  # unlabeled events from three raw partitions, then their labels
        vector = FeatureVector(event["event_id"], event["ts"], None, event["features"], None, Origin("raw", i % 3, i))
        label = LabelEvent(event["event_id"], event["label"], event["ts"], Origin("labels", 0, i))
        for learner in learners:
            assert learner.apply(vector).dead_letters == []
            assert learner.apply(label).dead_letters == []
    assert [(m.name, m.labeled) for learner in learners for m in learner.models] == [
        ("lr", 300), ("nb", 300), ("nb2", 300)
    ]  # fmt: skip
    again = LabelEvent(events[0]["event_id"], True, events[0]["ts"], Origin("labels", 0, 300))  # joined already
    letters = [[letter.reason for letter in learner.apply(again).dead_letters] for learner in learners]
    assert letters == [["label_duplicate"], []]
