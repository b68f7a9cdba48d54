"""Errors raised by the ML core: one root, small named subclasses."""

from __future__ import annotations


class StreamwiseError(Exception):
    """Root of every error Streamwise raises on purpose.

    Examples
    --------
    >>> try:
    ...     raise ModelError("nb", "learn", ZeroDivisionError("float division by zero"))
    ... except StreamwiseError as error:
    ...     print(type(error).__name__, error.model)
    ModelError nb
    """


class ConfigError(StreamwiseError, ValueError):
    """A configuration value is invalid; the message names the field (``models[0].recipe``).

    A ValueError too, so that pydantic validators can raise it and keep its field.

    Examples
    --------
    >>> error = ConfigError("models[0].recipe", "unknown recipe 'nope'")
    >>> str(error)
    "models[0].recipe: unknown recipe 'nope'"
    >>> error.field, isinstance(error, ValueError)
    ('models[0].recipe', True)
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidEventError(StreamwiseError):
    """A message failed validation.

    ``reason`` is a short stable code used as a metric label; ``event_id`` is the message's event id
    when it could be read (its dead letter carries it).

    Examples
    --------
    >>> error = InvalidEventError("invalid_ts", "not a time", event_id="e1")
    >>> error.reason, error.event_id, str(error)
    ('invalid_ts', 'e1', 'invalid_ts: not a time')
    """

    def __init__(self, reason: str, detail: str, event_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.event_id = event_id
        self.feature: str | None = None  # the feature a bad value cost, when it cost one and not the event


class ModelError(StreamwiseError):
    """A model raised while predicting or learning one event (a poison message).

    Examples
    --------
    >>> error = ModelError("nb", "predict", KeyError("x"))
    >>> str(error)
    "model 'nb' failed to predict: KeyError: 'x'"
    >>> error.stage, type(error.cause).__name__
    ('predict', 'KeyError')
    """

    def __init__(self, model: str, stage: str, cause: BaseException) -> None:
        super().__init__(f"model {model!r} failed to {stage}: {type(cause).__name__}: {cause}")
        self.model = model
        self.stage = stage
        self.cause = cause
