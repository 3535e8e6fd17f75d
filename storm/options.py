"""The storm's own command-line options, shown in Locust's web UI start form too."""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis import BadInputError
from analysis.thresholds import load_thresholds
from common import REGIONS, parse_region
from discovery.ingest.bugs import parse_bugs
from faults import ProfileError, parse_profile
from faults import load_profile as proxy_load_profile
from storm.errors import StormError
from storm.external import DEFAULT_QUERY
from storm.phases import Plan, plan

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROFILE = "profiles/de_example.json"
INGEST_MODES = ("hardened", "naive")
# Beyond these the embedded services refuse the values themselves, after a storm began.
MAX_MIN_ITEMS = 100_000
MAX_GENERATION_S = 86_400.0


def add_arguments(parser: Any) -> None:
    """Register the options on Locust's parser (an argparse parser with UI extras)."""
    # Locust's own parser, not an argument group: only it knows include_in_web_ui.
    group = parser
    # The web UI can retarget the faults: loopback unless asked (--web-host '*' for all).
    parser.set_defaults(web_host="127.0.0.1")
    group.add_argument(
        "--fault-target",
        type=target_name,
        choices=[*REGIONS, "random"],
        default="DE",
        help="Region whose ingest path the proxy lies to; 'random' picks one from the seed.",
    )
    group.add_argument(
        "--fault-profile",
        default=DEFAULT_PROFILE,
        help="Fault profile (JSON): {REGION: {probability, types, params}}; "
        "its fault mix is applied to the target region.",
    )
    group.add_argument(
        "--fault-probability",
        type=float,
        default=None,
        help="Override the profile's probability of a fault per upstream request (0..1).",
    )
    group.add_argument("--fault-seed", type=int, default=1, help="Seed of every fault decision.")
    group.add_argument(
        "--ingest",
        choices=list(INGEST_MODES),
        default="hardened",
        help="Ingest of the embedded stack: hardened, or naive (falls for the lies).",
    )
    group.add_argument(
        "--bugs",
        default="",
        include_in_web_ui=False,
        help="Named bugs to switch on in the embedded hardened ingest (comma-separated, "
        "or 'all'); see python -m discovery serve --help.",
    )
    group.add_argument(
        "--upstream",
        default="",
        include_in_web_ui=False,
        help="External upstream URL: with --host, start only the fault proxy in front of it.",
    )
    group.add_argument(
        "--min-items",
        type=int,
        default=50,
        include_in_web_ui=False,
        help="Fewest items an honest region serves.",
    )
    group.add_argument(
        "--thresholds", default="", help="Thresholds file (JSON or TOML) for the verdict."
    )
    group.add_argument(
        "--proxy-port",
        type=int,
        default=0,
        include_in_web_ui=False,
        help="Port of the fault proxy on 127.0.0.1 (0: any free one); with --upstream, point "
        "the API's ingest at http://127.0.0.1:PORT.",
    )
    group.add_argument(
        "--read-path",
        default="/discover",
        include_in_web_ui=False,
        help="Path the users read on --host (default /discover).",
    )
    group.add_argument(
        "--region-param",
        default="region",
        include_in_web_ui=False,
        help="Query parameter carrying the region on reads; empty: use --region-header.",
    )
    group.add_argument(
        "--region-header",
        default="",
        include_in_web_ui=False,
        help="Header carrying the region on reads, instead of the query parameter.",
    )
    group.add_argument(
        "--search-param",
        default="q",
        include_in_web_ui=False,
        help="Query parameter of a search read; empty: no search reads.",
    )
    group.add_argument(
        "--items-key",
        default="items",
        include_in_web_ui=False,
        help="Where a read's item list is in the JSON answer (dotted: data.items).",
    )
    group.add_argument(
        "--id-key", default="id", include_in_web_ui=False, help="Key of an item's id."
    )
    group.add_argument(
        "--age-key",
        default="age_s",
        include_in_web_ui=False,
        help="Key of the snapshot age in seconds in a read's answer; empty: not reported.",
    )
    group.add_argument(
        "--cache-db",
        default="",
        include_in_web_ui=False,
        help="With --host: the external API's SQLite cache, read-only, snapshotted at every "
        "phase boundary.",
    )
    group.add_argument(
        "--cache-query",
        default=DEFAULT_QUERY,
        include_in_web_ui=False,
        help="Query giving one row per region: region, a value (and optionally a digest).",
    )
    group.add_argument(
        "--baseline", default="", help="Length of the baseline phase (no faults), e.g. 10s."
    )
    group.add_argument(
        "--fault-window", default="", help="Length of the fault phase; default: the rest of -t."
    )
    group.add_argument(
        "--recovery", default="", help="Length of the recovery phase (faults off), e.g. 20s."
    )
    group.add_argument(
        "--generation-s",
        type=float,
        default=10.0,
        include_in_web_ui=False,
        help="Seconds between upstream catalog generations of the embedded simulator.",
    )


def target_name(text: str) -> str:
    """Regions are matched case-insensitively, like everywhere else in the suite."""
    return "random" if text.strip().lower() == "random" else text.strip().upper()


@dataclass(frozen=True)
class StormSettings:
    """Validated options of one storm."""

    target: str
    profile: dict[str, Any]
    profile_path: str
    seed: int
    ingest: str
    upstream: str
    min_items: int
    thresholds: str
    generation_s: float
    plan: Plan
    proxy_port: int = 0
    bugs: str = ""
    cache_db: str = ""
    cache_query: str = DEFAULT_QUERY


def settings_from(options: argparse.Namespace) -> StormSettings:
    """Validate the parsed options; raise StormError with one line naming what to change."""
    target = target_name(str(options.fault_target))
    if target not in (*REGIONS, "random"):
        raise StormError(f"--fault-target {options.fault_target}: use one of {' '.join(REGIONS)}")
    if target == "random":
        target = random.Random(options.fault_seed).choice(REGIONS)
    probability = optional_float("--fault-probability", options.fault_probability)
    if probability is not None and not 0.0 <= probability <= 1.0:
        raise StormError(f"--fault-probability {probability}: use a number from 0 to 1")
    if not 0 <= getattr(options, "proxy_port", 0) <= 65535:
        raise StormError(f"--proxy-port {options.proxy_port}: use 0 (any free port) to 65535")
    if getattr(options, "cache_db", "") and not options.host:
        raise StormError("--cache-db reads an external stack's cache: give --host as well")
    if not str(getattr(options, "read_path", "/")).startswith("/"):
        raise StormError(f"--read-path {options.read_path}: start it with /")
    if not getattr(options, "region_param", "x") and not getattr(options, "region_header", ""):
        raise StormError("--region-param is empty: give --region-header, or the region is lost")
    if not 1 <= options.min_items <= MAX_MIN_ITEMS:
        raise StormError(f"--min-items {options.min_items}: use a count from 1 to {MAX_MIN_ITEMS}")
    if not 0 < options.generation_s <= MAX_GENERATION_S:
        raise StormError(
            f"--generation-s {options.generation_s}: use a number of seconds above 0, "
            f"at most {MAX_GENERATION_S:g}"
        )
    if options.thresholds:
        try:
            load_thresholds(options.thresholds)
        except BadInputError as exc:
            raise StormError(str(exc)) from None

    bugs = bug_names(str(getattr(options, "bugs", "") or ""), options)

    profile = retarget(load_profile(options.fault_profile), target, options.fault_profile)
    if probability is not None:
        profile[target]["probability"] = probability
    validate_profile(profile, options.fault_profile)
    return StormSettings(
        target=target,
        profile=profile,
        profile_path=options.fault_profile,
        seed=options.fault_seed,
        ingest=options.ingest,
        upstream=options.upstream.rstrip("/"),
        min_items=options.min_items,
        thresholds=options.thresholds,
        generation_s=options.generation_s,
        proxy_port=getattr(options, "proxy_port", 0),
        bugs=bugs,
        cache_db=getattr(options, "cache_db", ""),
        cache_query=getattr(options, "cache_query", DEFAULT_QUERY),
        plan=plan(
            getattr(options, "run_time", None),
            options.baseline,
            options.fault_window,
            options.recovery,
        ),
    )


def bug_names(text: str, options: argparse.Namespace) -> str:
    """The embedded ingest's bugs to switch on, checked by the service's own parser."""
    if not text.strip():
        return ""
    if options.upstream or getattr(options, "host", None):
        raise StormError("--bugs switches bugs of the embedded stack: drop --host/--upstream")
    try:
        return ",".join(sorted(parse_bugs(text)))
    except ValueError as exc:
        raise StormError(f"--bugs: {exc}") from None


def optional_float(option: str, value: object) -> float | None:
    """A number from the command line or from the web UI's form (which sends text)."""
    if value is None or value == "":
        return None
    try:
        return float(str(value))
    except ValueError:
        raise StormError(f"{option} {value!r}: use a number") from None


MAX_PROFILE_BYTES = 256 * 1024


def load_profile(path: str) -> dict[str, Any]:
    """Read a profile file and check it with the proxy's own rules, as the proxy would."""
    file = Path(path) if Path(path).is_absolute() or Path(path).exists() else ROOT / path
    if not file.is_file():
        raise StormError(f"--fault-profile {path}: no such file")
    if file.stat().st_size > MAX_PROFILE_BYTES:
        raise StormError(
            f"--fault-profile {path}: larger than {MAX_PROFILE_BYTES // 1024} KiB; "
            "a profile names a few regions and kinds"
        )
    try:
        proxy_load_profile(file)
        data = json.loads(file.read_text())
    except ProfileError as exc:
        raise StormError(f"--fault-profile {exc}") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StormError(f"--fault-profile {path}: not a JSON file ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise StormError(
            f"--fault-profile {path}: names no region; give {{REGION: {{probability, types}}}}"
        )
    # The proxy reads "de" as DE; so does the storm when it picks the target's spec.
    return {parse_region(key): spec for key, spec in data.items()}


def validate_profile(profile: dict[str, Any], path: str) -> None:
    """Check the profile with the proxy's own rules before any service or user starts."""
    try:
        parse_profile(json.dumps(profile), path)
    except ProfileError as exc:
        raise StormError(str(exc)) from None


def retarget(profile: dict[str, Any], target: str, path: str) -> dict[str, Any]:
    """Apply the profile's fault mix to `target`: one storm lies to exactly one region.

    A profile naming the target uses that region's spec; a profile naming a single other
    region lends its spec to the target (so the DE example drives a storm on JP).
    """
    if target in profile:
        spec = profile[target]
    elif len(profile) == 1:
        spec = next(iter(profile.values()))
    else:
        named = " ".join(sorted(profile))
        raise StormError(
            f"--fault-profile {path}: names several regions ({named}) but not {target}; "
            "choose --fault-target among them or give a one-region profile"
        )
    if not isinstance(spec, dict):
        raise StormError(f"--fault-profile {path}: the spec of {target} must be an object")
    return {target: dict(spec)}


def check_users(options: Any) -> None:
    """Every region needs a user of its own, or some regions are never read."""
    users = options.num_users or 1
    if users < len(REGIONS):
        raise StormError(
            f"-u {users}: a storm needs at least one user per region; use -u {len(REGIONS)} or more"
        )


_default_prefix: list[Path] = []


def csv_prefix(options: Any) -> Path:
    """The run's CSV prefix: Locust's --csv, else one fresh folder under reports/ for the
    life of this process."""
    if options.csv_prefix:
        return Path(options.csv_prefix).resolve()
    if not _default_prefix:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        _default_prefix.append((Path("reports") / stamp / "storm").resolve())
    return _default_prefix[0]
