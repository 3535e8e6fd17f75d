"""One storm's life cycle, driven by Locust's events.

init      validate the options, co-launch the stack, wait until every region is cached,
          record the "start" cache snapshot
test_start load the fault profile into the proxy: the fault window opens
test_stop  the fault window closes
quitting  stop the users, record the "end" snapshot, stop the stack, write Locust's final
          CSVs, compute the verdict and make its exit code Locust's
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import gevent
import gevent.lock
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

import analysis
from common import REGIONS
from discovery.ingest import mode_bugs
from storm.errors import StormError, fail
from storm.external import read_cache
from storm.options import StormSettings, check_users, csv_prefix, retarget, settings_from
from storm.phases import FAULT, MESSAGE, RECOVERY, board
from storm.preflight import lock_run_folder
from storm.progress import report_every
from storm.stack import Stack, get_json, last_line, probe_host, put_json, wait_until

log = logging.getLogger(__name__)

WARM_TIMEOUT_S = 30.0
SUITE_FILES = ("ledger.csv", "snapshots.json", "run.json")
REPORT_FILES = ("verdict.json", "verdict.md", "junit.xml", "blast_radius.png")
RECOVERY_POLL_S = 0.5


class Storm:
    """State of the storm in the Locust process that owns the stack (master or local)."""

    def __init__(self, environment: Environment, settings: StormSettings, prefix: Path) -> None:
        self.environment = environment
        self.settings = settings
        self.prefix = prefix
        self.stack = Stack(prefix.parent)
        self._changing = gevent.lock.RLock()
        self.proxy_url = ""
        self.upstream_url = settings.upstream
        self.discovery_url = ""
        self.snapshots: list[dict[str, Any]] = []
        self.fault_window: list[float | None] = [None, None]
        self.phases: list[dict[str, Any]] = []
        # changes made from the web UI's control page during the phases, in order
        self.changes: list[dict[str, Any]] = []
        self.recovery: dict[str, Any] = {}
        self.phase_greenlet: gevent.Greenlet | None = None
        self.recovery_greenlet: gevent.Greenlet | None = None
        self.progress_greenlet: gevent.Greenlet | None = None
        self.started_at = time.time()
        self.finished = False
        self.report = ""
        self.lock: TextIO | None = None

    # -- init -------------------------------------------------------------------------

    def launch(self) -> None:
        """Start the services this storm needs and wait until they are ready."""
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self.lock = lock_run_folder(self.prefix)
        external = bool(self.environment.host)
        # Everything that can refuse the storm is checked before the last run's files go.
        if external:
            probe_host(str(self.environment.host))
            if self.settings.cache_db:
                read_cache(self.settings.cache_db, self.settings.cache_query)
        self._clear_previous_run()
        if not external:
            upstream = self.stack.start("upstream", self._upstream_args())
            self.upstream_url = upstream.url
        if self.upstream_url:
            port = self.settings.proxy_port
            self.proxy_url = self.stack.start("faults", self._proxy_args(), port).url
        if not external:
            self.discovery_url = self.stack.start("discovery", self._discovery_args()).url
            self.environment.host = self.discovery_url
            wait_until(self._warm, "caching every region", WARM_TIMEOUT_S)
        self.write_run_file()

    def _clear_previous_run(self) -> None:
        """Remove the files of a previous storm that this one writes anew, by exact name.

        Locust's own CSVs are left alone: Locust has them open already and rewrites them.
        """
        folder, stem = self.prefix.parent, self.prefix.name
        names = [f"{stem}_{suffix}" for suffix in SUITE_FILES] + list(REPORT_FILES)
        names += [f"{db}{ext}" for db in ("discovery.db",) for ext in ("", "-wal", "-shm")]
        paths = [folder / name for name in names]
        for path in paths:
            if path.is_dir():
                raise StormError(f"{path} is a folder: remove it or choose another --csv prefix")
        for path in paths:
            path.unlink(missing_ok=True)

    def _upstream_args(self) -> list[str]:
        seed, gen = str(self.settings.seed), str(self.settings.generation_s)
        return ["discovery", "upstream", "--seed", seed, "--generation-s", gen]

    def _proxy_args(self) -> list[str]:
        ledger = f"{self.prefix}_ledger.csv"
        seed = str(self.settings.seed)
        return ["faults", "--upstream", self.upstream_url, "--seed", seed, "--ledger", ledger]

    def _discovery_args(self) -> list[str]:
        db = str(self.prefix.parent / "discovery.db")
        return [
            "discovery",
            "serve",
            "--upstream",
            self.proxy_url,
            "--db",
            db,
            "--ingest",
            self.settings.ingest,
            "--min-items",
            str(self.settings.min_items),
            *(["--bugs", self.settings.bugs] if self.settings.bugs else []),
        ]

    def _switch_ingest(self) -> None:
        """Restart the discovery service with the ingest the form asked for, on a fresh
        cache, before any user of this test reads it."""
        (self.prefix.parent / "discovery.db").unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            (self.prefix.parent / f"discovery.db{suffix}").unlink(missing_ok=True)
        self.discovery_url = self.stack.restart("discovery", self._discovery_args()).url
        self.environment.host = self.discovery_url
        wait_until(self._warm, "caching every region", WARM_TIMEOUT_S)
        log.info("discovery restarted with the %s ingest", self.settings.ingest)

    def _warm(self) -> bool:
        if not self.stack.alive():
            raise_dead(self.stack)
        return bool(get_json(f"{self.discovery_url}/health").get("warm"))

    # -- phases -----------------------------------------------------------------------

    def start_phases(self) -> None:
        """Run baseline, fault and recovery on a timer for the test that starts now.

        The web UI's form may have changed the options since start-up; they are read
        again, and a test started with bad ones is stopped with the reason in the log.
        """
        self.stop_phases()
        options = self.environment.parsed_options
        if options is not None and not options.headless:
            try:
                check_users(options)
                running = self.settings.ingest
                self.settings = settings_from(options)
                if self.discovery_url and self.settings.ingest != running:
                    self._switch_ingest()
            except StormError as exc:
                log.error("cannot start the storm: %s", exc)
                if self.environment.runner is not None:
                    gevent.spawn(self.environment.runner.stop)
                return
        self.phases, self.snapshots, self.recovery = [], [], {}
        self.changes = []
        self.fault_window = [None, None]
        self._snapshot_quietly("start")
        self.phase_greenlet = gevent.spawn(self._run_phases)
        if options is not None and options.headless:
            self.progress_greenlet = gevent.spawn(report_every, self)

    def stop_phases(self) -> None:
        """End the phases of a test that stops early: faults off, phases closed."""
        greenlets = (self.phase_greenlet, self.recovery_greenlet, self.progress_greenlet)
        for greenlet in greenlets:
            if greenlet is not None and greenlet is not gevent.getcurrent():
                greenlet.kill(block=True)
        self.phase_greenlet = self.recovery_greenlet = self.progress_greenlet = None
        if self.fault_window[0] is not None and self.fault_window[1] is None:
            self._load_profile({})
        self._close_phases()
        if self.phases:
            self.write_run_file()

    def _run_phases(self) -> None:
        for name, length_s in self.settings.plan.steps():
            self._enter(name)
            gevent.sleep(length_s)
        runner = self.environment.runner
        options = self.environment.parsed_options
        # With -t, Locust ends the run itself; without it the storm ends after recovery.
        if runner is None or options is None or options.run_time:
            return
        if options.headless:
            runner.quit()
        else:
            runner.stop()

    def _enter(self, name: str) -> None:
        # A web UI switch runs in another greenlet and yields while its PUT is on the wire:
        # one at a time, so that the proxy's profile and settings.target never disagree.
        with self._changing:
            self._enter_unlocked(name)

    def _enter_unlocked(self, name: str) -> None:
        now = time.time()
        if self.phases:
            self.phases[-1]["end"] = now
        self.phases.append({"name": name, "start": now, "end": None})
        board.set(name)
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            runner.send_message(MESSAGE, {"phase": name})
        log.info("phase %s (%.0f s)", name, dict(self.settings.plan.steps())[name])
        if name == FAULT:
            self._load_profile(self.settings.profile)
            self.fault_window[0] = time.time()
            self._snapshot_quietly("fault_start")
        elif name == RECOVERY:
            self._load_profile({})
            self.fault_window[1] = time.time()
            self._snapshot_quietly("fault_end")
            if self.discovery_url:
                self.recovery_greenlet = gevent.spawn(self._watch_recovery)
        self.write_run_file()

    def _load_profile(self, profile: dict[str, Any]) -> None:
        """Swap the proxy's profile; a refusal leaves a phase without faults, which the
        verdict reports as inconclusive rather than as a pass."""
        if not self.proxy_url:
            return
        try:
            put_json(f"{self.proxy_url}/__faults/profile", profile)
        except StormError as exc:
            log.error("the proxy refused the profile: %s", exc)

    def _watch_recovery(self) -> None:
        """Measure how long after the faults stop the target's cache is current and whole."""
        fault_end = self.fault_window[1] or time.time()
        target = self.settings.target
        self.recovery = {"region": target, "fault_end": fault_end, "recovered_at": None}
        self.recovery.update(recovered_after_s=None, watched_s=0.0)
        while True:
            now = time.time()
            if self._recovered(target, fault_end):
                self.recovery.update(recovered_at=now, recovered_after_s=now - fault_end)
                log.info("%s recovered %.1f s after the fault window", target, now - fault_end)
                self._write_snapshots()
                return
            self.recovery["watched_s"] = now - fault_end
            gevent.sleep(RECOVERY_POLL_S)

    def _recovered(self, region: str, fault_end: float) -> bool:
        try:
            view = get_json(f"{self.discovery_url}/snapshot")["regions"][region]
            truth = get_json(f"{self.upstream_url}/truth?region={region}")
        except (StormError, KeyError, TypeError):
            return False
        return bool(
            view.get("generation") == truth.get("generation")
            and view.get("digest") == truth.get("digest")
            and (view.get("checked_at") or 0) > fault_end
        )

    # -- changes from the web UI -------------------------------------------------------

    def switch_target(self, region: str) -> dict[str, Any]:
        """Make `region` the target from now on; inside the fault window its faults start now.

        `settings.target` stays the one place that names the target: the recovery watch,
        the run file and the verdict read it when they need it. After faults off, a switch
        turns them on again for the new target. A switch is refused once the fault window
        has closed, since the verdict's target would then be a region never lied to.
        """
        with self._changing:
            phase = self._phase_for_change()
            previous = self.settings.target
            profile = retarget(self.settings.profile, region, self.settings.profile_path)
            if phase == FAULT and self.proxy_url:
                put_json(f"{self.proxy_url}/__faults/profile", profile)
            self.settings = dataclasses.replace(self.settings, target=region, profile=profile)
            return self._record_change("switch_target", phase, previous)

    def faults_off(self) -> dict[str, Any]:
        """Stop the lies for the rest of the fault window; the phases keep their timer."""
        with self._changing:
            phase = self._phase_for_change()
            if phase != FAULT:
                raise StormError(f"faults are off during {phase} already: nothing to switch off")
            if self.proxy_url:
                put_json(f"{self.proxy_url}/__faults/profile", {})
            return self._record_change("faults_off", phase, self.settings.target)

    def _phase_for_change(self) -> str:
        if not self.phases or self.phases[-1]["end"] is not None:
            raise StormError("no storm is running: start one first")
        phase = str(self.phases[-1]["name"])
        if phase == RECOVERY:
            raise StormError("the fault window has closed: the target is fixed for this storm")
        return phase

    def _record_change(self, action: str, phase: str, previous: str) -> dict[str, Any]:
        change = {"time": time.time(), "phase": phase, "action": action}
        change.update(target=self.settings.target, previous=previous)
        self.changes.append(change)
        log.info(
            "web UI: %s during %s: target %s (was %s)", action, phase, change["target"], previous
        )
        self.write_run_file()
        return change

    def change_note(self) -> str:
        """One line on the target switches of this storm, or nothing when there were none."""
        moved = [c for c in self.changes if c["action"] == "switch_target" and c["phase"] == FAULT]
        if not moved:
            return ""
        lied_to = [moved[0]["previous"]]
        for change in moved:
            if change["target"] != lied_to[-1]:
                lied_to.append(change["target"])
        if len(lied_to) < 2:
            return ""
        return (
            f"target switched during the fault window: {' -> '.join(lied_to)}; the verdict "
            f"judges {self.settings.target} as the target and the earlier ones as clean "
            "regions, whose faults count against containment (changes in run.json)\n"
        )

    # -- snapshots --------------------------------------------------------------------

    def _snapshot_quietly(self, label: str) -> None:
        if not self.discovery_url and not self.settings.cache_db:
            return
        try:
            self.take_snapshot(label)
        except StormError as exc:
            log.error("no %s snapshot: %s", label, exc)

    def take_snapshot(self, label: str) -> None:
        """Record every region's cached snapshot beside the upstream's truth for it."""
        if not self.discovery_url:
            external = read_cache(self.settings.cache_db, self.settings.cache_query)
            shot = {"label": label, "taken_at": time.time(), "regions": external}
            self.snapshots.append({**shot, "upstream_requests": self._upstream_requests()})
            self._write_snapshots()
            return
        cache = get_json(f"{self.discovery_url}/snapshot")
        current = get_json(f"{self.upstream_url}/truth").get("generation")
        regions: dict[str, Any] = {}
        for region, view in cache.get("regions", {}).items():
            keys = ("rows", "digest", "generation", "checked_at", "breaker")
            entry = {key: view.get(key) for key in keys}
            entry["upstream_generation"] = current
            if view.get("generation") is not None:
                query = f"region={region}&generation={view['generation']}"
                truth = get_json(f"{self.upstream_url}/truth?{query}")
                entry["truth_rows"] = truth.get("item_count")
                entry["truth_digest"] = truth.get("digest")
            regions[region] = entry
        shot = {"label": label, "taken_at": time.time(), "regions": regions}
        self.snapshots.append({**shot, "upstream_requests": self._upstream_requests()})
        self._write_snapshots()

    def _upstream_requests(self) -> dict[str, int]:
        """The proxy's requests per region so far: how hard each upstream was asked."""
        counts = get_json(f"{self.proxy_url}/__faults/requests")
        return {str(region): int(count) for region, count in counts.items()}

    def _write_snapshots(self) -> None:
        document: dict[str, Any] = {"snapshots": self.snapshots}
        if self.recovery:
            document["recovery"] = self.recovery
        write_json(Path(f"{self.prefix}_snapshots.json"), document)

    # -- quitting ---------------------------------------------------------------------

    def finish(self) -> int:
        """End the storm and return the verdict's exit code."""
        if self.finished:
            return 2
        self.finished = True
        runner = self.environment.runner
        if runner is not None and runner.state not in ("stopped", "ready"):
            runner.stop()
        self.stop_phases()
        try:
            if self.stack.alive() or not self.discovery_url:
                self._snapshot_quietly("end")
        finally:
            self.stack.stop()
        self.write_run_file()
        self.write_final_csvs()
        # Locust prints its own summary after this; the verdict is kept to be printed last.
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                code = analysis.run(
                    str(self.prefix),
                    target=self.settings.target,
                    thresholds_path=self.settings.thresholds or None,
                    out_dir=None,
                )
            except analysis.BadInputError as exc:
                print(f"blast-radius: no verdict: {exc}")
                code = 2
        self.report = self.change_note() + out.getvalue()
        return code

    def _close_phases(self) -> None:
        now = time.time()
        if self.phases and self.phases[-1]["end"] is None:
            self.phases[-1]["end"] = now
        if self.fault_window[0] is not None and self.fault_window[1] is None:
            self.fault_window[1] = now
        if self.recovery:
            self._write_snapshots()

    def write_final_csvs(self) -> None:
        """Locust's periodic CSVs can miss the last second of requests: write them now."""
        writer = StatsCSV(self.environment, PERCENTILES_TO_REPORT)
        for suffix, write in (("stats", writer.requests_csv), ("failures", writer.failures_csv)):
            path = Path(f"{self.prefix}_{suffix}.csv")
            tmp = path.with_suffix(".csv.tmp")
            with tmp.open("w", newline="") as out:
                write(csv.writer(out))
            os.replace(tmp, path)

    def _bugs_switched_on(self) -> list[str]:
        """The embedded ingest's bugs as it runs them (naive: every one); none off the stack."""
        if self.discovery_url is None:
            return []
        requested = [name for name in self.settings.bugs.split(",") if name]
        return sorted(mode_bugs(self.settings.ingest, requested))

    def write_run_file(self) -> None:
        write_json(
            Path(f"{self.prefix}_run.json"),
            {
                "target": self.settings.target,
                "embedded": self.discovery_url is not None,
                "ingest": self.settings.ingest,
                "bugs": self._bugs_switched_on(),
                "seed": self.settings.seed,
                "profile": self.settings.profile,
                "profile_path": self.settings.profile_path,
                "regions": list(REGIONS),
                "min_items": self.settings.min_items,
                "started_at": self.started_at,
                "phases": self.phases,
                "plan_s": dict(self.settings.plan.steps()),
                "fault_window": self.fault_window,
                "changes": self.changes,
                "host": self.environment.host,
                "proxy": self.proxy_url,
            },
        )


def write_json(path: Path, data: object) -> None:
    """Write then rename: a killed storm never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def raise_dead(stack: Stack) -> None:
    for child in stack.children:
        if child.proc.poll() is not None:
            raise StormError(f"{child.name} exited: {last_line(child.log_path)}")


def begin(environment: Environment) -> Storm | None:
    """Create and launch the storm in the process that owns it; workers start nothing."""
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(MESSAGE, lambda msg, **_: board.set(msg.data["phase"]))
        return None
    options = environment.parsed_options
    if options is None:
        return None
    prefix = csv_prefix(options)
    storm: Storm | None = None
    try:
        if options.headless:
            check_users(options)
        storm = Storm(environment, settings_from(options), prefix)
        storm.launch()
    except StormError as exc:
        abandon(storm)
        fail(str(exc))
    except KeyboardInterrupt:
        abandon(storm)
        sys.stderr.write("blast-radius: interrupted during start-up; nothing was run\n")
        raise SystemExit(130) from None
    except BaseException:
        abandon(storm)
        raise
    if isinstance(environment.runner, MasterRunner):
        log.info("master owns the stack at %s", environment.host)
    return storm


def abandon(storm: Storm | None) -> None:
    """Undo a start that failed: stop every service that was started."""
    if storm is not None:
        storm.stack.stop()
