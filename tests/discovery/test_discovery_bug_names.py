"""--bugs names: an unknown name is refused even next to `all`, and echoed short."""

from __future__ import annotations

from pathlib import Path

import pytest

from discovery.ingest import BUGS, UnknownBugError, parse_bugs
from tests.conftest import refusal_line
from tests.discovery.discovery_http import run_cli


def _refusal(text: str) -> str:
    with pytest.raises(UnknownBugError) as caught:
        parse_bugs(text)
    return str(caught.value)


@pytest.mark.parametrize("text", ["all,bogus", "bogus,all", " all , bogus "])
def test_an_unknown_name_next_to_all_is_refused(text: str) -> None:
    assert "unknown bug 'bogus'" in _refusal(text)


def test_all_with_known_names_is_every_bug() -> None:
    assert parse_bugs("stream_commit,all,retry_once") == frozenset(BUGS)


def test_a_newline_in_a_name_stays_on_one_line() -> None:
    message = _refusal("all,evil\nfake log line")

    assert "\n" not in message
    assert "'evil\\nfake log line'" in message


def test_a_5000_character_name_is_cut_short() -> None:
    message = _refusal("x" * 5000 + ",y" * 5000)

    assert "x" * 40 not in message
    assert len(message) < 400, message


def test_serve_refuses_all_with_an_unknown_name_before_starting(tmp_path: Path) -> None:
    db = tmp_path / "cache.db"

    done = run_cli("serve", "--upstream", "http://127.0.0.1:9", "--db", str(db), "--bugs", "all,x")

    line = refusal_line(done)
    assert "--bugs" in line and "unknown bug 'x'" in line
    assert not db.exists()
