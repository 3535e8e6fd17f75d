"""The web UI's Blast radius tab and control page, driven in a real headless Chromium.

The browser test starts Locust with its web UI (the embedded stack starts with it), starts
a storm from Locust's own form, watches the tab fill, moves the faults to JP from the
control page and checks with the proxy that JP is now the one lied to. The other tests
read the tab's rows from Locust's real statistics objects.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
from locust.env import Environment
from locust.stats import RequestStats
from playwright.sync_api import expect, sync_playwright

from storm.errors import StormError
from storm.options import StormSettings
from storm.phases import FAULT, RECOVERY, plan
from storm.session import Storm
from storm.users import STALENESS
from storm.webui import Measure, containment_hint, fault_counts, faults_state, measure
from tests.conftest import free_port
from tests.faults.support import start_proxy

ROOT = Path(__file__).resolve().parents[2]
LOCUST = str(Path(sys.executable).with_name("locust"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
UI_TIMEOUT_MS = 20_000


# -- the tab's rows from Locust's statistics --------------------------------------------


def test_fault_counts_add_every_kind_of_a_region() -> None:
    counts = fault_counts({"DE": {"truncate": 3, "slowloris": 1}, "JP": {"reset": 2}})

    assert counts == {"DE": 4, "JP": 2}


def test_measure_merges_a_regions_reads_and_staleness_of_one_phase() -> None:
    stats = RequestStats()
    stats.log_request("GET", "/discover [DE] fault", 10, 100)
    stats.log_request("GET", "/discover?q [DE] fault", 30, 100)
    stats.log_request("GET", "/discover [DE] baseline", 900, 100)
    stats.log_error("GET", "/discover [DE] fault", "unavailable: 503")
    stats.log_request(STALENESS, "DE fault", 4000, 0)

    found = measure(stats, FAULT)["DE"]

    assert (found.requests, found.failures) == (2, 1)
    assert found.p95_ms() == 30
    assert found.staleness_p95_s() == 4.0


def idle_storm(tmp_path: Path) -> Storm:
    """A storm that launched nothing: enough for the bookkeeping of the control."""
    settings = StormSettings(
        target="DE",
        profile={"DE": {"probability": 0.7, "types": ["truncate"]}},
        profile_path="profiles/de_example.json",
        seed=1,
        ingest="hardened",
        upstream="",
        min_items=50,
        thresholds="",
        generation_s=4.0,
        plan=plan(30.0, "", "", ""),
    )
    return Storm(Environment(), settings, tmp_path / "storm")


def test_switch_is_refused_once_the_fault_window_has_closed(tmp_path: Path) -> None:
    storm = idle_storm(tmp_path)
    storm.phases = [{"name": RECOVERY, "start": time.time(), "end": None}]

    with pytest.raises(StormError, match="fault window has closed"):
        storm.switch_target("JP")

    assert storm.settings.target == "DE"
    assert storm.changes == []


def test_switch_in_the_fault_window_is_kept_in_the_run_file(tmp_path: Path) -> None:
    storm = idle_storm(tmp_path)
    storm.phases = [{"name": FAULT, "start": time.time(), "end": None}]

    storm.switch_target("JP")
    storm.faults_off()

    run = json.loads((tmp_path / "storm_run.json").read_text())
    assert run["target"] == "JP"
    assert [(c["action"], c["previous"], c["target"]) for c in run["changes"]] == [
        ("switch_target", "DE", "JP"),
        ("faults_off", "JP", "JP"),
    ]
    assert list(storm.settings.profile) == ["JP"]
    assert faults_state(storm) == "off"
    assert "DE -> JP" in storm.change_note()


def test_faults_in_an_earlier_target_fail_its_containment_hint(tmp_path: Path) -> None:
    storm = idle_storm(tmp_path)
    storm.phases = [{"name": FAULT, "start": time.time(), "end": None}]
    storm.switch_target("JP")

    hint = containment_hint("DE", Measure(requests=100), 3, storm)

    assert hint == "FAIL 3 faults (earlier target)"


# -- the web UI in a browser ------------------------------------------------------------


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def run_processes(run_dir: Path) -> list[int]:
    """Pids of every process whose command line names this run's folder."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(run_dir) in cmdline:
            pids.append(int(entry.name))
    return pids


def wait_for(probe: Any, what: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = probe()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen within {timeout_s:.0f} s")


def jp_faults(proxy_url: str) -> int:
    counters = get_json(f"{proxy_url}/__faults/counters")
    return sum(counters.get("JP", {}).values())


@pytest.fixture
def web_storm(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """Locust with its web UI on a free port; stopped with SIGINT, killed if it hangs."""
    run_dir = tmp_path / "ui"
    run_dir.mkdir()
    port = free_port()
    cmd = [LOCUST, "-f", str(ROOT / "locustfile.py"), "--web-host", "127.0.0.1"]
    cmd += ["--web-port", str(port), "--csv", str(run_dir / "storm"), "--generation-s", "4"]
    # A shell without job control starts its background jobs with SIGINT ignored, and an
    # ignored signal stays ignored across exec: a handler of our own is reset to the
    # default instead, so Locust sees SIGINT as a user's Ctrl-C.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with (run_dir / "locust.log").open("wb") as log:
            # No terminal: Locust's key listener must not read the test runner's input.
            proc = subprocess.Popen(
                cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: urllib.request.urlopen(url, timeout=2).status == 200, "web UI", 40)
        yield url, run_dir, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_storm_from_the_form(page: Any) -> None:
    page.fill("input[name=userCount]", "8")
    page.fill("input[name=spawnRate]", "8")
    page.get_by_text("Advanced options").click()
    page.fill("input[name=runTime]", "60s")
    page.get_by_text("Custom parameters").click()
    page.fill("input[name=baseline]", "3s")
    page.fill("input[name=recovery]", "10s")
    # Not the command line's DE: the storm must take the target from the form.
    page.select_option("select[name=faultTarget]", "FR")
    page.get_by_role("button", name="Start").click()


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: apt-get install chromium"
)
def test_blast_radius_tab_fills_and_its_control_moves_the_faults_to_jp(
    web_storm: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    url, run_dir, proc = web_storm
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.goto(url)
        start_storm_from_the_form(page)

        page.get_by_role("tab", name="Blast radius").click()
        rows = page.locator("table tbody tr")
        rows.nth(7).wait_for()
        assert rows.count() == 8
        # The first poll may come before the storm has read the form: wait for the next.
        expect(rows.filter(has_text="target").locator("td").first).to_have_text("FR")

        page.get_by_role("tab", name="Download Data").click()
        page.get_by_role("link", name="Blast radius control").click()
        page.wait_for_function("document.getElementById('phase').textContent === 'fault'")
        page.select_option("#region", "JP")
        page.click("#switch")
        page.get_by_text("faults now go to JP").wait_for()
        page.locator("tr[data-region=JP]", has_text="target").wait_for()
        browser.close()

    run = json.loads((run_dir / "storm_run.json").read_text())
    assert run["target"] == "JP"
    assert [(c["action"], c["previous"], c["target"]) for c in run["changes"]] == [
        ("switch_target", "FR", "JP")
    ]
    assert list(get_json(f"{run['proxy']}/__faults/profile")) == ["JP"]
    wait_for(lambda: jp_faults(run["proxy"]), "a fault injected into JP", 20)

    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=40)
    wait_for(lambda: not run_processes(run_dir), "every process of the storm gone", 10)


def test_a_control_post_without_the_page_header_is_refused(
    web_storm: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    url, _, _ = web_storm
    forged = urllib.request.Request(f"{url}/blast-radius/faults-off", data=b"", method="POST")

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)

    assert refused.value.code == 403
    assert b"X-Blast-Radius-Control" in refused.value.read()
    sent = urllib.request.Request(
        f"{url}/blast-radius/faults-off",
        data=b"",
        method="POST",
        headers={"X-Blast-Radius-Control": "1", "Origin": url},
    )
    for hostile in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        cross = urllib.request.Request(
            f"{url}/blast-radius/faults-off",
            data=b"",
            method="POST",
            headers={"X-Blast-Radius-Control": "1", **hostile},
        )
        with pytest.raises(urllib.error.HTTPError) as other_site:
            urllib.request.urlopen(cross, timeout=10)
        assert other_site.value.code == 403, hostile
    # With the header the action runs, and is refused only because no storm is running.
    with pytest.raises(urllib.error.HTTPError) as conflict:
        urllib.request.urlopen(sent, timeout=10)
    assert conflict.value.code == 409


def test_switches_at_once_leave_the_proxy_lying_to_the_recorded_target(tmp_path: Path) -> None:
    proxy = start_proxy(f"http://127.0.0.1:{free_port()}", tmp_path / "proxy")
    try:
        storm = idle_storm(tmp_path)
        storm.proxy_url = proxy.url
        storm.phases = [{"name": FAULT, "start": time.time(), "end": None}]
        regions = ["KR", "GB", "JP", "FR", "US", "BR", "AU", "DE"] * 2

        gevent.joinall([gevent.spawn(storm.switch_target, region) for region in regions])

        assert list(get_json(f"{proxy.url}/__faults/profile")) == [storm.settings.target]
        chain = [(c["previous"], c["target"]) for c in storm.changes]
        assert len(chain) == len(regions)
        assert all(before[1] == after[0] for before, after in itertools.pairwise(chain))
    finally:
        proxy.stop()


def test_a_start_refused_for_its_options_stops_the_users(
    web_storm: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    url, run_dir, _ = web_storm
    form = urllib.parse.urlencode(
        {"user_count": "8", "spawn_rate": "2", "fault_probability": "2"}
    ).encode()

    with urllib.request.urlopen(f"{url}/swarm", data=form, timeout=10) as answer:
        assert answer.status == 200

    def state() -> str:
        return str(get_json(f"{url}/stats/requests")["state"])

    wait_for(lambda: state() == "stopped", "the refused test stopped", 30)
    time.sleep(2)
    assert state() == "stopped"
    log = (run_dir / "locust.log").read_text()
    assert "cannot start the storm: --fault-probability 2.0: use a number from 0 to 1" in log
