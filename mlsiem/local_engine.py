"""The local OpenSearch engine: a real OpenSearch 2.19 node in a JVM, assembled from Maven Central jars.

`engine/pom.xml` resolves the server and its module plugins; `engine/.../LocalNode.java` starts one node
with them on the classpath. This module resolves the jars once (cached under the user cache), starts
one or more nodes in the background (pid, log and data files under the state directory), waits until
the cluster answers, and stops them cleanly. Several nodes form one cluster over the transport ports.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from mlsiem.errors import LocalEngineError
from mlsiem.paths import cache_dir, package_folder, state_dir

MAIN_CLASS = "org.mlsiem.engine.LocalNode"
TRANSPORT_OFFSET = 100  # transport port = HTTP port + 100 (9200 -> 9300, as OpenSearch's defaults)
MIN_JAVA = 17


@dataclass
class NodeStatus:
    index: int
    http_port: int
    pid: int | None
    alive: bool
    rss_mb: float | None = None


@dataclass
class EngineStatus:
    url: str
    running: bool
    version: str | None = None
    cluster_status: str | None = None
    nodes: list[NodeStatus] = field(default_factory=list)
    start_seconds: float | None = None

    def as_dict(self) -> dict:
        return {
            "url": self.url,
            "running": self.running,
            "version": self.version,
            "cluster_status": self.cluster_status,
            "start_seconds": self.start_seconds,
            "nodes": [vars(n) for n in self.nodes],
        }


def java_binary() -> str:
    """The `java` to run: `$JAVA_HOME/bin/java`, else the one on PATH; checked for version >= 17."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise LocalEngineError(
            "Java was not found: the local engine needs a JDK 17 or newer. Install one "
            "(for example `apt-get install openjdk-17-jdk-headless`) or set JAVA_HOME."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    if not match or int(match.group(1)) < MIN_JAVA:
        raise LocalEngineError(f"{java} is not Java {MIN_JAVA} or newer (it says: {out.strip()[:120]!r}).")
    return java


def engine_project() -> Path:
    """The local engine's Maven project (`pom.xml` + `src/`), as installed with the package."""
    return package_folder("engine")


def _project_digest(project: Path) -> str:
    """A hash of the pom and the Java sources: a changed or upgraded project gets a build of its own."""
    digest = hashlib.sha256()
    for path in [project / "pom.xml", *sorted((project / "src").rglob("*.java"))]:
        digest.update(path.relative_to(project).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def resolve_classpath(project: Path | None = None, cache: Path | None = None) -> str:
    """Compile the launcher and resolve the OpenSearch jars with Maven, once; later calls read the cache.

    The build runs on a copy of the project under the user cache (`cache_dir()/engine/<hash>`), never in
    the install tree; the jars themselves stay in Maven's own repository (~/.m2). A build is assembled
    in a temporary folder and renamed into place, so concurrent first starts cannot see half of one.
    """
    project = project or engine_project()
    build = (cache or cache_dir() / "engine") / _project_digest(project)
    cp_file = build / "target" / "classpath.txt"
    classes = build / "target" / "classes"
    if not (cp_file.is_file() and classes.is_dir()):
        _build(project, build)
    return f"{classes}{os.pathsep}{cp_file.read_text().strip()}"


def _build(project: Path, build: Path) -> None:
    mvn = shutil.which("mvn")
    if not mvn:
        raise LocalEngineError(
            "Maven was not found: the local engine's jars come from Maven Central through `mvn`. "
            "Install it (for example `apt-get install maven`)."
        )
    build.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{build.name}.", dir=build.parent))
    try:
        shutil.copy2(project / "pom.xml", work / "pom.xml")
        shutil.copytree(project / "src", work / "src")
        proc = subprocess.run(
            [mvn, "-q", "-B", "-f", str(work / "pom.xml"), "package", "-DskipTests"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not (work / "target" / "classpath.txt").is_file():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise LocalEngineError(f"Maven could not build the local engine ({project / 'pom.xml'}):\n{tail}")
        # classpath.txt names jars in ~/.m2 only; the classes folder is found beside it, so the build moves.
        try:
            work.rename(build)
        except OSError:
            if not (build / "target" / "classpath.txt").is_file():  # not a finished build of another process
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """A free HTTP port whose transport port (+100) is free too."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + TRANSPORT_OFFSET < 65536 and not port_in_use(port + TRANSPORT_OFFSET):
            return port
    raise LocalEngineError("no free port pair found on 127.0.0.1")


def _http_json(url: str, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _pid_is_ours(pid: int) -> bool:
    """True when `pid` is alive and is a LocalNode JVM (a recycled pid must never be signalled)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return MAIN_CLASS.encode() in cmdline


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class LocalEngine:
    """Control of the local engine listening on `port` (and `port+1..` for further nodes)."""

    def __init__(
        self,
        port: int = 9200,
        nodes: int = 1,
        heap: str = "1g",
        settings: dict[str, str] | None = None,
        root: Path | None = None,
    ) -> None:
        if nodes < 1:
            raise LocalEngineError(f"--nodes must be 1 or more, got {nodes}")
        self.port = port
        self.nodes = nodes
        self.heap = heap
        self.settings = dict(settings or {})
        self.root = root or state_dir() / "engine" / str(port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _pid_file(self, index: int) -> Path:
        return self.root / f"node-{index}.pid"

    def log_file(self, index: int = 0) -> Path:
        return self.root / f"node-{index}.log"

    def _recorded_nodes(self) -> list[tuple[int, int]]:
        """(node index, pid) for every pid file under this engine's folder."""
        found = []
        for pid_file in sorted(self.root.glob("node-*.pid")):
            try:
                found.append((int(pid_file.stem.split("-")[1]), int(pid_file.read_text().strip())))
            except (ValueError, OSError):
                continue
        return found

    def _node_settings(self, index: int) -> dict[str, str]:
        names = [f"mlsiem-{self.port}-{i}" for i in range(self.nodes)]
        node_dir = self.root / f"node-{index}"
        settings = {
            "cluster.name": f"mlsiem-local-{self.port}",
            "node.name": names[index],
            "path.home": str(self.root / "home"),
            "path.data": str(node_dir / "data"),
            "path.logs": str(node_dir / "logs"),
            "http.port": str(self.port + index),
            "transport.port": str(self.port + TRANSPORT_OFFSET + index),
        }
        if self.nodes == 1:
            settings["discovery.type"] = "single-node"
        else:
            seeds = [f"127.0.0.1:{self.port + TRANSPORT_OFFSET + i}" for i in range(self.nodes)]
            settings["discovery.seed_hosts"] = ",".join(seeds)
            settings["cluster.initial_cluster_manager_nodes"] = ",".join(names)
        settings.update(self.settings)
        return settings

    def status(self) -> EngineStatus:
        nodes = []
        for index, pid in self._recorded_nodes():
            alive = _pid_is_ours(pid)
            nodes.append(NodeStatus(index, self.port + index, pid, alive, rss_mb(pid) if alive else None))
        info = _http_json(self.url) if any(n.alive for n in nodes) else None
        health = _http_json(f"{self.url}/_cluster/health") if info else None
        return EngineStatus(
            url=self.url,
            running=bool(info),
            version=(info or {}).get("version", {}).get("number"),
            cluster_status=(health or {}).get("status"),
            nodes=nodes,
        )

    def start(self, timeout: float = 180.0) -> EngineStatus:
        """Start the nodes unless they already run; return once the cluster is at least yellow."""
        current = self.status()
        if current.running:
            return current
        for index in range(self.nodes):
            for port in (self.port + index, self.port + TRANSPORT_OFFSET + index):
                if port_in_use(port):
                    raise LocalEngineError(
                        f"port {port} on 127.0.0.1 is taken by another program, so the local engine cannot "
                        f"start there; stop that program or choose another port with --port."
                    )
        java = java_binary()
        classpath = resolve_classpath()
        self.root.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        procs = []
        for index in range(self.nodes):
            args = [
                java,
                f"-Xms{self.heap}",
                f"-Xmx{self.heap}",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                "-Dfile.encoding=UTF-8",
                "-Dlog4j2.formatMsgNoLookups=true",
                "-cp",
                classpath,
                MAIN_CLASS,
                *(f"-E{key}={value}" for key, value in self._node_settings(index).items()),
            ]
            with open(self.log_file(index), "ab") as log:
                proc = subprocess.Popen(
                    args,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.root,
                    start_new_session=True,  # the engine outlives the command that started it
                )
            self._pid_file(index).write_text(str(proc.pid))
            procs.append(proc)
        self._wait_ready(procs, began + timeout)
        status = self.status()
        status.start_seconds = round(time.monotonic() - began, 2)
        return status

    def _wait_ready(self, procs: list[subprocess.Popen], deadline: float) -> None:
        want = self.nodes
        while time.monotonic() < deadline:
            for index, proc in enumerate(procs):
                if proc.poll() is not None:
                    self.stop()
                    raise LocalEngineError(
                        f"the local engine's node {index} exited with code {proc.returncode} while starting; "
                        f"last lines of {self.log_file(index)}:\n{self._log_tail(index)}"
                    )
            health = _http_json(f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=3)
            if (
                health
                and health.get("status") in ("yellow", "green")
                and health.get("number_of_nodes") == want
            ):
                return
            time.sleep(0.5)
        self.stop()
        raise LocalEngineError(
            f"the local engine did not answer on {self.url} in time; last lines of {self.log_file(0)}:\n"
            f"{self._log_tail(0)}"
        )

    def _log_tail(self, index: int, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file(index).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 60.0, node: int | None = None, crash: bool = False) -> bool:
        """Stop every node (or only `node`) with SIGTERM, SIGKILL after `timeout`. True if any was running.

        `crash=True` sends SIGKILL straight away, as a power cut or the OOM killer would (fault tests).
        """
        stopped = False
        for index, pid in self._recorded_nodes():
            if node is not None and index != node:
                continue
            if _pid_is_ours(pid):
                stopped = True
                os.kill(pid, signal.SIGKILL if crash else signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while _pid_is_ours(pid) and time.monotonic() < deadline:
                    time.sleep(0.2)
                if _pid_is_ours(pid):
                    os.kill(pid, signal.SIGKILL)
                    while _pid_is_ours(pid):
                        time.sleep(0.1)
            self._pid_file(index).unlink(missing_ok=True)
        return stopped
