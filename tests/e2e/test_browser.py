"""End to end in a real browser: headless Chromium (Debian's, driven by playwright) against the UI
that `make ui` starts (`foxml ui`: webserver, daemon and code server under one supervisor).

A small pipeline run (`foxml run`) first gives the assets metadata and plots. Then, as a user
would: the asset graph shows every group, the tearsheet's page shows its typed tables and its
plots, and the all_symbols launchpad launches a run over every registered symbol with provenance
tags. Last, Ctrl-C stops the UI and everything it started. Screenshots are saved under
$FOXML_E2E_ARTEFACTS (default var/e2e-artefacts/); with FOXML_DOCS_SCREENSHOTS=1 the ones the
tutorial shows are copied into docs/images/.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from foxml_dagster.paths import REPO_ROOT
from tests.e2e.conftest import BIN, E2E_EXPERIMENT, DagsterServers

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTEFACTS = Path(os.environ.get("FOXML_E2E_ARTEFACTS", REPO_ROOT / "var" / "e2e-artefacts"))
DOCS_IMAGES = REPO_ROOT / "docs" / "images"
DOCS_SHOTS = ("asset-graph.png", "asset-tearsheet.png", "tearsheet-plots.png", "launchpad.png", "report.png")
SYMBOLS = ["AAPL", "MSFT"]
UI_STOP_S = 40
TIMEOUT_MS = 30_000


def _tiny_experiment() -> str:
    """Two symbols over one year, one family, small selection forests: the whole graph in ~20 s."""
    cfg = yaml.safe_load(E2E_EXPERIMENT)
    cfg["data"].update(symbols=SYMBOLS, end="2010-12-31")
    cfg["training"]["families"] = {"logistic": {}}
    cfg["selection"] = {"n_estimators": 16, "ranking_families": {"logistic": {}}}
    return yaml.safe_dump(cfg)


def _processes_of(home: Path) -> list[int]:
    """Pids of every process whose environment names this FOXML_HOME: whatever the UI started."""
    marker = f"FOXML_HOME={home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            with contextlib.suppress(OSError):
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
    return found


class FoxmlUi(DagsterServers):
    """`foxml ui` over a private FOXML_HOME that one `foxml run` has filled."""

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "FOXML_RAY": "0"}  # in-process training: no local Ray to start

    def start(self) -> None:
        self.prepare()
        # The UI loads its code location while the run computes: the two overlap, as they may
        # for a user who starts `make ui` and then `make run`.
        self._spawn("ui", [str(BIN / "foxml"), "ui", "--host", "127.0.0.1", "--port", str(self.port)])
        run = self.cli(["--quiet", "run", "--in-process"], program="foxml", timeout_s=300)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        self.wait_until_ready()

    def interrupt(self) -> tuple[int, float]:
        """Ctrl-C as a terminal sends it: SIGINT to `foxml ui`; its exit code and how long it took."""
        proc = self.processes["ui"]
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=UI_STOP_S)
        return code, time.monotonic() - started

    def stop(self) -> None:
        super().stop()
        for pid in _processes_of(self.home):  # only after a failed test: the clean path leaves none
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    if CHROMIUM is None:
        pytest.fail("no chromium on PATH: `make test` installs it (apt-get install chromium)")
    servers = FoxmlUi(tmp_path_factory.mktemp("browser"), _tiny_experiment())
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # Debian's chromium: playwright's own browser download is not reachable from CI.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, ui):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def _open(page, ui, path: str) -> None:
    page.goto(ui.url + path, wait_until="networkidle")
    # A fresh instance greets its first visitor with a newsletter dialog over the page.
    skip = page.get_by_role("button", name="Skip")
    with contextlib.suppress(Exception):
        skip.click(timeout=2_000)


def _shot(page, name: str, **kwargs) -> Path:
    path = ARTEFACTS / name
    page.screenshot(path=str(path), **kwargs)
    if os.environ.get("FOXML_DOCS_SCREENSHOTS") == "1" and name in DOCS_SHOTS:
        DOCS_IMAGES.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / name)
    return path


GROUPS = """
query { assetNodes { groupName } }
"""

RUN_TAGS = """
query($runId: ID!) { runOrError(runId: $runId) { ... on Run { jobName status tags { key value } } } }
"""


def test_the_asset_graph_shows_every_group(page, ui):
    groups = {node["groupName"] for node in ui.graphql(GROUPS)["assetNodes"]}
    assert {"ingest", "normalize", "features", "training", "backtest", "execution"} <= groups
    _open(page, ui, "/asset-groups")
    for group in sorted(groups):
        assert page.get_by_text(group, exact=True).first.is_visible(), group
    _shot(page, "asset-graph.png")


def test_the_tearsheet_page_shows_its_metadata_tables_and_plots(page, ui):
    _open(page, ui, "/assets/tearsheet")
    comparison = page.locator("tr", has_text="model_comparison").first
    # A typed table (MetadataValue.table): its own header row and the family's row, rounded.
    assert comparison.get_by_text("rank_ic", exact=True).is_visible()
    assert comparison.get_by_text("logistic", exact=True).first.is_visible()
    assert page.get_by_text("Freshness policy").first.is_visible()
    _shot(page, "asset-tearsheet.png", full_page=True)

    page.locator("tr", has_text="plots").filter(has=page.get_by_text("Show Markdown")).first.get_by_text(
        "Show Markdown"
    ).click()
    plots = page.locator('img[src^="data:image/png"]')
    plots.first.wait_for(state="visible")
    widths = [plots.nth(i).evaluate("img => img.naturalWidth") for i in range(plots.count())]
    assert len(widths) >= 4 and min(widths) > 200, widths  # equity, drawdown, models, features, ...
    _shot(page, "tearsheet-plots.png")

    page.goto((ui.home / "reports" / "tearsheet.html").as_uri(), wait_until="load")
    assert page.locator("img").count() >= 4
    _shot(page, "report.png")


def test_the_launchpad_launches_an_all_symbols_run(page, ui):
    _open(page, ui, "/locations/foxml/jobs/all_symbols/playground")
    page.get_by_role("button", name="Launch Run").wait_for()
    _shot(page, "launchpad.png")
    page.get_by_role("button", name="Launch Run").click()
    # Dagster asks before launching a partitioned job without a partition: all_symbols covers all.
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/runs/*")
    run_id = page.url.rstrip("/").split("/")[-1]
    run = ui.graphql(RUN_TAGS, {"runId": run_id})["runOrError"]
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert run["jobName"] == "all_symbols"
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        SYMBOLS[0],
        SYMBOLS[-1],
    )
    assert len(tags["foxml/config_hash"]) == 12 and tags["foxml/git_revision"]
    _shot(page, "run.png")


def test_ctrl_c_stops_the_ui_and_everything_it_started(ui):
    code, seconds = ui.interrupt()
    assert code == 0, ui.log_tails()
    deadline = time.monotonic() + 10  # processes the group kill just signalled may take a moment
    while _processes_of(ui.home) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _processes_of(ui.home)
    assert not left, [Path(f"/proc/{pid}/cmdline").read_bytes()[:200] for pid in left if Path(f"/proc/{pid}").exists()]
    assert seconds < UI_STOP_S
    log = (ui.logs / "ui.log").read_text()
    assert "stopping the UI (SIGINT)" in log and "UI stopped" in log
    with contextlib.suppress(subprocess.TimeoutExpired):
        assert ui.processes["ui"].wait(timeout=1) == 0
