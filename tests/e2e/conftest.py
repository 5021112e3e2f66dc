"""The real Dagster webserver and daemon over a private FOXML_HOME, and a small GraphQL client.

Each server runs in its own process group and is stopped by that group (SIGTERM, then SIGKILL),
so code servers, run workers and step processes never outlive the tests, even when one fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import requests

from foxml_dagster.paths import REPO_ROOT

BIN = Path(sys.executable).parent
LOCATION = "foxml"
STARTUP_TIMEOUT_S = 120
STOP_TIMEOUT_S = 20

E2E_EXPERIMENT = (Path(__file__).parent.parent / "experiments" / "small.yaml").read_text()

WORKSPACE_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } }
      }
    }
    ... on PythonError { message }
  }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GraphQLError(AssertionError):
    pass


class DagsterServers:
    """dagster-webserver and dagster-daemon over one FOXML_HOME, started and stopped as a unit."""

    def __init__(self, root: Path, experiment: str = E2E_EXPERIMENT):
        self.root = root
        self.experiment = experiment  # the YAML FOXML_CONFIG points to
        self.home = root / "home"
        self.dagster_home = self.home / "dagster"
        self.config = root / "experiment.yaml"
        self.logs = root / "logs"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.session = requests.Session()

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "FOXML_"))}
        env.update(
            FOXML_HOME=str(self.home),
            DAGSTER_HOME=str(self.dagster_home),
            FOXML_CONFIG=str(self.config),
            PYTHONUNBUFFERED="1",
            POLARS_MAX_THREADS="2",
        )
        return env

    def prepare(self) -> None:
        self.dagster_home.mkdir(parents=True)
        self.logs.mkdir()
        shutil.copyfile(REPO_ROOT / "configs" / "dagster.yaml", self.dagster_home / "dagster.yaml")
        self.config.write_text(self.experiment)
        # Create the SQLite storage once, here: the webserver, the daemon and their code servers
        # would otherwise race to create and stamp it ("more than one head present").
        with dg.DagsterInstance.from_config(str(self.dagster_home)):
            pass

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        try:
            self.processes[name] = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()  # the child holds its own descriptor

    def start(self) -> None:
        self.prepare()
        self._spawn(
            "webserver",
            [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(self.port)],
        )
        self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"])
        self.wait_until_ready()

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The group may hold children (code servers, run workers) after its leader exited.
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        self.session.close()

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}\n{self.log_tails()}")

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        status = "webserver not answering"
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if self.session.get(f"{self.url}/server_info", timeout=5).ok:
                    entries = self.graphql(WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
                    entry = next(e for e in entries if e["name"] == LOCATION)
                    loaded = entry["locationOrLoadError"] or {}
                    if loaded.get("__typename") == "PythonError":
                        raise AssertionError(f"code location failed to load: {loaded['message']}\n{loaded['stack']}")
                    status = f"location {entry['loadStatus']} ({loaded.get('__typename')})"
                    if entry["loadStatus"] == "LOADED" and loaded.get("__typename") == "RepositoryLocation":
                        return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(1)
        raise AssertionError(f"webserver not ready after {STARTUP_TIMEOUT_S}s: {status}\n{self.log_tails()}")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        payload = {"query": query, "variables": variables or {}}
        response = self.session.post(f"{self.url}/graphql", json=payload, timeout=60)
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if not response.ok or body.get("errors"):
            raise GraphQLError(f"GraphQL {response.status_code}: {body.get('errors') or response.text[:2000]}")
        return body["data"]

    def cli(self, args: list[str], program: str = "dagster", timeout_s: float = 180) -> subprocess.CompletedProcess:
        """Run a command-line program of the venv against this instance, from the repository root."""
        return subprocess.run(
            [str(BIN / program), *args], cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout_s
        )

    def log_tails(self, lines: int = 60) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"----- {path.name} (last {len(tail)} lines) -----\n" + "\n".join(tail))
        return "\n".join(parts)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the leader's pid


@pytest.fixture(scope="module")
def e2e_experiment() -> str:
    """The experiment YAML of a module's servers; a test module overrides this fixture for another."""
    return E2E_EXPERIMENT


@pytest.fixture(scope="module")
def dagster_servers(tmp_path_factory, e2e_experiment) -> Iterator[DagsterServers]:
    """One webserver and one daemon for a test module (starting them costs ~20 s on 2 cores)."""
    servers = DagsterServers(tmp_path_factory.mktemp("e2e"), e2e_experiment)
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed e2e test shows the tail of the webserver's and daemon's logs in its report."""
    report = yield
    servers = getattr(item, "funcargs", {}).get("dagster_servers")
    if report.failed and isinstance(servers, DagsterServers):
        report.sections.append(("dagster webserver and daemon logs", servers.log_tails()))
    return report
