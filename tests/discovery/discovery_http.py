"""Small blocking HTTP helpers for tests that talk to discovery child processes."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any

from tests.conftest import run_module


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def get(url: str, headers: dict[str, str] | None = None, timeout_s: float = 10.0) -> Reply:
    """GET `url`; any status (304 and 4xx/5xx included) comes back as a Reply."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read())


def run_cli(*args: str, timeout_s: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run `python -m discovery ARGS...` to completion and capture its output."""
    return run_module(["discovery", *args], timeout_s)


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `check` every 0.1 s until it holds; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")
