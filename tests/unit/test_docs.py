"""The README's and docs' examples run as printed: every configuration parses and each of its models
learns the documented example event, and events like it, with no dead letter; every `streamwise`
command line names a command that exists, with options it has, and those that need no services run
as printed (.ci/walkthrough runs the README's first hour, which needs them)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.main import get_command

from online_models.config import parse_config
from online_models.pipeline import EmbeddedRunner, Pipeline
from streams.cli import app

ROOT = Path(__file__).resolve().parents[2]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PAGES = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in FILES}
TEXT = "\n".join(PAGES.values())
BLOCKS = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", TEXT, flags=re.S)]
CONFIGS = [b for b in BLOCKS if isinstance(b, dict) and "models" in b]
EVENT = orjson.loads(re.search(r"```json\n(\{\"event_id\": \"e-1\", \"ts\".*?)```", TEXT, flags=re.S)[1])
COMMANDS = [
    (page, command.strip())
    for page, text in PAGES.items()
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    for line in block.splitlines()
    for command in line.split("#")[0].split("&&")
    if re.match(r"\s*(\.venv/bin/)?streamwise ", command)
]


def events_like_the_example(n: int) -> list[dict[str, Any]]:
    """The example event, then events of the same shape: other amounts, countries, keys, labels."""
    countries = ("FR", "DE", "GB")
    return [EVENT] + [
        {**EVENT, "event_id": f"e-{i}", "key": f"user-{i % 5}", "ts": 1_767_225_600_000 + 1000 * i,
         "features": {"amount": 10.0 + i % 17, "country": countries[i % 3], "new": i % 4 == 0}, "label": i % 3 == 0}
        for i in range(2, n)
    ]  # fmt: skip


def test_the_docs_have_configuration_examples_and_commands() -> None:
    assert len(CONFIGS) >= 3 and EVENT["features"] == {"amount": 12.5, "country": "FR", "new": True}
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_every_model_of_a_documented_config_learns_the_example_events(index: int) -> None:
    config = parse_config(CONFIGS[index])
    runner = EmbeddedRunner(Pipeline(config))
    letters = [d for e in events_like_the_example(300) for d in runner.process(orjson.dumps(e)).dead_letters]
    assert letters == []
    for model in runner.learner.models:
        assert (model.labeled, model.failures) == (299, {}), model.name
    for window in config.features.windows:  # the documented features are there, for each key
        assert all(window.feature(s) in runner.features.vectors[f"user-{k}"] for s in window.stats for k in range(5))


@pytest.mark.parametrize(("page", "line"), COMMANDS, ids=[f"{p}: {c[:60]}" for p, c in COMMANDS])
def test_every_documented_command_exists_with_its_options(page: str, line: str) -> None:
    words = shlex.split(line.replace("[", " ").replace("]", " "))[1:]
    command: Any = get_command(app)
    for word in words:  # the command path: words up to the first option or argument
        if word not in getattr(command, "commands", {}):
            break
        command = command.commands[word]
    assert not hasattr(command, "commands"), f"{page}: {line!r} names no command"
    if "|" in words:  # a synopsis of several subcommands: their options are not all this one's
        return
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    given = {w.split("=")[0] for w in words if w.startswith("--")}
    assert given <= known, f"{page}: {line!r}: {sorted(given - known)} not options of {command.name}"


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()).replace(" ", "-")


def test_every_link_between_the_pages_resolves() -> None:
    anchors = {f.resolve(): {_anchor(h) for h in re.findall(r"^#{1,6} .*$", f.read_text(), flags=re.M)} for f in FILES}
    broken = []
    for page in FILES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            path, _, anchor = target.partition("#")
            if target.startswith("http"):
                continue
            resolved = (page.parent / path).resolve() if path else page.resolve()
            if not resolved.exists() or (anchor and anchor not in anchors.get(resolved, set())):
                broken.append(f"{page.name}: {target}")
    assert broken == []


# The documented commands that need no services, run as printed (the others run in .ci/walkthrough).
OFFLINE = [(page, line) for page, line in COMMANDS if line.split()[1] == "evaluate"]


@pytest.mark.parametrize(("page", "line"), OFFLINE, ids=[c[:60] for _, c in OFFLINE])
def test_every_documented_command_without_services_runs_as_printed(page: str, line: str, tmp_path: Path) -> None:
    # The files it names, in a folder of its own: the example events and the shipped config.
    events = events_like_the_example(300)
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in events))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "models.yaml").write_text((ROOT / "config" / "models.yaml").read_text())
    words = shlex.split(line)
    done = subprocess.run(
        [sys.executable, "-m", "streams", *words[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{page}: {line!r}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    report = orjson.loads((tmp_path / "report.json").read_bytes())
    assert (report["events"], report["dead_letters"]) == (len(events), {}), report
    assert report["models"] and all(m["labeled"] == len(events) for m in report["models"].values()), report["models"]
