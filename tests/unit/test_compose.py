"""The compose stack's files, checked without any service: docker-compose.yml (with `docker compose
config` when a Docker client with the compose plugin is here, and always against the Compose
Specification's JSON schema), infra/Dockerfile and .dockerignore, the Prometheus scrape config and
the Grafana provisioning and dashboard, whose PromQL must name metrics the code really exports.

tests/data/compose-spec.json is the Compose Specification schema (Apache-2.0,
tests/data/compose-spec.LICENSE) as vendored by check-jsonschema 0.39.0 (PyPI),
sha256 d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from api.prometheus import ApiMetrics
from api.routes.health import router as health_router
from streams.prometheus import StreamMetrics
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "infra" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS = ROOT / "infra" / "prometheus" / "prometheus.yml"
GRAFANA = ROOT / "infra" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "streamwise.json"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"

IMAGE = "streamwise:local"  # the image of infra/Dockerfile, shared by the project's services
ONE_SHOT = {"init"}  # services that run to completion; every other one is long-running
NEW_GAUGES = {"streamwise_consumer_lag", "streamwise_snapshot_timestamp_seconds"}
SCRAPE_JOBS = {"streamwise-worker": ("worker", "streamwise_"), "streamwise-api": ("api", "streamwise_api_")}
DATASOURCE_UID = "prometheus"
KEY_ENV = {"STREAMWISE_SNAPSHOT_KEY": "compose-test-key-0123456789abcdef"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def project_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services running the project's image (worker, API, topic set-up)."""
    return {name: s for name, s in services.items() if s.get("image") == IMAGE}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def published_ports(service: dict[str, Any]) -> set[int]:
    """Container ports a service publishes or exposes."""
    ports = {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in service.get("ports", [])}
    return ports | {int(str(p).split("/")[0]) for p in service.get("expose", [])}


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


# ---------------------------------------------------------------- docker compose config (when present)


def docker_compose() -> list[str] | None:
    """`docker compose` when the Docker CLI and its compose plugin are here (no engine needed)."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=60)
    return [docker, "compose"] if probe.returncode == 0 else None


def run_compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = docker_compose()
    if cmd is None:
        pytest.skip("no `docker compose` here (Docker CLI with the compose plugin); the schema test still runs")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")} | env
    return subprocess.run(
        [*cmd, "--project-directory", str(ROOT), "-f", str(COMPOSE), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=120,
    )


def test_docker_compose_config_validates() -> None:
    result = run_compose("config", "-q", env=KEY_ENV)
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_requires_the_snapshot_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "STREAMWISE_SNAPSHOT_KEY"}
    result = run_compose("--env-file", os.devnull, "config", "-q", env=env | {"STREAMWISE_SNAPSHOT_KEY": ""})
    assert result.returncode != 0
    assert "STREAMWISE_SNAPSHOT_KEY" in result.stderr


# ---------------------------------------------------------------- the Compose Specification schema


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    errors = sorted(Draft202012Validator(schema).iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_schema_catches_a_broken_file(compose: dict[str, Any]) -> None:
    """The vendored schema really constrains services (a typo is an error, not ignored)."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["depends_onn"] = ["kafka"]
    broken["services"]["api"]["healthcheck"]["interval"] = 5
    paths = {tuple(e.absolute_path) for e in Draft202012Validator(json.loads(SCHEMA.read_text())).iter_errors(broken)}
    assert ("services", "worker") in paths
    assert ("services", "api", "healthcheck", "interval") in paths


# ---------------------------------------------------------------- the stack's structure


def test_every_service_has_an_image_and_depends_on_existing_services(services: dict[str, dict[str, Any]]) -> None:
    assert {"kafka", "redis", "init", "worker", "api", "prometheus", "grafana"} <= services.keys()
    for name, service in services.items():
        assert service.get("image"), f"{name}: no image"
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            expected = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            assert rule["condition"] == expected, f"{name} -> {target}"


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        if name in ONE_SHOT:
            assert not check, f"{name} runs to completion: no healthcheck"
            continue
        assert check and check["test"][0] in {"CMD", "CMD-SHELL"}, f"{name}: no healthcheck"
        assert {"interval", "timeout", "retries"} <= check.keys(), name


def test_start_order(services: dict[str, dict[str, Any]]) -> None:
    def deps(name: str) -> set[str]:
        return set(services[name].get("depends_on") or {})

    assert deps("init") == {"kafka"}
    assert deps("worker") == {"kafka", "redis", "init"}
    assert deps("api") == {"redis"}
    assert deps("prometheus") == {"worker", "api"}
    assert deps("grafana") == {"prometheus"}


def test_project_services_share_one_image_and_the_settings(services: dict[str, dict[str, Any]]) -> None:
    ours = project_services(services)
    assert ours.keys() == {"init", "worker", "api"}
    for name, service in ours.items():
        assert service["build"] == {"context": ".", "dockerfile": "infra/Dockerfile"}, name
        env = environment(service)
        assert env["STREAMWISE_KAFKA_BOOTSTRAP"] == "kafka:19092", name
        assert env["STREAMWISE_REDIS_URL"] == "redis://redis:6379/0", name
        assert env["STREAMWISE_SNAPSHOT_KEY"].startswith("${STREAMWISE_SNAPSHOT_KEY:?"), name
        assert env["STREAMWISE_CONFIG"] == "/app/config/models.yaml", name
        assert "./config:/app/config:ro" in service["volumes"], name
    assert (ROOT / "config" / "models.yaml").is_file()


def test_kafka_is_reachable_from_containers_and_from_the_host(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["kafka"])
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised["PLAINTEXT"] == "kafka:19092"  # STREAMWISE_KAFKA_BOOTSTRAP of the containers
    assert advertised["HOST"] == "127.0.0.1:9092"  # the tests and the CLI on the host
    assert "9092" in {str(p).rsplit(":", 1)[-1] for p in services["kafka"]["ports"]}
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["init"]["command"] == ["topics", "create"]


def test_redis_persists_with_an_append_only_file(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    command = services["redis"]["command"]
    assert option(command, "--appendonly") == "yes"
    volume = next(v for v in services["redis"]["volumes"] if v.endswith(":/data"))
    assert volume.split(":")[0] in compose["volumes"]


def test_bind_mounts_exist_in_the_repository(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"


def test_ports_are_strings(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: {port!r} (YAML reads 9092:9092 as a base-60 number)"


def test_healthchecks_probe_the_ports_the_services_listen_on(services: dict[str, dict[str, Any]]) -> None:
    worker, api = services["worker"], services["api"]
    web_port = Settings.model_fields["web_port"].default  # the worker's Faust web server: its /health page
    assert f"127.0.0.1:{web_port}/health" in " ".join(worker["healthcheck"]["test"])
    assert str(web_port) in worker["expose"]
    api_port = option(api["command"], "--port")
    assert option(api["command"], "--host") == "0.0.0.0"  # reachable from Prometheus and the host
    assert f"127.0.0.1:{api_port}/healthz" in " ".join(api["healthcheck"]["test"])
    assert "/healthz" in {route.path for route in health_router.routes}  # type: ignore[attr-defined]


def test_worker_metrics_listen_where_prometheus_scrapes(services: dict[str, dict[str, Any]]) -> None:
    from streams import cli
    from streams.settings import Settings

    assert environment(services["worker"])["STREAMWISE_METRICS_HOST"] == "0.0.0.0"
    assert "metrics_host" in Settings.model_fields
    assert 'addr="127.0.0.1"' not in inspect.getsource(cli.worker)


# ---------------------------------------------------------------- the image


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_installs_the_project_and_runs_its_console_script() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = json.loads(dict(instructions)["ENTRYPOINT"])
    assert entrypoint == ["streamwise"] and entrypoint[0] in scripts
    assert scripts["streamwise"] == "streams.cli:main"  # what `python -m streams` runs too
    assert json.loads(dict(instructions)["CMD"]) == ["worker"]
    installs = [arg for op, arg in instructions if op == "RUN" and "pip install" in arg]
    assert any(re.search(r"pip install (--no-deps )?\.(\s|$)", arg) for arg in installs)
    assert not any(" -e " in arg or "--editable" in arg or "[dev]" in arg for arg in installs)
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in {"root", "0"}
    for op, arg in instructions:
        if op == "COPY":
            sources = [s for s in arg.split() if not s.startswith("--")][:-1]
            assert all((ROOT / s).exists() for s in sources), arg


def test_the_image_has_the_packages_data_files() -> None:
    """A non-editable install carries the Python files only, unless pyproject.toml declares package
    data: every other file the packages ship (the API's static assets) must be declared."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text()).get("tool", {}).get("setuptools", {})
    declared = package_data.get("package-data", {})
    for package in ("online_models", "streams", "api"):
        folders = {
            path.parent.relative_to(ROOT / package).parts[0] if path.parent != ROOT / package else "."
            for path in (ROOT / package).rglob("*")
            if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
        }
        for folder in folders:
            assert declared.get(package), f"{package}/{folder} is not in the image"


def test_compose_commands_are_cli_commands(services: dict[str, dict[str, Any]]) -> None:
    commands = [service["command"] for service in project_services(services).values()]
    commands.append(json.loads(dict(dockerfile_instructions())["CMD"]))
    for command in commands:
        result = subprocess.run(
            [sys.executable, "-m", "streams", *command, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert "Usage:" in result.stdout


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` (relative, with /) out of the build context: the last pattern
    that matches the path or one of its parent folders wins, ``!`` re-includes."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = re.escape(pattern.strip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        return re.compile(out.replace(r"\*", "[^/]*").replace(r"\?", "[^/]").replace(r"\[", "[").replace(r"\]", "]"))

    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if any(regex(pattern.lstrip("!")).fullmatch(p) for p in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_what_the_image_needs_and_nothing_else() -> None:
    lines = DOCKERIGNORE.read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for needed in (
        "pyproject.toml",
        "README.md",
        "online_models/__init__.py",
        "streams/cli/__init__.py",
        "api/main.py",
    ):
        assert not dockerignored(needed, patterns), needed
    assert not dockerignored("config/models.yaml", patterns)
    for junk in (
        ".venv/bin/python",
        ".run/registry/x",
        "reports/faults.md",
        "tests/unit/test_compose.py",
        "t0833d751dc-data/x",
        "streamwise-data/x",
        "streams/__pycache__/cli.cpython-311.pyc",
        ".env",
        ".git/HEAD",
        "infra/kafka/libs/kafka-clients-4.1.1.jar",
    ):
        assert dockerignored(junk, patterns), junk


# ---------------------------------------------------------------- Prometheus and Grafana


def exported_metrics() -> dict[str, set[str]]:
    """Every sample name the worker and the API export -> its label names (counters as _total,
    histograms as _bucket/_sum/_count with le), from the metric objects the code creates."""
    names: dict[str, set[str]] = {}
    for owner in (StreamMetrics(["m"], registry=CollectorRegistry()), ApiMetrics(registry=CollectorRegistry())):
        for metric in vars(owner).values():
            if not isinstance(metric, MetricWrapperBase):
                continue
            name, labels = metric._name, set(metric._labelnames)
            if metric._type == "counter":
                names[f"{name}_total"] = labels
            elif metric._type == "histogram":
                names.update({f"{name}_bucket": labels | {"le"}, f"{name}_sum": labels, f"{name}_count": labels})
            else:
                names[name] = labels
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    queries += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    return queries


def test_dashboard_variables_name_exported_metrics_and_labels() -> None:
    metrics = exported_metrics()
    variables = json.loads(DASHBOARD.read_text())["templating"]["list"]
    for variable in variables:
        # Grafana's label_values(metric, label), not PromQL
        metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"]["query"]).groups()  # type: ignore[union-attr]
        assert label in metrics[metric], variable["name"]


def test_exported_metrics_include_the_new_gauges() -> None:
    metrics = exported_metrics()
    assert metrics.keys() >= NEW_GAUGES, f"missing from StreamMetrics: {sorted(NEW_GAUGES - metrics.keys())}"
    assert metrics["streamwise_consumer_lag"] == {"topic", "partition"}
    assert metrics["streamwise_snapshot_timestamp_seconds"] == {"model"}


def test_dashboard_queries_name_exported_metrics_and_labels() -> None:
    metrics = exported_metrics()
    used: set[str] = set()
    for query in dashboard_queries():
        names = set(re.findall(r"\bstreamwise_[a-z0-9_]+\b", query))
        assert names, f"no streamwise metric in {query!r}"
        assert names <= metrics.keys(), f"{query!r}: unknown {sorted(names - metrics.keys())}"
        used |= names
        labels = set().union(*(metrics[n] for n in names))
        grouped = {g.strip() for group in re.findall(r"\bby \(([^)]*)\)", query) for g in group.split(",")}
        matched = set(re.findall(r"[{,]\s*([a-z_]+)\s*=~?", query))
        assert grouped | matched <= labels, f"{query!r}: labels {sorted((grouped | matched) - labels)}"
    required = {
        "streamwise_events_total",
        "streamwise_prequential_metric",
        "streamwise_drift_alerts_total",
        "streamwise_label_delay_seconds_bucket",
        "streamwise_api_request_seconds_bucket",
        *NEW_GAUGES,
    }
    assert required <= used, f"the dashboard does not show {sorted(required - used)}"


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """Every PromQL expression of the dashboard parses (promtool, when installed, checks them as rules)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    rules = [
        {"record": f"streamwise:check_{i}", "expr": q.replace("$model", ".*")}
        for i, q in enumerate(dashboard_queries())
    ]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_panels_are_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "streamwise"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
        assert panel["targets"] and all(t["datasource"]["uid"] == DATASOURCE_UID for t in panel["targets"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
    drift = [a for a in dashboard["annotations"]["list"] if "streamwise_drift_alerts_total" in a.get("expr", "")]
    assert drift and drift[0]["enable"]


def test_prometheus_scrapes_the_worker_and_the_api(services: dict[str, dict[str, Any]]) -> None:
    config = load_yaml(PROMETHEUS)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs.keys() == SCRAPE_JOBS.keys()
    metrics = exported_metrics()
    ports = {
        "worker": environment(services["worker"])["STREAMWISE_METRICS_PORT"],
        "api": option(services["api"]["command"], "--port"),
    }
    for name, (service, prefix) in SCRAPE_JOBS.items():
        job = jobs[name]
        assert job.get("scrape_interval", config["global"]["scrape_interval"]) == "5s"
        assert job.get("metrics_path", "/metrics") == "/metrics"
        [target] = [t for group in job["static_configs"] for t in group["targets"]]
        assert target == f"{service}:{ports[service]}"
        assert int(ports[service]) in published_ports(services[service])
        assert any(m.startswith(prefix) for m in metrics)  # the job has metrics to scrape
    assert "/metrics" in {route.path for route in health_router.routes}  # type: ignore[attr-defined]
    mount = f"./{PROMETHEUS.relative_to(ROOT)}:/etc/prometheus/prometheus.yml:ro"
    assert mount in services["prometheus"]["volumes"]


def test_prometheus_config_passes_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    result = subprocess.run([promtool, "check", "config", str(PROMETHEUS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisions_the_datasource_and_the_dashboard(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    assert mounts["./infra/grafana/provisioning"] == "/etc/grafana/provisioning"
    [datasource] = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["uid"] == DATASOURCE_UID and datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    [provider] = load_yaml(GRAFANA / "provisioning" / "dashboards" / "streamwise.yml")["providers"]
    dashboards_in_container = mounts["./infra/grafana/dashboards"]
    assert provider["options"]["path"] == dashboards_in_container
    env = environment(grafana)
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_in_container}/{DASHBOARD.name}"
    assert "3000" in {str(p).rsplit(":", 1)[-1] for p in grafana["ports"]}
