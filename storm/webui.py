"""The "Blast radius" tab of Locust's web UI, and a control page that steers a storm live.

The tab uses Locust's own extension points: an extended tab and table declared in the
UI's template arguments, filled by rows added to the `/stats/requests` answer that the UI
polls anyway while a test runs. Locust's tables show text only, so the control lives on a
page of our own, `GET /blast-radius` (linked from the "Download Data" tab), which shows
the same rows and switches the target, or the faults off, through the proxy's control API.

Every figure is a live hint read from Locust's statistics of the current phase; the
verdict that counts is computed from the CSVs when the storm ends.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import math
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, jsonify, request
from locust.stats import RequestStats, StatsEntry, calculate_response_time_percentile
from locust.web import WebUI

from analysis import BadInputError
from analysis.thresholds import Thresholds, load_thresholds
from common import REGIONS, RegionError, parse_region
from storm.errors import StormError
from storm.phases import FAULT
from storm.progress import NAME
from storm.session import Storm
from storm.users import STALENESS

log = logging.getLogger(__name__)

TAB = "blast-radius"
# Locust's UI turns every snake_case key of its JSON into camelCase: one-word keys keep the
# table's columns and the rows' cells matched.
COLUMNS = (
    ("region", "Region"),
    ("role", "Role"),
    ("phase", "Phase"),
    ("requests", "Requests"),
    ("success", "Success"),
    ("p95", "p95 ms"),
    ("staleness", "Staleness p95 s"),
    ("faults", "Faults injected"),
    ("breaker", "Breaker"),
    ("containment", "Containment"),
    ("honesty", "Honesty"),
    ("latency", "Bounded latency"),
)
REMOTE_TIMEOUT_S = 1.0
# The UI polls every 2 s and the control page as often: the services are asked at most once
# per this many seconds, so a dashboard never adds load to the storm it watches.
REMOTE_TTL_S = 1.5
PENDING = "…"
NOT_JUDGED = "-"

View = Callable[..., Any]


# -- the services' side: faults injected and breaker states ------------------------------


def fetch_json(url: str) -> Any:
    """GET a service's JSON, or None: a slow or gone service leaves blank cells, never a
    stalled stats poll."""
    try:
        with urllib.request.urlopen(url, timeout=REMOTE_TIMEOUT_S) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError) as exc:
        log.debug("no answer from %s: %s", url, exc)
        return None


def fault_counts(counters: Any) -> Counter[str]:
    """`{"DE": {"truncate": 3, "slowloris": 1}}` -> `{"DE": 4}`."""
    counts: Counter[str] = Counter()
    if isinstance(counters, dict):
        for region, kinds in counters.items():
            if isinstance(kinds, dict):
                counts[str(region)] += sum(int(n) for n in kinds.values())
    return counts


class Remote:
    """The proxy's fault counters and the discovery service's breakers, cached briefly."""

    def __init__(self, storm: Storm) -> None:
        self.storm = storm
        self.fetched_at = -math.inf
        self.faults: Counter[str] | None = None
        self.breakers: dict[str, str] = {}
        # the proxy counts since it started; a storm shows the faults of its own test
        self.faults_at_start: Counter[str] = Counter()

    def refresh(self) -> None:
        if time.monotonic() - self.fetched_at < REMOTE_TTL_S:
            return
        self.fetched_at = time.monotonic()
        self.faults = self._faults()
        self.breakers = self._breakers()

    def mark_test_start(self, **_: Any) -> None:
        """Locust's test_start: faults load only in the fault phase, so this is a zero."""
        self.faults_at_start = self._faults() or Counter()
        self.fetched_at = -math.inf

    def faults_of(self, region: str) -> int | None:
        if self.faults is None:
            return None
        return max(0, self.faults[region] - self.faults_at_start[region])

    def _faults(self) -> Counter[str] | None:
        if not self.storm.proxy_url:
            return None
        counters = fetch_json(f"{self.storm.proxy_url}/__faults/counters")
        return None if counters is None else fault_counts(counters)

    def _breakers(self) -> dict[str, str]:
        # Only the embedded discovery service reports its breakers.
        if not self.storm.discovery_url:
            return {}
        snapshot = fetch_json(f"{self.storm.discovery_url}/snapshot")
        regions = snapshot.get("regions") if isinstance(snapshot, dict) else None
        if not isinstance(regions, dict):
            return {}
        return {
            str(region): str(view.get("breaker") or "")
            for region, view in regions.items()
            if isinstance(view, dict)
        }


# -- Locust's side: what each region measured in the current phase ------------------------


@dataclass
class Measure:
    """One region's requests and staleness in one phase, merged over its request names."""

    requests: int = 0
    failures: int = 0
    times_ms: Counter[int] = field(default_factory=Counter)
    staleness_ms: Counter[int] = field(default_factory=Counter)

    def success(self) -> float | None:
        return 1 - self.failures / self.requests if self.requests else None

    def p95_ms(self) -> int | None:
        return percentile(self.times_ms, 0.95)

    def staleness_p95_s(self) -> float | None:
        p95 = percentile(self.staleness_ms, 0.95)
        return None if p95 is None else p95 / 1000.0


def percentile(times_ms: Counter[int], fraction: float) -> int | None:
    count = sum(times_ms.values())
    if not count:
        return None
    return int(calculate_response_time_percentile(dict(times_ms), count, fraction))


def region_and_phase(entry: StatsEntry) -> tuple[str, str] | None:
    """`/discover [DE] fault` and the staleness row `DE fault` -> ("DE", "fault")."""
    if entry.method == STALENESS:
        region, _, phase = str(entry.name).partition(" ")
        return (region, phase) if phase else None
    match = NAME.search(str(entry.name))
    return (match["region"], match["phase"]) if match else None


def measure(stats: RequestStats, phase: str) -> dict[str, Measure]:
    found = {region: Measure() for region in REGIONS}
    for entry in stats.entries.values():
        where = region_and_phase(entry)
        if where is None or where[0] not in found or where[1] != phase:
            continue
        region = found[where[0]]
        if entry.method == STALENESS:
            region.staleness_ms.update(entry.response_times)
        else:
            region.requests += entry.num_requests
            region.failures += entry.num_failures
            region.times_ms.update(entry.response_times)
    return found


def dishonest_counts(stats: RequestStats) -> Counter[str]:
    """Dishonest responses per region over every phase: honesty holds for the whole run."""
    counts: Counter[str] = Counter()
    for error in stats.errors.values():
        match = NAME.search(str(error.name))
        if match and str(error.error).startswith("dishonest"):
            counts[match["region"]] += error.occurrences
    return counts


# -- the running verdict ---------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def thresholds_of(path: str) -> Thresholds:
    try:
        return load_thresholds(path or None)
    except BadInputError:
        # The start of the storm refused a bad file already; a hint falls back to defaults.
        return Thresholds()


def containment_hint(region: str, measured: Measure, faults: int | None, storm: Storm) -> str:
    if region == storm.settings.target:
        return NOT_JUDGED
    if faults:
        earlier = any(change["previous"] == region for change in storm.changes)
        return f"FAIL {faults} faults" + (" (earlier target)" if earlier else "")
    success, stale_s = measured.success(), measured.staleness_p95_s()
    if success is None:
        return PENDING
    bounds = thresholds_of(storm.settings.thresholds).for_clean(region)
    if success < bounds.min_success_rate:
        return f"FAIL {success:.1%} success"
    if stale_s is not None and stale_s > bounds.staleness_p95_s:
        return f"FAIL {stale_s:.0f} s stale"
    if (measured.p95_ms() or 0) > bounds.p95_ms:
        return f"FAIL p95 {measured.p95_ms()} ms"
    return "ok"


def honesty_hint(measured: Measure, dishonest: int) -> str:
    if dishonest:
        return f"FAIL {dishonest} dishonest"
    return "ok" if measured.requests else PENDING


def latency_hint(region: str, measured: Measure, storm: Storm) -> str:
    if region != storm.settings.target:
        return NOT_JUDGED
    p95 = measured.p95_ms()
    if p95 is None:
        return PENDING
    bound_ms = thresholds_of(storm.settings.thresholds).for_target(region).p95_ms
    return f"FAIL p95 {p95} ms" if p95 > bound_ms else "ok"


def current_phase(storm: Storm) -> str:
    return str(storm.phases[-1]["name"]) if storm.phases else ""


def faults_state(storm: Storm) -> str:
    """Whether the proxy lies right now: in the fault phase, unless switched off since."""
    phase = storm.phases[-1] if storm.phases else None
    if phase is None or phase["name"] != FAULT or phase["end"] is not None:
        return "off"
    changes = [c for c in storm.changes if c["time"] >= phase["start"]]
    return "off" if changes and changes[-1]["action"] == "faults_off" else "on"


def region_rows(storm: Storm, remote: Remote) -> list[dict[str, Any]]:
    """One row per region, keyed by the COLUMNS; blank cells where nothing is known."""
    remote.refresh()
    phase = current_phase(storm)
    stats = storm.environment.stats
    measures = measure(stats, phase)
    dishonest = dishonest_counts(stats)
    rows = []
    for region in REGIONS:
        measured, faults = measures[region], remote.faults_of(region)
        success, p95, stale_s = measured.success(), measured.p95_ms(), measured.staleness_p95_s()
        rows.append(
            {
                "region": region,
                "role": "target" if region == storm.settings.target else "clean",
                "phase": phase,
                "requests": measured.requests,
                "success": "" if success is None else f"{success:.2%}",
                "p95": "" if p95 is None else p95,
                "staleness": "" if stale_s is None else round(stale_s, 1),
                "faults": "" if faults is None else faults,
                "breaker": remote.breakers.get(region, ""),
                "containment": containment_hint(region, measured, faults, storm),
                "honesty": honesty_hint(measured, dishonest[region]),
                "latency": latency_hint(region, measured, storm),
            }
        )
    return rows


def board_state(storm: Storm, remote: Remote) -> dict[str, Any]:
    """What the control page shows: the phase, the target, the faults and every change."""
    return {
        "phase": current_phase(storm),
        "target": storm.settings.target,
        "faults": faults_state(storm),
        "rows": region_rows(storm, remote),
        "changes": storm.changes,
    }


# -- the web UI ------------------------------------------------------------------------


def install(web_ui: WebUI, storm: Storm) -> None:
    """Add the tab, its rows and the control page to Locust's web UI (not yet started)."""
    app = web_ui.app
    if app is None:
        return
    remote = Remote(storm)
    # Locust's EventHook.add_listener carries no annotations.
    listen: Callable[[View], None] = storm.environment.events.test_start.add_listener
    listen(remote.mark_test_start)
    options = storm.environment.parsed_options
    base = str(getattr(options, "web_base_path", "") or "").rstrip("/")
    protect: Callable[[View], View] = web_ui.auth_required_if_enabled

    web_ui.template_args["extended_tabs"] = [{"title": "Blast radius", "key": TAB}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "./blast-radius", "title": "Blast radius control: switch the target, faults off"}
    ]

    app.after_request(functools.partial(add_rows, storm=storm, remote=remote))
    app.register_blueprint(control_blueprint(storm, remote, base, protect))


def add_rows(response: Response, *, storm: Storm, remote: Remote) -> Response:
    """Add the tab's rows to the stats answer Locust's UI polls (`extended_stats`)."""
    if not request.path.endswith("/stats/requests") or response.status_code != 200:
        return response
    body = response.get_json(silent=True)
    if not isinstance(body, dict):
        return response
    try:
        body["extended_stats"] = [{"key": TAB, "data": region_rows(storm, remote)}]
    except Exception:
        # A hint must never break Locust's own statistics page.
        log.exception("no blast radius rows")
        return response
    response.set_data(json.dumps(body))
    return response


def control_blueprint(storm: Storm, remote: Remote, base: str, protect: View) -> Blueprint:
    """GET /blast-radius (the page), GET .../rows, POST .../target and POST .../faults-off."""
    blueprint = Blueprint("blast_radius", __name__, url_prefix=base or None)

    def page() -> Response:
        return Response(control_page(storm), mimetype="text/html")

    def rows() -> Response:
        return jsonify(board_state(storm, remote))

    def target() -> tuple[Response, int]:
        text = request.form.get("region", "")
        try:
            region = parse_region(text)
        except RegionError as exc:
            return jsonify({"ok": False, "message": str(exc)}), 400
        return change(lambda: storm.switch_target(region), f"faults now go to {region}")

    def faults_off() -> tuple[Response, int]:
        return change(storm.faults_off, "faults are off until the storm ends")

    blueprint.add_url_rule("/blast-radius", "page", protect(page))
    blueprint.add_url_rule("/blast-radius/rows", "rows", protect(rows))
    blueprint.add_url_rule(
        "/blast-radius/target", "target", protect(same_page(target)), methods=["POST"]
    )
    blueprint.add_url_rule(
        "/blast-radius/faults-off",
        "faults_off",
        protect(same_page(faults_off)),
        methods=["POST"],
    )
    return blueprint


# Sent by the control page's script. A form another site posts cannot carry it; a script
# of another origin can (Locust's web UI answers CORS preflights for any origin), so the
# Origin a browser attaches to every POST must be this page's own as well.
CONTROL_HEADER = "X-Blast-Radius-Control"


def same_page(action: Callable[[], tuple[Response, int]]) -> Callable[[], tuple[Response, int]]:
    """Refuse a control action that did not come from the control page's own script."""

    def checked() -> tuple[Response, int]:
        origin = request.headers.get("Origin")
        own = request.host_url.rstrip("/")
        if request.headers.get(CONTROL_HEADER) != "1":
            reason = f"send the header {CONTROL_HEADER}: 1 (the control page does)"
        elif origin is not None and origin != own:
            reason = f"the request comes from another origin ({shown(origin)}, not {own})"
        elif request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            reason = "the browser says the request comes from another site"
        else:
            return action()
        log.warning("control action %s refused: %s", request.path, reason)
        return jsonify({"ok": False, "message": f"refused: {reason}"}), 403

    return checked


def shown(text: str, limit: int = 80) -> str:
    """A header value for a message: repr, cut to `limit` characters."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def change(action: Callable[[], dict[str, Any]], done: str) -> tuple[Response, int]:
    """Run a control action; a refusal (no storm, window closed, proxy said no) is a 409."""
    try:
        record = action()
    except StormError as exc:
        return jsonify({"ok": False, "message": str(exc)}), 409
    return jsonify({"ok": True, "message": done, "change": record}), 200


def control_page(storm: Storm) -> str:
    """The control page: a region select, two buttons, and the rows refreshed every 2 s."""
    options = "".join(
        f'<option value="{r}"{" selected" if r == storm.settings.target else ""}>{r}</option>'
        for r in REGIONS
    )
    heads = "".join(f"<th>{html.escape(title)}</th>" for _, title in COLUMNS)
    keys = json.dumps([key for key, _ in COLUMNS])
    return PAGE.format(options=options, heads=heads, keys=keys)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Blast radius</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
#message {{ margin-left: 1em; font-weight: bold; }}
</style></head>
<body>
<h1>Blast radius</h1>
<p><a href="./?tab=blast-radius">Back to Locust</a> &middot;
phase <b id="phase">-</b> &middot; target <b id="target">-</b> &middot;
faults <b id="faults">-</b></p>
<form id="control" onsubmit="return false">
<label for="region">Region</label> <select id="region" name="region">{options}</select>
<button id="switch" type="button">Switch target</button>
<button id="faults-off" type="button">Faults off</button>
<span id="message" role="status"></span>
</form>
<p>Every action is kept in the run file's <code>changes</code>. The verdict judges the
target in force when the fault window closes; an earlier target is judged as a clean
region, so any fault it received counts against containment.</p>
<table><thead><tr>{heads}</tr></thead><tbody id="rows"></tbody></table>
<h2>Changes</h2><ol id="changes"></ol>
<script>
const KEYS = {keys};
function cell(row, text) {{
  const td = document.createElement("td"); td.textContent = text; row.appendChild(td);
}}
async function refresh() {{
  const state = await (await fetch("blast-radius/rows")).json();
  for (const key of ["phase", "target", "faults"]) {{
    document.getElementById(key).textContent = state[key] || "-";
  }}
  const body = document.getElementById("rows"); body.replaceChildren();
  for (const data of state.rows) {{
    const row = document.createElement("tr"); row.dataset.region = data.region;
    for (const key of KEYS) cell(row, data[key]);
    body.appendChild(row);
  }}
  const list = document.getElementById("changes"); list.replaceChildren();
  for (const c of state.changes) {{
    const item = document.createElement("li");
    item.textContent = new Date(c.time * 1000).toLocaleTimeString() + " " + c.phase + ": "
      + c.action + " (target " + c.target + ", was " + c.previous + ")";
    list.appendChild(item);
  }}
}}
async function post(path, form) {{
  const headers = {{"X-Blast-Radius-Control": "1"}};
  const answer = await (await fetch(path, {{method: "POST", body: form, headers}})).json();
  document.getElementById("message").textContent = answer.message;
  await refresh();
}}
document.getElementById("switch").onclick =
  () => post("blast-radius/target", new FormData(document.getElementById("control")));
document.getElementById("faults-off").onclick = () => post("blast-radius/faults-off");
refresh(); setInterval(() => refresh().catch(() => {{}}), 2000);
</script>
</body></html>
"""
