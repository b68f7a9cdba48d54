"""The label pacer: events and labels pass in produced order, and nothing waits forever."""

from __future__ import annotations

from streams.engine.pacing import EVENTS, LABELS, LabelPacer
from streams.engine.parts import Part


def _pacer() -> tuple[LabelPacer, Part, Part]:
    pacer = LabelPacer()
    raw, labels = Part("events.raw", 0, None, False, 0.0), Part("events.labels", 0, None, False, 0.0)
    pacer.assigned(raw, EVENTS)
    pacer.assigned(labels, LABELS)
    return pacer, raw, labels


def test_an_event_held_past_its_partitions_end_does_not_hold_later_labels_forever() -> None:
    # The last event is held (labels unread), then its partition's end event arrives; once the event
    # is released, the raw partition is still at its end: a later label must pass.
    pacer, raw, labels = _pacer()
    assert not pacer.admit(raw, EVENTS, "e1", 1_000)
    pacer.at_end(raw, 0)
    assert pacer.release() == []  # the end of a batch: the labels partition has not been read yet
    assert pacer.admit(labels, LABELS, "l0", 500)
    pacer.at_end(labels, 0)
    assert [message for _, message in pacer.release()] == ["e1"]
    assert pacer.admit(labels, LABELS, "l1", 2_000)
    assert pacer.held() == 0


def test_a_message_after_the_end_waits_for_the_next_end() -> None:
    pacer, raw, labels = _pacer()
    pacer.at_end(raw, 0)
    assert pacer.admit(raw, EVENTS, "e1", 1_000) is False  # labels not read yet
    assert pacer.release() == []
    assert pacer.admit(labels, LABELS, "l1", 2_000) is False  # raw is not at its end: e1 came after it
    pacer.at_end(labels, 0)
    assert [message for _, message in pacer.release()] == ["e1"]  # l1 waits for raw's end past e1
    pacer.at_end(raw, 0)
    assert [message for _, message in pacer.release()] == ["l1"]


def test_a_burst_after_both_ends_is_read_in_produced_order() -> None:
    # Idle at both ends, then a burst of events and labels: each end is stale as soon as the fetch
    # moved its partition's high watermark on, so no event passes ahead of the labels before it.
    more = {"events.raw", "events.labels"}
    pacer = LabelPacer(lambda part: part.topic in more)
    raw, labels = Part("events.raw", 0, None, False, 0.0), Part("events.labels", 0, None, False, 0.0)
    pacer.assigned(raw, EVENTS)
    pacer.assigned(labels, LABELS)
    pacer.at_end(raw, 0)
    pacer.at_end(labels, 0)
    pacer.refresh()
    assert pacer.admit(raw, EVENTS, "e2", 1_000) is False  # the label of 900 is in the burst too
    assert pacer.admit(labels, LABELS, "l1", 900) is False
    assert [message for _, message in pacer.release()] == ["l1"]
    more.discard("events.labels")
    pacer.at_end(labels, 1)
    assert [message for _, message in pacer.release()] == ["e2"]
