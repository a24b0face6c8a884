"""The deployment files, checked without a Docker engine (there is none on the development machines).

docker-compose.yml is parsed as Compose reads it (anchors and merge keys included) and checked for
the services the platform needs, pinned images, declared volumes, and settings that agree with
each other, with .env.example and with the Dockerfile.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def example_env() -> dict[str, str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_every_part_of_the_deployment_is_a_service(services):
    assert set(AIRFLOW_SERVICES) | {"airflow-init", "airflow-db", "redis", "warehouse-db", "object-store"} <= set(
        services
    )
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"] == command, name
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name


def test_airflow_services_share_one_image_and_one_configuration(services):
    airflow = {name: services[name] for name in [*AIRFLOW_SERVICES, "airflow-init"]}
    assert {s["image"] for s in airflow.values()} == {"cdp-airflow:latest"}
    assert all(s["build"] == "." for s in airflow.values())
    environments = [s["environment"] for s in airflow.values()]
    assert all(env == environments[0] for env in environments)


def test_images_are_pinned_and_built_image_comes_from_the_dockerfile(services):
    for name, service in services.items():
        image = service["image"]
        if "build" in service:
            assert (REPO / service["build"] / "Dockerfile").is_file(), name
        else:
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"


def test_metadata_broker_and_warehouse_are_separate_and_wired(services):
    env = services["airflow-scheduler"]["environment"]
    assert "@airflow-db:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "@airflow-db:5432/" in env["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert "@warehouse-db:5432/" in env["AIRFLOW_CONN_WAREHOUSE"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")
    assert env["AWS_ENDPOINT_URL"].startswith("http://object-store:9000")
    assert env["CDP_LANDING_URI"].startswith("s3://") and env["CDP_EXPORTS_URI"].startswith("s3://")
    assert services["airflow-db"]["image"] != services["redis"]["image"]
    assert services["airflow-db"]["volumes"] != services["warehouse-db"]["volumes"]


def test_every_dependency_is_a_service_and_waits_for_its_health(services):
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck for {name}"
            else:
                assert condition == "service_completed_successfully", (name, dependency)
                assert services[dependency].get("restart") == "no", dependency


def test_volumes_are_declared_and_used(compose, services):
    used = {
        volume.split(":")[0] for service in services.values() for volume in service.get("volumes", []) if ":" in volume
    }
    named = {v for v in used if not v.startswith((".", "/"))}
    assert named == set(compose["volumes"])


def test_published_ports_do_not_collide(services):
    ports = [p.split(":")[0] for service in services.values() for p in service.get("ports", [])]
    assert len(ports) == len(set(ports))


def test_every_variable_is_in_the_env_example_and_no_secret_is_inline():
    text = (REPO / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)(?::?-[^}]*)?\}", text))
    example = example_env()
    assert used, "the compose file takes its secrets from .env"
    assert used <= set(example), f"missing in .env.example: {sorted(used - set(example))}"
    assert set(example) <= used, f"unused in docker-compose.yml: {sorted(set(example) - used)}"
    for line in text.splitlines():
        match = re.match(r"\s*(\w*(PASSWORD|SECRET|FERNET_KEY)\w*):\s*(.+)", line)
        if match:
            assert "${" in match.group(3), f"inline secret: {line.strip()}"


def test_env_is_not_committed_but_the_example_is():
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    assert (REPO / ".env.example").is_file()
    assert ".env" in (REPO / ".dockerignore").read_text().splitlines()


def test_dockerfile_installs_the_locked_dependencies_and_the_manifest():
    dockerfile = (REPO / "Dockerfile").read_text()
    syncs = re.findall(r"uv sync ([^&\n]*)", dockerfile)
    assert syncs and all("--frozen" in s for s in syncs)
    assert "COPY pyproject.toml uv.lock" in dockerfile
    assert "cdp manifest" in dockerfile
    uv_pin = re.search(r"uv==([\d.]+)", dockerfile).group(1)
    assert f"UV_VERSION := {uv_pin}" in (REPO / "Makefile").read_text()


def test_the_image_has_what_its_executor_broker_and_volumes_need(services):
    """The lock file carries the Celery provider and the Redis client the services are configured
    for, and the state volume's mount point exists in the image, owned by the user it runs as."""
    import tomllib

    locked = {p["name"] for p in tomllib.loads((REPO / "uv.lock").read_text())["package"]}
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert {"apache-airflow-providers-celery", "celery"} <= locked
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "redis" in locked
    dockerfile = (REPO / "Dockerfile").read_text()
    mounts = {v.split(":")[1] for s in services.values() if "build" in s for v in s.get("volumes", [])}
    created = dockerfile.index("mkdir -p")
    assert mounts, "no volume mounted into the project's image"
    for mount in mounts:
        assert mount in dockerfile[created:], f"{mount} is not created in the image"
    assert dockerfile.index("chown -R airflow") > created and "USER airflow" in dockerfile
