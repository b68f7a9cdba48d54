"""Imports run one way, as the README's code map draws them: every import of every module is read
(``ast``, imports inside functions too) and checked against the layers. And a test module that
needs a service carries its marker.

``NOT_MOVED`` lists the imports that still cross a layer, each waiting for its move (issue "A
codebase a newcomer can live in"). It may only shrink: a new crossing fails, and so does a listed
one that is gone (take it off the list).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("online_models", "streams", "api", "bench")
ML_FREE = ("confluent_kafka", "faust", "mode", "fastapi", "starlette", "uvicorn")  # never in the core

NOT_MOVED: set[tuple[str, str]] = set()  # (module path, import): none left


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, absolute (the packages use no relative imports); for
    ``from streams.kafka import topics``, the module ``streams.kafka.topics``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield submodule if _is_module(submodule) else node.module


def crosses(module: str, imported: str) -> str | None:
    """Why importing ``imported`` from ``module`` (both dotted) crosses a layer, or None."""
    top = imported.split(".")[0]
    if module.startswith("online_models."):
        if top in ("streams", "api", "bench", "tests") or top in ML_FREE:
            return "the core imports nothing above it, nor Kafka, Faust or FastAPI"
        if top == "redis" and not module.startswith("online_models.storage."):
            return "only online_models.storage talks to Redis"
    if module.startswith("api.") and top == "streams" and imported != "streams.settings":
        return "api imports online_models and streams.settings, nothing else of streams"
    if module.startswith("streams.") and top == "api" and not module.startswith(("streams.cli.", "streams.demo.")):
        return "only streams.cli and streams.demo compose the api"
    if top == "tests":
        return "the packages and bench/ import no tests"
    return None


def crossings() -> dict[tuple[str, str], str]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
            for imported in imports(path):
                why = crosses(name, imported)
                if why is not None:
                    found[(path.relative_to(ROOT).as_posix(), imported)] = why
    return found


def test_the_rules_catch_each_kind_of_crossing() -> None:
    assert crosses("online_models.learner", "confluent_kafka")
    assert crosses("online_models.learner", "streams.settings")
    assert crosses("online_models.status", "redis.asyncio")
    assert crosses("online_models.storage.redis_registry", "redis.asyncio") is None
    assert crosses("api.main", "streams.engine.engine")
    assert crosses("api.settings", "streams.settings") is None
    assert crosses("streams.engine.engine", "api.main")
    assert crosses("streams.demo.app", "api.main") is None
    assert crosses("streams.cli.serve", "api.main") is None
    assert crosses("bench.e2e", "tests.support.references")


def test_imports_run_one_way() -> None:
    found = crossings()
    new = {
        f"{path} imports {imported}: {why}"
        for (path, imported), why in found.items()
        if (path, imported) not in NOT_MOVED
    }
    assert not new, "\n".join(sorted(new))
    moved = NOT_MOVED - found.keys()
    assert not moved, f"moved: take {sorted(moved)} off NOT_MOVED"


# The fixtures that reach a service, and the marker a test module using one carries (stream_env
# needs both: its workers use Kafka and Redis).
SERVICE_FIXTURES = {
    "kafka_bootstrap": {"kafka"},
    "redis_url": {"redis"},
    "stream_env": {"kafka", "redis"},
    "api": {"redis"},
    "configured_api": {"redis"},
}


def _fixtures_used(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.update(arg.arg for arg in node.args.args)
    return names & SERVICE_FIXTURES.keys()


def _markers(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            return {n.attr for n in ast.walk(node.value) if isinstance(n, ast.Attribute) and n.attr != "mark"}
    return set()


def test_tests_that_need_a_service_carry_its_marker() -> None:
    missing = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        needed = set().union(set(), *(SERVICE_FIXTURES[f] for f in _fixtures_used(tree)))
        if needed - _markers(tree):
            missing[path.relative_to(ROOT).as_posix()] = sorted(needed - _markers(tree))
    assert missing == {}
