"""The co-launched stack: children report their URL, restart cleanly and stop by pid."""

from __future__ import annotations

import os
from pathlib import Path

from storm.stack import Stack, get_json


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_restart_replaces_the_child_and_ends_the_old_one(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    try:
        first = stack.start("upstream", ["discovery", "upstream", "--seed", "1"])
        second = stack.restart("upstream", ["discovery", "upstream", "--seed", "2"])

        assert gone(first.proc.pid)
        assert [child.name for child in stack.children] == ["upstream"]
        assert get_json(f"{second.url}/health") == {"ok": True}
    finally:
        stack.stop()
    assert gone(second.proc.pid)
    assert stack.children == []
