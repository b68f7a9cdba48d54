import pytest

from online_models.exceptions import InvalidEventError
from online_models.features import FeatureEngineer, FeatureSpec


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
