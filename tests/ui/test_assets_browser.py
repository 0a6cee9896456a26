"""The assets pages in a real headless Chromium, against a real server and a real
``headwater scheduler`` process, over a store seeded by materializing real assets.

Set HEADWATER_SCREENSHOTS=DIR to save screenshots of the pages there (docs/images holds
the ones in docs/ui.md).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from headwater.config import Settings
from tests.server.asset_seed import DAYS, PARTITIONS, AssetApi, asset_server
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS, open_page, screenshot, stop

playwright_api = pytest.importorskip("playwright.sync_api")

# the colour painted at a partition's cell (its centre), and a status's colour
CELL_COLOUR = """(index) => {
  const canvas = document.getElementById("matrix"), ratio = window.devicePixelRatio || 1;
  const step = Number(canvas.dataset.step), columns = Number(canvas.dataset.columns);
  const x = (index % columns) * step + step / 2 - 1;
  const y = Math.floor(index / columns) * step + step / 2 - 1;
  const [r, g, b] = canvas.getContext("2d").getImageData(
    Math.round(x * ratio), Math.round(y * ratio), 1, 1).data;
  return [r, g, b].join(",");
}"""
STATUS_COLOUR = """(name) => {
  const probe = document.createElement("i");
  probe.style.color = getComputedStyle(document.documentElement).getPropertyValue("--a-" + name);
  document.body.appendChild(probe);
  const rgb = getComputedStyle(probe).color.match(/\\d+/g).slice(0, 3).join(",");
  probe.remove();
  return rgb;
}"""
STATES = "document.getElementById('matrix').dataset.states"


def position(day: str) -> int:
    return (date.fromisoformat(day) - date(2016, 1, 1)).days


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AssetApi]:
    root = tmp_path_factory.mktemp("asset-browser")
    with asset_server(Settings.for_home(root / "home"), root) as server:
        yield server


@pytest.fixture(scope="module")
def scheduler(site: AssetApi) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``headwater scheduler`` process over the server's store and folder."""
    home = site.live.settings.home
    env = {**os.environ, "HEADWATER_HOME": str(home)}
    with (home / "scheduler.log").open("wb") as log:
        command = ["scheduler", "--pipelines", str(site.folder), "--tick", "0.2", "--grace", "5"]
        process = subprocess.Popen(
            [sys.executable, "-m", "headwater", *command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        stop(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def test_the_assets_page_lists_groups_and_freshness(browser: object, site: AssetApi) -> None:
    page = open_page(browser, site.live, "vera")
    page.goto(site.live.url + "/assets")  # type: ignore[attr-defined]
    assert page.locator("tr[data-asset]").count() == 4  # type: ignore[attr-defined]
    page.select_option("select[name=group]", "sales")  # type: ignore[attr-defined]
    page.wait_for_function("document.querySelectorAll('tr[data-asset]').length === 2")  # type: ignore[attr-defined]
    page.fill("input[name=q]", "raw")  # type: ignore[attr-defined]
    page.wait_for_function("document.querySelectorAll('tr[data-asset]').length === 1")  # type: ignore[attr-defined]
    badge = page.locator("tr[data-asset=orders_raw] [data-testid=freshness]")  # type: ignore[attr-defined]
    assert badge.inner_text() == "fresh"
    page.context.close()  # type: ignore[attr-defined]


def test_an_assets_matrix_and_lineage_are_painted(browser: object, site: AssetApi) -> None:
    page = open_page(browser, site.live, "vera")
    page.goto(site.live.url + "/assets/orders_cleaned")  # type: ignore[attr-defined]
    page.wait_for_selector("#matrix[data-painted]")  # type: ignore[attr-defined]
    page.wait_for_selector("#graph[data-painted]")  # type: ignore[attr-defined]
    states = page.evaluate(STATES)  # type: ignore[attr-defined]
    assert len(states) == PARTITIONS
    assert states[position(DAYS[0]) :] == "mmfs"
    for day, status in zip(DAYS, ("materialized", "materialized", "failed", "stale"), strict=True):
        painted = page.evaluate(CELL_COLOUR, position(day))  # type: ignore[attr-defined]
        assert painted == page.evaluate(STATUS_COLOUR, status), day  # type: ignore[attr-defined]
    missing = page.evaluate(CELL_COLOUR, 0)  # type: ignore[attr-defined]
    assert missing == page.evaluate(STATUS_COLOUR, "missing")  # type: ignore[attr-defined]
    graph = page.locator("#graph")  # type: ignore[attr-defined]
    assert graph.get_attribute("data-nodes") == "4"
    # a viewer gets neither form
    assert page.locator("#materialize-form, #asset-backfill-form").count() == 0  # type: ignore[attr-defined]
    answer = page.request.post(  # type: ignore[attr-defined]
        f"{site.live.url}/ui/assets/orders_cleaned/materialize",
        form={"partition": "2025-01-01"},
        headers={"X-CSRF-Token": site.live.csrf["vera"]},
    )
    assert answer.status == 403
    page.context.close()  # type: ignore[attr-defined]


def test_3650_partitions_are_painted_in_under_a_second(browser: object, site: AssetApi) -> None:
    page = open_page(browser, site.live, "vera")
    loads, draws = [], []
    for _ in range(5):
        page.goto(site.live.url + "/assets/orders_cleaned")  # type: ignore[attr-defined]
        page.wait_for_selector("#matrix[data-painted]")  # type: ignore[attr-defined]
        matrix = page.locator("#matrix")  # type: ignore[attr-defined]
        loads.append(float(matrix.get_attribute("data-painted")))  # ms from navigation start
        draws.append(float(matrix.get_attribute("data-draw-ms")))
    page.context.close()  # type: ignore[attr-defined]
    print(  # the measure docs/ui.md quotes (pytest -s)
        f"matrix of {PARTITIONS} partitions: load to painted {statistics.median(loads):.0f} ms, "
        f"drawing {statistics.median(draws):.1f} ms (median of 5)"
    )
    assert statistics.median(loads) < 1000
    assert statistics.median(draws) < 100


def test_an_operator_materializes_a_partition_and_sees_it_materialized(
    browser: object, site: AssetApi, scheduler: object
) -> None:
    page = open_page(browser, site.live, "otto")
    page.goto(site.live.url + "/assets/orders_cleaned")  # type: ignore[attr-defined]
    page.wait_for_selector("#matrix[data-painted]")  # type: ignore[attr-defined]
    day = position("2025-12-31")
    assert page.evaluate(STATES)[day] == "."  # type: ignore[attr-defined]
    page.fill("#materialize-form input[name=partition]", "2025-12-31")  # type: ignore[attr-defined]
    page.check("#materialize-form input[name=upstream]")  # type: ignore[attr-defined]
    page.click("[data-testid=materialize]")  # type: ignore[attr-defined]
    page.wait_for_selector("[data-testid=queued]")  # type: ignore[attr-defined]
    # the scheduler finds the ad hoc pipeline, runs it; the event stream says the run ended
    page.wait_for_function(f"{STATES}.charAt({day}) === 'm'", timeout=60_000)  # type: ignore[attr-defined]
    painted = page.evaluate(CELL_COLOUR, day)  # type: ignore[attr-defined]
    assert painted == page.evaluate(STATUS_COLOUR, "materialized")  # type: ignore[attr-defined]
    assert page.locator("#matrix").get_attribute("data-live") == "sse"  # type: ignore[attr-defined]
    # a backfill of two partitions: its plan, then its runs, then both cells turn green
    page.fill("#asset-backfill-form input[name=first]", "2025-12-28")  # type: ignore[attr-defined]
    page.fill("#asset-backfill-form input[name=last]", "2025-12-29")  # type: ignore[attr-defined]
    page.check("#asset-backfill-form input[name=upstream]")  # type: ignore[attr-defined]
    page.click("[data-testid=asset-backfill-plan]")  # type: ignore[attr-defined]
    plan = page.wait_for_selector("[data-testid=asset-plan]")  # type: ignore[attr-defined]
    assert "would run 2, redo 0 and skip 0" in plan.inner_text()
    page.click("[data-testid=backfill-start]")  # type: ignore[attr-defined]
    first = position("2025-12-28")
    page.wait_for_function(  # type: ignore[attr-defined]
        f"{STATES}.slice({first}, {first + 2}) === 'mm'", timeout=60_000
    )
    # the materializations below were read again as the matrix changed
    page.wait_for_selector("#asset-history td:has-text('2025-12-29')")  # type: ignore[attr-defined]
    page.evaluate("window.scrollTo(0, 0)")  # type: ignore[attr-defined]
    screenshot(page, "asset")
    page.context.close()  # type: ignore[attr-defined]


def test_the_screenshots_of_the_list(browser: object, site: AssetApi) -> None:
    if not os.environ.get("HEADWATER_SCREENSHOTS"):
        pytest.skip("set HEADWATER_SCREENSHOTS=DIR to save screenshots")
    page = open_page(browser, site.live, "otto")
    page.goto(site.live.url + "/assets")  # type: ignore[attr-defined]
    screenshot(page, "assets")
    page.context.close()  # type: ignore[attr-defined]


def test_the_scheduler_log_is_clean(site: AssetApi, scheduler: object) -> None:
    log = Path(site.live.settings.home / "scheduler.log").read_text()
    assert "Traceback" not in log
