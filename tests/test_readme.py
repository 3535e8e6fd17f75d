"""The README's examples are real: its thresholds example loads and states the defaults."""

from __future__ import annotations

import re
from pathlib import Path

from analysis.thresholds import Thresholds, load_thresholds
from discovery.ingest.bugs import BUGS

ROOT = Path(__file__).resolve().parent.parent


def test_readme_thresholds_example_loads_and_states_the_defaults(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```toml\n(.*?)```", readme, re.DOTALL)
    assert example is not None
    path = tmp_path / "thresholds.toml"
    path.write_text(example.group(1))

    loaded = load_thresholds(str(path))

    defaults = Thresholds()
    assert loaded.clean == defaults.clean
    assert loaded.target == defaults.target
    assert loaded.regions["JP"] == {"p95_ms": 1500.0}


def test_readme_opens_with_the_two_commands() -> None:
    first_block = (ROOT / "README.md").read_text().split("```")[1]
    assert "make storm" in first_block and "make test" in first_block


def test_readme_lists_every_named_bug() -> None:
    readme = (ROOT / "README.md").read_text()
    listed = re.findall(r"^\| `(\w+)` \|", readme, re.MULTILINE)
    assert listed == list(BUGS)
