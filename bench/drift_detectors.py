"""False drift actions on stationary imbalanced streams, and the detection delay on the demo stream.

    python bench/drift_detectors.py [--n 20000] [--label-delay 100] [--seed 42] [--only shipped ddm] [--min-labeled 0]

Setups: the shipped config's models (config/models.yaml, with their drift specs), then each River
detector with its default parameters on the same models, with the background policy and
``min_labeled`` 0 (or ``--min-labeled``), so that every detection acts. Streams, through the
embedded runner (the real policy code), alerts never merged (cool-down 0):

- agrawal_1pct, agrawal_5pct, agrawal_50pct: Agrawal function 0 with 1, 5 and 50 % positives and
  no change at all, so every reset or background_swap is false. A cell is "replacements (alerts)":
  resets and swaps, and concept alerts (warnings and drifts, acted on or not).
- agrawal_drift: function 0, then function 4 from event n/2 on. Delay = events from the switch to
  the first concept_drift at or after it; "before" = concept_drift alerts before the switch.

About 2 minutes per setup on one core (n=20,000).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson

from online_models.alerts import Alert
from online_models.config import DriftSpec, StreamwiseConfig, load_config
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from online_models.drift import BINARY_DETECTORS
from online_models.pipeline import EmbeddedRunner, Pipeline

CONFIG = Path(__file__).resolve().parents[1] / "config" / "models.yaml"
STATIONARY = ("agrawal_1pct", "agrawal_5pct", "agrawal_50pct")
REPLACEMENTS = ("reset", "background_swap")


def setups(shipped: StreamwiseConfig, min_labeled: int) -> dict[str, StreamwiseConfig]:
    """Return the setups by name: the shipped config, then one per detector.

    A detector's setup has the shipped models that have a drift spec, each with that detector at its
    default parameters, the background policy and ``min_labeled``, so that every drift is acted on.
    Every setup has data drift off and an alert cool-down of 0 events.
    """
    # Data drift never acts and costs time; a cool-down would hide repeated detections.
    alerts = shipped.alerts.model_copy(update={"cooldown_events": 0})
    base = shipped.model_copy(update={"data_drift": None, "alerts": alerts})
    found = {"shipped": base}
    for detector in BINARY_DETECTORS:
        drift = DriftSpec(detector=detector, policy="background", min_labeled=min_labeled)
        models = [m.model_copy(update={"drift": drift}) for m in base.models if m.drift]
        found[detector] = base.model_copy(update={"models": models})
    return found


def alerts_on(config: StreamwiseConfig, stream: str, n: int, label_delay: int, seed: int) -> list[tuple[int, Alert]]:
    """Return every model alert on ``stream``, with the index of the event it is about.

    The ``n`` events of ``stream`` (``seed``) and their labels, each ``label_delay`` events late, go
    through the embedded runner of ``config``.
    """
    runner = EmbeddedRunner(Pipeline(config))
    index = {e["event_id"]: i for i, e in enumerate(synthetic_events(stream, n, seed))}
    found = []
    for kind, message in with_delayed_labels(synthetic_events(stream, n, seed), label_delay):
        data = orjson.dumps(message)
        result = runner.process(data) if kind == EVENT else runner.process_label(data)
        found += [(index[a.event_id], a) for a in result.alerts if a.model is not None]
    return found


def stationary_cell(alerts: list[tuple[int, Alert]]) -> str:
    """Return the cell of a stationary stream: "replacements (alerts)", resets and swaps, and all alerts."""
    replaced = sum(a.action in REPLACEMENTS for _, a in alerts)
    return f"{replaced} ({len(alerts)})"


def drift_cells(alerts: list[tuple[int, Alert]], switch: int) -> tuple[int, int | None]:
    """Return the concept drifts before ``switch``, and the delay of the first one at or after it.

    The delay is in events from the switch (None when no concept drift came at or after it).
    """
    drifts = [i for i, a in alerts if a.kind == "concept_drift"]
    after = [i - switch for i in drifts if i >= switch]
    return len(drifts) - len(after), (after[0] if after else None)


def table(name: str, config: StreamwiseConfig, args: argparse.Namespace) -> None:
    """Run setup ``name`` on the four streams, and print a row per model with a drift spec."""
    streams = (*STATIONARY, "agrawal_drift")
    runs = {stream: alerts_on(config, stream, args.n, args.label_delay, args.seed) for stream in streams}
    for spec in config.models:
        if spec.drift is None:
            continue
        mine = {stream: [(i, a) for i, a in found if a.model == spec.name] for stream, found in runs.items()}
        cells = [stationary_cell(mine[stream]) for stream in STATIONARY]
        before, delay = drift_cells(mine["agrawal_drift"], args.n // 2)
        drift = f"{spec.drift.detector} {spec.drift.policy} {spec.drift.min_labeled}"
        print(f"{name:<9}{spec.name:<6}{drift:<25}" + "".join(f"{c:>10}" for c in cells) + f"{before:>8}{delay!s:>7}")


def main() -> None:
    """Print the table of every setup (or those of ``--only``), with the arguments of the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--label-delay", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", nargs="*", help="setups to run: shipped and/or detector names")
    parser.add_argument("--min-labeled", type=int, default=0, help="min_labeled of the detector setups")
    args = parser.parse_args()
    print(f"n={args.n}, labels {args.label_delay} events late, switch at {args.n // 2}, seed {args.seed}")
    levels = "".join(f"{level:>10}" for level in ("1%", "5%", "50%"))
    print(f"{'setup':<9}{'model':<6}{'drift (min_labeled)':<25}{levels}{'before':>8}{'delay':>7}")
    for name, config in setups(load_config(CONFIG), args.min_labeled).items():
        if not args.only or name in args.only:
            table(name, config, args)


if __name__ == "__main__":
    main()
