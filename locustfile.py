"""blast-radius storm: every region is read while the fault proxy lies to one of them.

    locust -f locustfile.py --headless -u 16 -r 16 -t 60s --csv reports/latest/storm

With no --host the embedded stack (upstream simulator, fault proxy, discovery service)
is started on free loopback ports and stopped at quit; with --host an external discovery
API is loaded instead. The verdict's exit code becomes Locust's.
"""

from __future__ import annotations

from typing import Any

from locust import events
from locust.env import Environment

from storm import session, webui
from storm.options import add_arguments
from storm.preflight import run_preflight
from storm.users import RegionUser, region_user_classes

__all__ = ["RegionUser"]

globals().update(region_user_classes())

_storm: session.Storm | None = None


def _options(parser: Any) -> None:
    add_arguments(parser)


def _init(environment: Environment, **_: Any) -> None:
    global _storm  # noqa: PLW0603 - one storm per Locust process
    _storm = session.begin(environment)
    # Only the process that owns the storm has both a storm and a web UI.
    if _storm is not None and environment.web_ui is not None:
        webui.install(environment.web_ui, _storm)


def _test_start(environment: Environment, **_: Any) -> None:
    if _storm is not None:
        _storm.start_phases()


def _test_stop(environment: Environment, **_: Any) -> None:
    if _storm is not None:
        _storm.stop_phases()


def _quitting(environment: Environment, **_: Any) -> None:
    if _storm is not None:
        environment.process_exit_code = _storm.finish()


def _quit(**_: Any) -> None:
    if _storm is not None and _storm.report:
        print(_storm.report, end="", flush=True)


events.init_command_line_parser.add_listener(_options)
events.init.add_listener(_init)
events.test_start.add_listener(_test_start)
events.test_stop.add_listener(_test_stop)
events.quitting.add_listener(_quitting)
events.quit.add_listener(_quit)

run_preflight()
