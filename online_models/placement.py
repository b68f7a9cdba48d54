"""Where each model learns: one model name, one learner, every event.

A River model learns one event at a time in one order, and neither its trees nor its SGD weights
can be merged, so a model name must be one learner that sees the whole stream. Each registry name
(a champion with its challengers: the promotion judge compares them on the same events) is placed
on one partition of the learn log, round robin in config order, and every vector and label is
written to each partition that hosts a model. Partitions and workers spread the models, not the
data; the first hosting partition also reports what belongs to no model (a label's own dead
letters, its delay, data drift), so that each is said once.

>>> from online_models.config import parse_config
>>> config = parse_config({"models": [
...     {"name": "lr", "recipe": "logistic_regression", "task": "binary"},
...     {"name": "ht", "recipe": "hoeffding_tree", "task": "binary"},
...     {"name": "ht2", "recipe": "hoeffding_tree", "task": "binary", "challenger_of": "ht"},
... ]})
>>> placement = Placement(config, partitions=4)
>>> placement.home, placement.hosts, placement.primary
({'lr': 0, 'ht': 1}, [0, 1], 0)
>>> [spec.name for spec in placement.models_of(1)], placement.models_of(3)
(['ht', 'ht2'], [])
>>> Placement(config, partitions=1).hosts   # one partition: every model on it
[0]
"""

from __future__ import annotations

from online_models.config import ModelSpec, StreamwiseConfig


class Placement:
    """The learn-log partition of each registry name, for a learn log of ``partitions`` partitions.

    Parameters
    ----------
    config
        The models, placed in their order.
    partitions
        How many partitions the learn log has.
    """

    def __init__(self, config: StreamwiseConfig, partitions: int = 1) -> None:
        self.config = config
        self.partitions = partitions
        slots = list(dict.fromkeys(spec.slot for spec in config.models))
        self.home = {slot: i % partitions for i, slot in enumerate(slots)}
        self.hosts = sorted(set(self.home.values()))  # the partitions every vector and label is written to
        self.primary = self.hosts[0] if self.hosts else 0

    def models_of(self, partition: int) -> list[ModelSpec]:
        """Return the models that learn on ``partition``, in config order."""
        return [spec for spec in self.config.models if self.home[spec.slot] == partition]
