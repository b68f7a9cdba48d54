"""``streamwise status`` on a terminal: one table per section, rich's colours for the states."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from streams.cli.status.report import Report, Section, age_of, format_failures, format_metrics, format_versions

_STATE_STYLE = {"running": "green", "external": "cyan", "not answering": "yellow", "stopped": "red"}


def render(report: Report, console: Console, now: datetime) -> None:
    """Print ``report`` on ``console``: one table per section, ages counted up to ``now``."""
    table = Table("process", "state", "pid", "address", "log", title="Local stack")
    for p in report.processes:
        style = _STATE_STYLE.get(p.state, "")
        table.add_row(p.name, f"[{style}]{p.state}[/]", str(p.pid or "-"), p.address, p.log)
    console.print(table)
    _render_section(console, f"Consumer lag (group {report.group})", report.lag, _lag_table)
    _render_section(console, "Models (registry)", report.models, _models_table)
    _render_section(console, "Live model status", report.live, lambda rows: _live_table(rows, now))
    _render_section(console, "Partitions: dead letters and waiting labels", report.parts, _parts_table)
    _render_section(console, "Last drift alerts", report.alerts, _alerts_table)


def _render_section(console: Console, title: str, section: Section, table: Any) -> None:
    if section.error is not None:
        console.print(f"[bold]{title}:[/] [red]{section.error}[/]")
        return
    if not section.rows:
        console.print(f"[bold]{title}:[/] none")
    else:
        console.print(table(section.rows))
    if section.note:
        console.print(f"[yellow]{section.note}[/]")


def _lag_table(rows: list[dict[str, Any]]) -> Table:
    total = sum(r["lag"] for r in rows)
    table = Table(
        "topic",
        "partition",
        "committed",
        "high watermark",
        "lag",
        title=f"Consumer lag: {total} in all",
        caption="committed offsets; the learn agent commits features only up to its last checkpoint",
    )
    for r in rows:
        committed = "-" if r["committed"] is None else str(r["committed"])
        table.add_row(r["topic"], str(r["partition"]), committed, str(r["high"]), str(r["lag"]))
    return table


def _models_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("model", "champion", "candidate", "pinned", "versions kept", "newest", "reason", title="Models")
    for r in rows:
        champion = "-" if r["champion"] is None else f"v{r['champion']}"
        newest = "-" if r["newest"] is None else f"v{r['newest']} {r['newest_at']}"
        row = (r["model"], champion, r["candidate"] or "-", "yes" if r["pinned"] else "no")
        table.add_row(*row, format_versions(r["versions"]), newest, r["newest_reason"] or "-")
    return table


def _live_table(rows: list[dict[str, Any]], now: datetime) -> Table:
    columns = ("model", "partition", "generation", "events", "labeled", "metrics", "failed", "updated")
    table = Table(*columns, title="Live status")
    for r in rows:
        counts = (r.get("partition"), r.get("generation"), r.get("events"), r.get("labeled"))
        failures = r.get("failures") or {}
        table.add_row(
            str(r.get("model")),
            *map(str, counts),
            format_metrics(r.get("metrics") or {}) or "n/a (nothing scored)",
            format_failures(failures),
            f"{age_of(r.get('updated_at'), now)} ago",
            style="red" if failures else None,  # a model that cannot take some events stands out
        )
    return table


def _parts_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("part", "dead letters by reason", "features left out (bad values)", "predictions waiting for a label",
                  "labels waiting for their event", title="Partitions")  # fmt: skip
    for r in rows:
        letters = r.get("dead_letters") or {}
        dropped = r.get("dropped_features") or {}  # the event went on without them
        waiting = (r.get("waiting_predictions"), r.get("waiting_labels"))
        table.add_row(
            r["part"],
            "  ".join(f"{reason} {n}" for reason, n in sorted(letters.items())) or "-",
            "  ".join(f"{kind} {n}" for kind, n in sorted(dropped.items())) or "-",
            *("-" if n is None else str(n) for n in waiting),
            style="red" if letters else None,
        )
    return table


def _alerts_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("ts", "kind", "model / feature", "detector", "action", "event", title=f"Last {len(rows)} alerts")
    for a in rows:
        where = a.get("model") or f"feature {a.get('feature')}"
        table.add_row(
            str(a.get("ts")),
            str(a.get("kind")),
            where,
            str(a.get("detector")),
            a.get("action") or "",
            str(a.get("event_id")),
        )
    return table
