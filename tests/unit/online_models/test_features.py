import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from online_models.config import parse_config
from online_models.exceptions import ConfigError, InvalidEventError
from online_models.features import FeatureEngineer, Features, FeatureSpec
from tests.support.windows import Event, expected, mismatch, random_stream


def engineer(**spec) -> FeatureEngineer:
    return FeatureEngineer(FeatureSpec.model_validate(spec))


def test_identity_spec_passes_features_through() -> None:
    x = {"a": 1}
    assert engineer().transform(x, None) == (x, None)


def test_transforms_and_drop_leave_the_input_unchanged() -> None:
    fe = engineer(transforms=[{"name": "a_sq", "op": "square", "source": "a"}], drop=["a"])
    x = {"a": 3, "b": "s"}
    out, _ = fe.transform(x, None)
    assert out == {"a_sq": 9, "b": "s"}
    assert x == {"a": 3, "b": "s"}


def test_per_key_aggregates_include_the_current_event() -> None:
    fe = engineer(aggregates=[{"source": "v", "stats": ["count", "mean", "min", "max", "sum"]}])
    state = None
    for v in (2.0, 4.0, 9.0):
        x, state = fe.transform({"v": v}, state)
    assert x == {
        "v": 9.0,
        "v_count_by_key": 3,
        "v_mean_by_key": 5.0,
        "v_min_by_key": 2.0,
        "v_max_by_key": 9.0,
        "v_sum_by_key": 15.0,
    }


def test_events_without_a_key_get_no_aggregates() -> None:
    fe = engineer(aggregates=[{"source": "v", "stats": ["count"]}])
    assert fe.transform({"v": 1.0}, None, keyed=False) == ({"v": 1.0}, None)


@pytest.mark.parametrize(("value", "reason"), [("text", "non_numeric_feature"), (-5.0, "transform_failed")])
def test_bad_transform_inputs_raise_invalid_event(value: object, reason: str) -> None:
    fe = engineer(transforms=[{"name": "l", "op": "log1p", "source": "a"}])
    with pytest.raises(InvalidEventError) as info:
        fe.transform({"a": value}, None)
    assert info.value.reason == reason


# -- windows over event time and seconds since the previous event --------------------------------

WINDOWS = {
    "windows": [
        {"source": "v", "seconds": 5, "stats": ["count", "sum", "mean", "min", "max", "var"]},
        {"source": "v", "seconds": 2.5, "stats": ["count", "mean", "var"]},
        {"source": "w", "seconds": 60, "stats": ["count", "sum", "min", "max"]},
    ],
    "since_previous": True,
}


def run(fe: FeatureEngineer, events: list[Event], states: dict | None = None) -> list[Features]:
    states = {} if states is None else states
    outputs = []
    for key, ts, features in events:
        x, state = fe.transform(features, states.get(key), keyed=key is not None, ts_ms=ts)
        if key is not None:
            states[key] = state
        outputs.append(x)
    return outputs


def test_windows_match_a_brute_force_computation_on_a_random_stream() -> None:
    spec = FeatureSpec.model_validate(WINDOWS)
    events = random_stream(seed=3, n=3000)
    outputs = run(FeatureEngineer(spec), events)
    for i, (x, want) in enumerate(zip(outputs, expected(spec, events), strict=True)):
        assert mismatch(spec, x, want) is None, f"event {i} {events[i]}: {mismatch(spec, x, want)}"
    since = [float(x["seconds_since_previous"]) for x in outputs if "seconds_since_previous" in x]
    # The stream did hold late events inside the windows and past them, and equal times of a key.
    assert sum(-5 < s < 0 for s in since) > 50 and sum(s <= -60 for s in since) > 50 and since.count(0) > 50


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.integers(-6, 4),  # seconds from the previous event: often back, often the same
            st.one_of(st.none(), st.integers(-3, 3).map(float), st.floats(-1e3, 1e3)),
        ),
        max_size=40,
    )
)
def test_windows_match_a_brute_force_computation_on_any_stream(steps: list[tuple[str, int, float | None]]) -> None:
    spec = FeatureSpec.model_validate(WINDOWS)
    now, events = 10**12, list[Event]()
    for key, step, value in steps:
        now += step * 1000  # whole seconds: events land on the windows' edges
        features: Features = {"u": 1} if value is None else {"v": value, "w": value}
        events.append((key, now, features))
    outputs = run(FeatureEngineer(spec), events)
    for x, want in zip(outputs, expected(spec, events), strict=True):
        assert mismatch(spec, x, want) is None


def test_a_pickled_state_goes_on_exactly_as_one_never_pickled() -> None:
    fe = FeatureEngineer(FeatureSpec.model_validate(WINDOWS))
    events = random_stream(seed=5, n=2000)
    straight = run(fe, events)
    states: dict = {}
    resumed = run(fe, events[:700], states)
    for cut in (700, 1400):  # twice, so a restored state is pickled again
        states = pickle.loads(pickle.dumps(states, protocol=pickle.HIGHEST_PROTOCOL))
        resumed += run(fe, events[cut : cut + 700], states)
    resumed += run(fe, events[2100:], states)
    assert resumed == straight  # floats equal to the last bit, not close


def test_a_window_holds_the_events_of_its_last_seconds_and_its_memory_stays_bounded() -> None:
    fe = engineer(windows=[{"source": "v", "seconds": 10, "stats": ["count", "max"]}])
    state = None
    sizes = []
    for i in range(3000):
        x, state = fe.transform({"v": float(i % 100)}, state, ts_ms=i * 1000)
        sizes.append(len(pickle.dumps(state)))
    assert x == {"v": 99.0, "v_count_10s": 10, "v_max_10s": 99.0}  # 2990..2999 s: 90..99
    assert max(sizes[1000:]) == min(sizes[1000:])  # expired events are dropped: the state stops growing


def test_var_of_one_value_is_zero_and_names_drop_a_whole_seconds_dot_zero() -> None:
    fe = engineer(
        windows=[
            {"source": "v", "seconds": 600.0, "stats": ["var", "mean"]},
            {"source": "v", "seconds": 0.5, "stats": ["count"]},
        ]
    )
    x, _ = fe.transform({"v": 7}, None, ts_ms=0)
    assert x == {"v": 7, "v_var_600s": 0.0, "v_mean_600s": 7.0, "v_count_0.5s": 1}


def test_an_event_without_the_source_gets_the_window_as_of_its_own_time() -> None:
    fe = engineer(windows=[{"source": "v", "seconds": 5, "stats": ["count", "sum"]}], since_previous=True)
    _, state = fe.transform({"v": 2.0}, None, ts_ms=0)
    x, state = fe.transform({"u": 1}, state, ts_ms=3000)
    assert x == {"u": 1, "seconds_since_previous": 3.0, "v_count_5s": 1, "v_sum_5s": 2.0}
    x, state = fe.transform({"u": 1}, state, ts_ms=5000)  # the value at 0 s is out of (0 s, 5 s]
    assert x == {"u": 1, "seconds_since_previous": 2.0}


def test_late_events_count_inside_the_window_and_not_past_it() -> None:
    fe = engineer(windows=[{"source": "v", "seconds": 10, "stats": ["count", "min"]}], since_previous=True)
    _, state = fe.transform({"v": 5.0}, None, ts_ms=20_000)
    x, state = fe.transform({"v": 1.0}, state, ts_ms=15_000)  # 5 s late: inside (10 s, 20 s]
    assert x == {"v": 1.0, "seconds_since_previous": -5.0, "v_count_10s": 2, "v_min_10s": 1.0}
    x, state = fe.transform({"v": 0.0}, state, ts_ms=10_000)  # 10 s late: on the edge, outside
    assert x == {"v": 0.0, "seconds_since_previous": -10.0, "v_count_10s": 2, "v_min_10s": 1.0}
    x, state = fe.transform({"v": 9.0}, state, ts_ms=24_000)
    assert x == {"v": 9.0, "seconds_since_previous": 4.0, "v_count_10s": 3, "v_min_10s": 1.0}


def test_a_bad_event_leaves_the_windows_as_they_were() -> None:
    spec = {"aggregates": [{"source": "w", "stats": ["count"]}], **WINDOWS}
    fe = engineer(**spec)
    events = random_stream(seed=8, n=300, keys=1)
    states: dict = {}
    run(fe, events[:150], states)
    before = pickle.dumps(states)
    bad_events: list[Features] = [{"v": "text", "w": 1}, {"v": 1.0, "w": True}, {"v": 1.0, "w": "x"}]
    for bad in bad_events:
        with pytest.raises(InvalidEventError) as info:
            fe.transform(bad, states["k0"], ts_ms=events[150][1])
        assert info.value.reason == "non_numeric_feature"
    assert pickle.dumps(states) == before
    assert run(fe, events[150:], states) == run(fe, events)[150:]


def test_events_without_a_key_get_no_windows_and_the_api_needs_no_time() -> None:
    fe = engineer(**WINDOWS)
    assert fe.transform({"v": 1.0}, None, keyed=False) == ({"v": 1.0}, None)
    with pytest.raises(ValueError, match="ts_ms"):
        fe.transform({"v": 1.0}, None)


def test_windows_and_since_previous_make_a_spec_stateful() -> None:
    for spec in ({"since_previous": True}, {"windows": WINDOWS["windows"]}):
        assert not FeatureSpec.model_validate(spec).is_identity
        assert engineer(**spec).is_stateful
    assert not engineer(since_previous=False).is_stateful


@pytest.mark.parametrize(
    ("windows", "field"),
    [
        ([{"source": "v", "seconds": 0, "stats": ["count"]}], "features.windows[0].seconds"),
        ([{"source": "v", "seconds": -1, "stats": ["count"]}], "features.windows[0].seconds"),
        ([{"source": "v", "seconds": 10, "stats": []}], "features.windows[0].stats"),
        ([{"source": "v", "seconds": 10, "stats": ["median"]}], "features.windows[0].stats[0]"),
        ([{"source": "v", "seconds": 10, "stats": ["count"], "step": 1}], "features.windows[0].step"),
        ([{"seconds": 10, "stats": ["count"]}], "features.windows[0].source"),
        (
            [{"source": "v", "seconds": 10, "stats": ["count"]}, {"source": "v", "seconds": 10.0, "stats": ["sum"]}],
            "features.windows[1]",
        ),
    ],
)
def test_window_config_errors_name_the_field(windows: list[dict], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            {"models": [{"name": "m", "recipe": "naive_bayes", "task": "binary"}], "features": {"windows": windows}}
        )
    assert info.value.field == field
