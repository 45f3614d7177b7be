"""docker-compose.yml: two complete, exclusive stacks whose mlsiem commands are the CLI's own, and whose
shipper config file (deploy/shipper.yaml) is valid for `mlsiem ship --config`.

Docker is not needed: the file is checked as data (services, profiles, health checks, depends_on
order, pinned images, volumes) and every mlsiem command is matched against the commands and options
registered in the typer app. Where the Docker compose plugin works, `docker compose config` checks
the file as Docker reads it as well.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import typer.main
import yaml

from cli import app
from shipper.config import ShipperConfig, load_config

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROFILES = {"opensearch": ("opensearch", "opensearch-dashboards"), "elastic": ("elasticsearch", "kibana")}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services_of(profile: str) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if profile in s.get("profiles", [])}


def role(services: dict[str, dict[str, Any]], subcommand: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(n, s) for n, s in services.items() if s.get("command", [None])[0] == subcommand]
    return found


def shipper_config(service: dict[str, Any]) -> ShipperConfig:
    """The shipper service's config file (the repository file mounted at its `--config` path), validated
    as `mlsiem ship --config` validates it."""
    command = service["command"]
    mounted = command[command.index("--config") + 1]
    (source,) = [mount(v)[0] for v in service["volumes"] if mount(v)[1] == mounted]
    return load_config(ROOT / source)


def mount(volume: str) -> tuple[str, str]:
    """(source, target) of a `SOURCE:TARGET[:ro]` volume; the source may hold `${VAR:-default}`."""
    parts = volume.rsplit(":", 2) if volume.endswith((":ro", ":rw")) else volume.rsplit(":", 1)
    return parts[0], parts[1]


def cli_commands() -> dict[str, Any]:
    """Subcommand name -> its click command, as the `mlsiem` entry point builds them."""
    group = typer.main.get_command(app)
    context = click.Context(group)
    return {name: group.get_command(context, name) for name in group.list_commands(context)}  # type: ignore[attr-defined]


def command_problems(command: list[str], registered: dict[str, Any]) -> list[str]:
    """Why `mlsiem <command...>` would not parse (an empty list when it would)."""
    name, *args = command
    if name not in registered:
        return [f"`mlsiem {name}` is not a registered command"]
    target = registered[name]
    options = {opt: p for p in target.params if p.param_type_name == "option" for opt in p.opts}
    problems, position = [], 0
    while position < len(args):
        token = args[position]
        if token.startswith("--"):
            option = options.get(token)
            if option is None:
                problems.append(f"`mlsiem {name}` has no option {token}")
            elif not option.is_flag:
                position += 1
                if position >= len(args) or args[position].startswith("--"):
                    problems.append(f"`mlsiem {name} {token}` needs a value")
        position += 1
    return problems


def test_every_service_belongs_to_exactly_one_profile() -> None:
    for name, service in compose()["services"].items():
        assert len(service.get("profiles", [])) == 1 and service["profiles"][0] in PROFILES, name


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_profile_is_a_whole_stack_in_start_order(profile: str) -> None:
    services = services_of(profile)
    engine_name, board_name = PROFILES[profile]
    engine, board = services[engine_name], services[board_name]
    for name in (engine_name, board_name):
        health = services[name]["healthcheck"]
        assert health["test"][0] == "CMD-SHELL" and "curl -fs" in health["test"][1]
        assert health["retries"] >= 10
    assert any(v.split(":")[0] in compose()["volumes"] for v in engine["volumes"]), "engine data volume"
    assert engine.get("environment", {}).get("discovery.type") == "single-node"
    assert board["depends_on"] == {engine_name: {"condition": "service_healthy"}}

    setup_name, setup = role(services, "setup")
    assert setup["restart"] == "no"
    assert setup["depends_on"] == {
        engine_name: {"condition": "service_healthy"},
        board_name: {"condition": "service_healthy"},
    }
    args = setup["command"]
    assert urlsplit(args[args.index("--url") + 1]).hostname == engine_name
    assert urlsplit(args[args.index("--dashboards") + 1]).hostname == board_name

    for subcommand in ("ship", "detect"):
        name, service = role(services, subcommand)
        assert service["depends_on"] == {setup_name: {"condition": "service_completed_successfully"}}, name
        assert service["restart"] == "unless-stopped"
        args = service["command"]
        assert urlsplit(args[args.index("--url") + 1]).hostname == engine_name
    _, shipper = role(services, "ship")
    config = shipper_config(shipper)
    files = config.inputs.files
    assert files is not None and files.follow and not config.output.setup  # setup ran before it
    logs = [mount(v)[1] for v in shipper["volumes"] if v.endswith(":/var/log/mlsiem:ro")]
    assert logs and all(PurePosixPath(p).parent == PurePosixPath(logs[0]) for p in files.paths), files.paths
    assert config.output.to_engine and "--url" in shipper["command"]  # the profile's engine, given by flag
    _, detector = role(services, "detect")
    assert detector["command"][detector["command"].index("--every") + 1] == "5m"


def test_depends_on_stays_inside_the_profile_and_has_no_cycle() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert services[dependency]["profiles"] == service["profiles"], f"{name} -> {dependency}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no health check"
            else:
                assert rule["condition"] == "service_completed_successfully"
                assert services[dependency]["restart"] == "no", f"{dependency} is not a one-shot service"
    done: set[str] = set()
    while len(done) < len(services):  # peel off services whose dependencies are all started
        ready = {n for n, s in services.items() if n not in done and set(s.get("depends_on", {})) <= done}
        assert ready, f"a depends_on cycle among {set(services) - done}"
        done |= ready


def test_images_are_pinned() -> None:
    for name, service in compose()["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest" and tag[0].isdigit(), f"{name}: {image}"
        if "build" in service:
            assert image.startswith("mlsiem:"), name


def test_commands_match_the_cli() -> None:
    """Every mlsiem service runs a registered command with options that exist."""
    registered = cli_commands()
    problems = []
    for name, service in compose()["services"].items():
        if "build" not in service:
            continue
        found = command_problems(service["command"], registered)
        problems += [f"{name}: {p}" for p in found]
    assert problems == []


def test_the_command_check_catches_mistakes() -> None:
    registered = cli_commands()
    assert (
        command_problems(["setup", "--url", "http://x:9200", "--dashboards", "http://y:5601"], registered)
        == []
    )
    assert command_problems(["setup", "--dashbords", "http://y:5601"], registered) == [
        "`mlsiem setup` has no option --dashbords"
    ]
    assert command_problems(["setup", "--url"], registered) == ["`mlsiem setup --url` needs a value"]
    assert command_problems(["sheep", "--follow"], registered) == [
        "`mlsiem sheep` is not a registered command"
    ]
    assert "dashboards" in registered and "setup" in registered


def docker_compose_works() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


def test_docker_compose_config_accepts_the_file_when_docker_is_here(tmp_path: Path) -> None:
    if not docker_compose_works():
        # No compose plugin on this machine: the structural checks above are the whole check.
        assert compose()["name"] == "mlsiem"
        return
    for profile in PROFILES:
        out = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE_FILE), "--profile", profile, "config", "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr


# --------------------------------------------------------------------------------------- Dockerfile

DOCKERFILE = ROOT / "Dockerfile"


def dockerfile_stages() -> dict[str, list[str]]:
    """Stage name -> its instructions (continuation lines joined, comments dropped), in file order."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            words = line.split()
            assert len(words) == 4 and words[2].upper() == "AS", f"every stage is named: {line}"
            current = stages.setdefault(words[3], [])
        current.append(line)
    return stages


def test_dockerfile_builds_the_wheel_and_installs_it_as_a_user() -> None:
    stages = dockerfile_stages()
    assert list(stages) == ["build", "runtime"]
    build, runtime = stages["build"], stages["runtime"]
    copied = {source for line in build if line.startswith("COPY ") for source in line.split()[1:-1]}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"pyproject.toml", "README.md"} <= copied, "the build stage copies every package"
    assert any(line.startswith("RUN pip wheel") for line in build)

    assert not [line for line in runtime if line.startswith(("COPY ", "ADD "))], "no source in the runtime"
    (install,) = [line for line in runtime if "pip install" in line]
    assert "from=build" in install and "--no-index" in install and " -e " not in install
    user = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert user and user[-1] not in ("root", "0"), "the runtime runs as an unprivileged user"
    assert any(line.startswith("ENTRYPOINT") and "mlsiem" in line for line in runtime)


def test_compose_builds_the_runtime_stage_tagged_with_the_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in compose()["services"].items():
        if "build" in service:
            assert service["build"] == {"context": ".", "target": "runtime"}, name
            assert service["image"] == f"mlsiem:{version}", name
