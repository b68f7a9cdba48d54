"""The engine: the one data path (see :mod:`streams.engine.engine`)."""

from streams.engine.engine import Engine

__all__ = ["Engine"]
