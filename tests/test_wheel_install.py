"""mlsiem as a user installs it: the built wheel in a fresh virtual environment, run from another folder.

The wheel is built from a copy of the source tree (`pip wheel --no-deps --no-build-isolation`: the
build backend comes from this environment, so no network; the copy keeps `build/` and `*.egg-info` out
of the checkout). The fresh environment gets mlsiem from the wheel alone; its dependencies come from
this test environment's site-packages through a `.pth` line placed after its own site-packages
(`--system-site-packages` would expose the base interpreter's packages, not this environment's, and
`--no-index --find-links` needs wheel files that an installed environment does not have). The editable
install's finder is not activated there (a `.pth` line adds a path; it does not run that path's `.pth`
files), so nothing can be read from the checkout.

Then every user-facing path that needs the package's data runs with state and cache in folders of the
test's own (XDG_STATE_HOME, XDG_CACHE_HOME; MLSIEM_HOME unset): the version, the rule pack check and
export, the dashboards listing, and the local engine (built from the wheel's pom and sources into the
cache, jars from Maven's ~/.m2 filled by `make jars`), setup, normalize and ship. Afterwards no file may
have appeared under the environment's site-packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from detections.sigma.pack import PACK_ROOT, load_pack
from mlsiem.local_engine import free_port
from tests.shipping import native_line

ROOT = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# What the wheel is not built from: top-level folders of the checkout, and build litter anywhere.
NOT_BUILT_FROM = {
    ".git",
    ".venv",
    ".mlsiem",
    "build",
    "dist",
    "tests",
    "docs",
    "fuzz",
    "benchmarks",
    "reliability",
}
LITTER = shutil.ignore_patterns("*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "target")
DATA = {  # files that must be in the wheel, by folder: at least these
    "sigma_rules": ["pack.yaml", "atlas.yaml", "validation.yaml", "pipelines/mlsiem.yaml"],
    "dashboards": ["spec.yaml", "kibana/mlsiem-drift.ndjson", "opensearch/mlsiem-drift.ndjson"],
    "engine": ["pom.xml", "src/main/java/org/mlsiem/engine/LocalNode.java"],
    "mlsiem": ["ecs/ecs_fields.json"],
}

pytestmark = pytest.mark.timeout(900)


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = NOT_BUILT_FROM & set(names) if Path(folder) == ROOT else set()
        return top | LITTER(folder, names)

    shutil.copytree(ROOT, source, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(work),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = work.glob("mlsiem-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site_packages(root) / "zz-test-dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    return root


def site_packages(venv: Path) -> Path:
    (found,) = (venv / "lib").glob("python3*/site-packages")
    return found


def test_the_wheel_carries_the_data(wheel: Path) -> None:
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, files in DATA.items():
        missing = [f"{folder}/{f}" for f in files if f"{folder}/{f}" not in names]
        assert not missing, f"not in {wheel.name}: {missing}"
    pack = {n for n in names if n.startswith("sigma_rules/") and n.endswith((".yml", ".yaml"))}
    in_checkout = {f"sigma_rules/{p.relative_to(PACK_ROOT)}" for p in PACK_ROOT.rglob("*.y*ml")}
    assert pack == in_checkout  # the whole pack: rules, correlations, pipelines, example events
    assert not [n for n in names if "/target/" in n or n.startswith(("tests/", "docs/"))]


@pytest.mark.engine  # starts a local engine of its own
def test_installed_wheel_runs_every_command_from_another_folder(venv: Path, tmp_path: Path) -> None:
    site = site_packages(venv)
    before = files_under(site)
    work, state, cache = tmp_path / "work", tmp_path / "state", tmp_path / "cache"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSIEM_", "PYTHON"))}
    env.update(XDG_STATE_HOME=str(state), XDG_CACHE_HOME=str(cache), PATH=f"{venv / 'bin'}:{env['PATH']}")

    def mlsiem(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(venv / "bin" / "mlsiem"), *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check:
            assert done.returncode == 0, (
                f"mlsiem {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done

    assert mlsiem("--version").stdout.strip() == f"mlsiem {VERSION}"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import cli, mlsiem, sigma_rules; print(mlsiem.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(site)  # the wheel's code, not the checkout's

    check = json.loads(mlsiem("rules", "check", "--json").stdout)
    assert Path(check["pack"]).is_relative_to(site)
    assert check["detection_rules"] == len(load_pack(PACK_ROOT).detections) and not check["issues"]
    export = work / "rules.ndjson"
    mlsiem("rules", "export", "-t", "kibana", "-o", str(export))
    assert len(export.read_text().splitlines()) >= check["detection_rules"]
    docs = mlsiem("rules", "export", "-t", "docs", check=False)  # no docs/ in an installed package
    assert docs.returncode == 2 and "--output" in docs.stderr

    listing = json.loads(mlsiem("dashboards", "list", "--json").stdout)
    assert listing["ok"] and len(listing["files"]) == 8
    assert all(Path(f["file"]).is_relative_to(site) for f in listing["files"])

    telemetry = work / "inference.jsonl"
    telemetry.write_text("".join(native_line(seq) + "\n" for seq in range(5)))
    normalized = mlsiem("normalize", str(telemetry)).stdout.splitlines()
    assert [json.loads(line)["mlsiem"]["features"]["seq"] for line in normalized] == list(range(5))

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        mlsiem("engine", "start", "--port", str(port), "--heap", "512m")
        mlsiem("setup", "--url", url)
        mlsiem("ship", "--url", url, "--namespace", "wheel", "--no-progress", str(telemetry))
        from mlsiem.adapter import Engine
        from mlsiem.config import ConnectionSettings

        engine = Engine.connect(ConnectionSettings(url=url))
        engine.refresh("logs-mlsiem.inference-wheel")
        assert engine.count("logs-mlsiem.inference-wheel") == 5
    finally:
        mlsiem("engine", "stop", "--port", str(port), check=False)
    assert mlsiem("engine", "status", "--port", str(port), check=False).returncode == 1

    assert files_under(site) == before, "files appeared under site-packages"
    assert (state / "mlsiem" / "engine" / str(port)).is_dir()  # engine data, logs and pid files
    assert (state / "mlsiem" / "shipper").is_dir()  # the shipper's registry
    assert list(cache.glob("mlsiem/engine/*/target/classpath.txt"))  # the launcher, built from the wheel
    assert sorted(p.name for p in work.iterdir()) == ["inference.jsonl", "rules.ndjson"]
